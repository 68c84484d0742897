"""The OpenAPI schema documents every operation's error bodies (SPEC §8).

One place instead of an ``extend_schema`` per view: ``ApiSchema`` adds the
error responses that an operation can give, by the §8 check order, to what the
view declares (a view's own entry for a code wins):

- 401 ``{"detail"}``: every operation that needs a signed-in user;
- 404 ``{"detail"}``: an object in the path that the user may not see, or a
  page past the last one of a list;
- 400 field errors: a body, or query parameters (filters, pagination);
- 413 ``{"detail"}``: a body larger than the server accepts;
- 403 and 409 ``{"code", "detail", "reasons"}``: writes (permission, then the
  business rules, idempotency included);
- 429 ``{"code": "throttled", …}``: writes of a money-moving endpoint (a
  throttled view), ``{"code": "locked_out", …}`` on the token endpoint.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers


class ErrorDetailOut(serializers.Serializer):
    """DRF's error body: one sentence."""

    detail = serializers.CharField()


class ReasonOut(serializers.Serializer):
    code = serializers.CharField(help_text="A stable reason code (SPEC §8).")
    message = serializers.CharField(help_text="The reason as a sentence, translated.")


class RefusalOut(serializers.Serializer):
    """A refusal: 403 (no right to act) or 409 (a business rule), every reason."""

    code = serializers.CharField(help_text="The first (binding) reason's code.")
    detail = serializers.CharField()
    reasons = ReasonOut(many=True)


#: 400: ``{"field": ["message", …]}`` (a nested field may map indexes or names
#: to its own messages); a body that is not JSON at all gets ``{"detail"}``.
FIELD_ERRORS = OpenApiResponse(
    response={
        "type": "object",
        "additionalProperties": {},
        "description": "Field errors, by field name (or detail for a malformed body).",
    },
    description=_("Malformed input: the fields (or parameters) and what is wrong."),
)

NOT_AUTHENTICATED = OpenApiResponse(
    ErrorDetailOut, description=_("No or invalid credentials.")
)
NOT_FOUND = OpenApiResponse(
    ErrorDetailOut,
    description=_("The object does not exist or is outside the user's reach."),
)
PAGE_NOT_FOUND = OpenApiResponse(
    ErrorDetailOut, description=_("The page is past the last one.")
)
TOO_LARGE = OpenApiResponse(ErrorDetailOut, description=_("The body is too large."))
FORBIDDEN = OpenApiResponse(
    RefusalOut, description=_("No right to act on this object (code no_permission).")
)
REFUSED = OpenApiResponse(
    RefusalOut, description=_("A business rule refused the request; every reason.")
)

THROTTLED = OpenApiResponse(
    RefusalOut,
    description=_(
        "Too many requests of this kind from the user (code throttled); "
        "Retry-After says when to try again."
    ),
)
LOCKED_OUT = OpenApiResponse(
    RefusalOut,
    description=_(
        "Too many failed sign-ins for this username from this address (code "
        "locked_out); Retry-After says when the lock ends."
    ),
)

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class ApiSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    response, code, direction=direction
                )
        return responses

    def _error_responses(self) -> dict[str, OpenApiResponse]:
        errors = {}
        writes = self.method in _WRITES
        if writes or self._has_query_parameters():
            errors["400"] = FIELD_ERRORS
        if self._needs_authentication():
            errors["401"] = NOT_AUTHENTICATED
        if writes and self._needs_authentication():
            errors["403"] = FORBIDDEN
        if "{" in self.path:
            errors["404"] = NOT_FOUND
        elif self._is_paginated():
            errors["404"] = PAGE_NOT_FOUND
        if writes and self._needs_authentication():
            errors["409"] = REFUSED
        if self.method in {"POST", "PUT", "PATCH"}:
            errors["413"] = TOO_LARGE
        if writes and getattr(self.view, "throttle_scope", None):
            errors["429"] = THROTTLED
        if getattr(self.view, "counts_login_failures", False):
            errors["429"] = LOCKED_OUT
        return errors

    def _needs_authentication(self) -> bool:
        return not all(
            isinstance(p, permissions.AllowAny) for p in self.view.get_permissions()
        )

    def _is_paginated(self) -> bool:
        return (
            self.method == "GET"
            and self._is_list_view()
            and self._get_paginator() is not None
        )

    def _has_query_parameters(self) -> bool:
        if self.method != "GET":
            return False
        return self._is_paginated() or any(
            p.get("in") == "query" for p in self._get_parameters()
        )
