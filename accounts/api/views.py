"""What every REST API view shares: scoping through the gateway."""

from __future__ import annotations

from rest_framework import exceptions, permissions, viewsets

from ..access import check_capability
from ..taxonomy import Capability

MAX_ID = 2**63 - 1  # the largest primary key a row can have


class ScopedViewSet(viewsets.GenericViewSet):
    """Rows of organisations where the user holds ``capability`` (accounts.access).

    ``filters`` maps query parameters to lookups (ids only), e.g. ``{"survey": "survey_id"}``.
    Writes need ``write_capability`` (accounts.api.permissions checks it for every view).
    """

    model = None
    lookup_value_regex = r"[0-9]+"
    capability = Capability.VIEW
    write_capability = Capability.CHANGE
    select: tuple[str, ...] = ()
    filters: dict[str, str] = {}

    def get_queryset(self):
        rows = self.model.objects.accessible_to(self.request.user, self.capability)
        for param, lookup in self.filters.items():
            value = self.request.query_params.get(param)
            if value is None:
                continue
            if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
                raise exceptions.ValidationError({param: "Give an id (a whole number, 1 or more)."})
            rows = rows.filter(**{lookup: int(value)})
        return rows.select_related(*self.select)

    def get_object(self):
        # An id beyond any key cannot name a row (and would overflow the database's integer).
        if int(self.kwargs[self.lookup_url_kwarg or self.lookup_field]) > MAX_ID:
            raise exceptions.NotFound("No such object.")
        return super().get_object()

    def scoped(self, model, pk):
        """A row a request's body names: 404 unless the user sees it; in a write, 403
        unless they also hold the write capability on it."""
        row = scoped_or_404(model, self.request.user, pk, self.capability)
        if self.request.method not in permissions.SAFE_METHODS:
            check_capability(self.request.user, row, self.write_capability)
        return row


def scoped_or_404(model, user, pk, capability: str = Capability.VIEW):
    """The row if the user holds ``capability`` on it; 404 otherwise (never 'forbidden')."""
    row = model.objects.accessible_to(user, capability).filter(pk=pk).first()
    if row is None:
        raise exceptions.NotFound(f"No {model._meta.verbose_name} with id {pk}.")
    return row
