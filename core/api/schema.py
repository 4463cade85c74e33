"""The OpenAPI schema documents every answer an operation can give, errors included."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

PROBLEM = {
    "type": "object",
    "description": "Why the request as a whole was refused.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": (
        "Each key names the input at fault — a field (`lines`), a query parameter, a path into the "
        "body (`lines[0].sku`), or `detail` / `non_field_errors` for the request as a whole. Its "
        "value is the message, a list of messages, or the errors of a nested object or list."
    ),
    "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]},
}
# The shape of each error status, and what it means when the view does not say.
ERRORS = {
    "400": (FIELD_ERRORS, _("The request could not be read, or an input is invalid (named).")),
    "403": (PROBLEM, _("Not signed in, or not allowed to do this.")),
    "404": (PROBLEM, _("No such object, or no such page of the list.")),
    "409": (FIELD_ERRORS, _("Refused in the object's current state.")),
    "415": (PROBLEM, _("The body is not in a media type this operation reads.")),
}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class ConduitAutoSchema(AutoSchema):
    """Adds to every operation the error answers it can give: 400 (any request can be refused
    as unreadable, e.g. for a NUL character), 403 unless open to all, 404 when it looks an object
    up or pages a list, 415 when it reads a body. A view declares 409 itself (with a description
    only: the shape comes from here)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            responses.setdefault(code, {})
        for code, response in responses.items():
            if code in ERRORS and "content" not in response:
                schema, description = ERRORS[code]
                response["content"] = {"application/json": {"schema": self._error_component(schema)}}
                response["description"] = response.get("description") or str(description)
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        codes = ["400"]
        if not all(issubclass(permission, AllowAny) for permission in self.view.permission_classes):
            codes.append("403")
        if "{" in self.path or (self.method == "GET" and self._is_list_view() and self._get_paginator()):
            codes.append("404")
        if self.method in BODY_METHODS:
            codes.append("415")
        return codes

    def _error_component(self, schema: dict) -> dict:
        name = "Problem" if schema is PROBLEM else "FieldErrors"
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        self.registry.register_on_missing(component)
        return component.ref
