"""REST API settings' classes: cursor pages and errors (no view imports here: DRF's
settings import these while its views load)."""

from rest_framework import exceptions, pagination
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import AccessDenied, UserError


class KeysetPagination(pagination.CursorPagination):
    """Pages by primary key: the same queries for page 1 and page 10,000."""

    ordering = "pk"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def decode_cursor(self, request):
        """A cursor this API did not hand out is a bad request (400), not a missing page."""
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError(
                {"cursor": "Not a cursor from this API; follow the 'next' link."}) from exc

    def get_page_size(self, request):
        """A page_size that is not a whole number from 1 to 1000 is refused, not ignored."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": f"Give a whole number from 1 to {self.max_page_size}."})
        return int(raw)


def exception_handler(exc, context):
    """Errors users can act on keep their message: refusals are 403, the rest 400."""
    if isinstance(exc, AccessDenied):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, UserError):
        exc = exceptions.ValidationError({"detail": str(exc)})
    return drf_exception_handler(exc, context)
