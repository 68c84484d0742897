"""API plumbing shared by every app: parsing, fields, errors, pagination.

Check order for every endpoint (SPEC §8): authentication (401) → objects in the
path visible to the user (404) → body validation (400) → permission (403) →
idempotency → business rules (409). Views follow it by calling, in order,
``get_visible_or_404``, ``validate``, a permission check, then ``idempotent``.
"""

import logging
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import roles
from .errors import ActionForbidden, DomainError, Reason, RequestThrottled, reason
from .money import AmountError, format_amount, parse_amount


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
        "example": "12.50",
        "description": "A plain decimal string, at most 2 places by value, "
        "below 10000000000000.",
    }
)
class AmountField(serializers.Field):
    """A money amount: a plain decimal string on the wire, ``Decimal`` inside."""

    default_error_messages = {"invalid": _("Enter a valid amount.")}

    def __init__(self, *, positive: bool = True, **kwargs):
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        try:
            return parse_amount(data, positive=self.positive)
        except AmountError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value) -> str:
        return format_amount(value)


@extend_schema_field(OpenApiTypes.INT)
class IdParameterField(serializers.CharField):
    """An object id in a query parameter: ASCII digits only (``int()`` would read
    other scripts' digits, and raise on thousands of them)."""

    default_error_messages = {"invalid": _("Enter a valid id.")}

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        if not _ID.fullmatch(value):
            self.fail("invalid")
        return int(value)


_ID = re.compile(r"[0-9]{1,18}")


class StrictSerializer(serializers.Serializer):
    """Refuses body fields it does not know (SPEC §1: never ignored silently)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {n for n, f in self.fields.items() if not f.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown field.")] for name in unknown}
                )
        return super().to_internal_value(data)


class NoBodyIn(StrictSerializer):
    """The body of an action that takes none: any field in it is refused."""


@extend_schema_field(OpenApiTypes.INT)
class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference to an object by id, resolved within what the user may see.

    ``queryset_for(user)`` gives the visible set; an object outside it is
    reported exactly like an id that does not exist.
    """

    def __init__(self, *, queryset_for, **kwargs):
        self.queryset_for = queryset_for
        kwargs.setdefault("queryset", None)
        kwargs["read_only"] = False
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.queryset_for(self.context["request"].user)


def validate(serializer_class, request, *, data=None, **context) -> dict:
    serializer = serializer_class(
        data=request.data if data is None else data,
        context={"request": request, **context},
    )
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def get_visible_or_404(queryset, **lookup):
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


@extend_schema(exclude=True)
class NotFoundApi(APIView):
    """Every path under the API that matches no endpoint.

    Routed here rather than left to Django so that authentication still comes
    first (SPEC §8): 401 for an anonymous request, then the API's JSON 404.
    """

    def _not_found(self, request, *args, **kwargs):
        raise Http404

    get = post = put = patch = delete = head = options = _not_found


class MoneyRateThrottle(SimpleRateThrottle):
    """Per-user rate of a money-moving endpoint's writes (its GETs are free).

    The view names its ``throttle_scope`` (``transfers``, ``usage``, …); the
    rate is ``settings.API_THROTTLE_RATES[scope]`` (e.g. ``"600/minute"``, None:
    unlimited), read at each request so that tests and settings can change it.
    Counts live in the default cache: with several processes, configure a
    shared cache (``CACHE_URL``) or each process counts on its own.
    """

    def __init__(self):
        """The rate is read per request (``allow_request``), not here."""

    def allow_request(self, request, view):
        if request.method not in _THROTTLED_METHODS:
            return True
        self.scope = getattr(view, "throttle_scope", "")
        self.rate = settings.API_THROTTLE_RATES.get(self.scope)
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


_THROTTLED_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class MoneyThrottled:
    """Mixin of a money-moving endpoint: set ``throttle_scope``."""

    throttle_classes = [MoneyRateThrottle]
    throttle_scope = ""


def exception_handler(exc, context):
    """Domain errors become 403/409 bodies with their reasons, a throttled
    request a 429 ``throttled`` one; the rest is DRF's.

    Django refuses an oversized body (or one with too many form fields) while
    DRF reads it; answered here, it is the API's JSON rather than Django's HTML
    error page, and it comes after authentication like any body error.
    """
    if isinstance(exc, Throttled):
        seconds = max(1, int(exc.wait or 1))
        refusal = RequestThrottled([reason("throttled", seconds=seconds)])
        return Response(
            refusal.as_body(),
            status=refusal.status,
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=exc.status)
    if isinstance(exc, SuspiciousOperation):
        # Logged as Django would log it (its security loggers), then answered.
        logging.getLogger(f"django.security.{type(exc).__name__}").warning(str(exc))
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {
                "detail": _("The request body is larger than %(limit)s bytes.")
                % {"limit": limit}
            },
            status=413,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": _("Malformed request.")}, status=400)
    return drf_exception_handler(exc, context)


NO_PERMISSION_OPERATOR = _("Only the provider's billing operators can do this.")


def require_operator(user) -> None:
    """The 403 ``no_permission`` refusal unless the user is a billing operator."""
    if not roles.is_operator(user):
        raise ActionForbidden([Reason("no_permission", str(NO_PERMISSION_OPERATOR))])


def object_action_api(*, name: str, visible, service, param: str, out):
    """An action POST on an existing object, in the §8 check order: the object
    among those the user may see (404), an empty body (400), then the service
    (403 permission, 409 rules); 200 with ``out`` of what the service returns."""

    class ObjectActionApi(APIView):
        @extend_schema(request=None, responses={200: out})
        def post(self, request, pk):
            obj = get_visible_or_404(visible(request.user), pk=pk)
            validate(NoBodyIn, request)
            return Response(out(service(**{param: obj}, actor=request.user)).data)

    ObjectActionApi.__name__ = ObjectActionApi.__qualname__ = name
    return ObjectActionApi
