"""Reading big tables a page at a time, by primary key.

MySQL drivers buffer a whole result set, so long exports never hold one cursor
open: each page is a fresh query for the keys after the last one seen.
"""

from collections.abc import Iterator

PAGE = 5000


def pages_by_pk(queryset, columns: tuple[str, ...], page: int = PAGE) -> Iterator[list[tuple]]:
    """``values_list(*columns)`` in pages of ``page`` rows; ``columns[0]`` must be ``pk``."""
    last = 0
    while rows := list(queryset.filter(pk__gt=last).order_by("pk").values_list(*columns)
                       [:page]):
        yield rows
        last = rows[-1][0]
