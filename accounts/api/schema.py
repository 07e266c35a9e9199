"""The OpenAPI schema says what the API really answers: filters and error responses."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}},
         "additionalProperties": True,
         "description": "What went wrong and what to do; field errors are keyed by field."}
_ERRORS = {
    "400": "The request is not valid; the body names the field and what to fix.",
    "401": "No valid token or session.",
    "403": "Signed in, but not allowed to do this.",
    "429": "Too many requests for this token; wait and retry (Retry-After).",
}


class ScopedAutoSchema(AutoSchema):
    """Lists document their id filters (``ScopedViewSet.filters``)."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        filters = getattr(self.view, "filters", {})
        if self.view.action == "list":
            parameters += [OpenApiParameter(name, {"type": "integer", "minimum": 1,
                                                   "maximum": 2**63 - 1},
                                            description=f"Only rows of this {name} (its id).")
                           for name in filters]
        return parameters


def add_error_responses(result, generator, request, public):
    """Every operation may answer 400/401/403/429; one on an object (or a child) 404."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            errors = dict(_ERRORS)
            if "{" in path or operation.get("requestBody"):
                errors["404"] = "No such object in your organisations."
            for code, description in errors.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ref}}})
    return result
