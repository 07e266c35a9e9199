"""Reading big tables a page at a time, by primary key.

MySQL drivers buffer a whole result set, so long exports never hold one cursor
open: each page is a fresh query for the keys after the last one seen.
"""

from collections.abc import Iterator

# Under 1,000: a page's keys are sent on as an IN list, and MariaDB turns an IN list of
# 1,000 values or more (in_predicate_conversion_threshold) into a derived table, after
# which its planner may scan a whole table per page (measured: 250,000 clusters took
# 55 s instead of a few).
PAGE = 900


def pages_by_pk(queryset, columns: tuple[str, ...], page: int = PAGE, *,
                key: str = "pk") -> Iterator[list[tuple]]:
    """``values_list(*columns)`` in pages of ``page`` rows, in ``key`` order.

    ``columns[0]`` must be ``key``, a unique column with an index the filter can
    use (MariaDB then reads each page by a range, not the whole table again).
    """
    last = 0
    while rows := list(queryset.filter(**{f"{key}__gt": last}).order_by(key)
                       .values_list(*columns)[:page]):
        yield rows
        last = rows[-1][0]
