"""Coupon credit pools (SPEC §5): a CBM's request, an operator's decision, the
pools a user sees, and the coupons an enterprise administrator issues from
one (scope and validity are the pool's: a body that sets them is refused)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import (
    ensure_can_manage,
    list_target_accounts,
    list_visible_companies,
)
from billing_portal.api import (
    AmountField,
    IdParameterField,
    MoneyThrottled,
    NoBodyIn,
    StrictSerializer,
    VisibleRelatedField,
    get_visible_or_404,
    require_operator,
    validate,
)
from billing_portal.errors import CouponPoolRefused, reason
from billing_portal.idempotency import idempotent

from .. import selectors, services
from ..models import CreditPool
from .coupons import BILL_TYPES, CouponOut, coupons_out
from .schema import IDEMPOTENCY_KEY, refusals


class PoolIn(StrictSerializer):
    company = VisibleRelatedField(queryset_for=list_visible_companies)
    distribution_target = serializers.CharField(
        max_length=64,
        help_text='"enterprise_management_account" ("Specify Enterprise Management '
        'Account"), the only target; any other is refused with 409 '
        "invalid_distribution_target.",
    )
    management_account = VisibleRelatedField(queryset_for=list_target_accounts)
    products = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=500,
        help_text="Codes of the product catalogue (GET /products/); [] means "
        "every product.",
    )
    bill_types = serializers.ListField(
        child=serializers.ChoiceField(choices=BILL_TYPES),
        allow_empty=False,
        max_length=len(BILL_TYPES),
    )
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    amount = AmountField()

    def validate_products(self, codes):
        unknown = selectors.list_unknown_product_codes(codes)
        if unknown:
            raise serializers.ValidationError(
                {
                    str(n): [
                        _("%(code)s is not in the product catalogue.") % {"code": code}
                    ]
                    for n, code in enumerate(codes)
                    if code in unknown
                }
            )
        return codes

    def validate(self, attrs):
        if attrs["valid_until"] <= attrs["valid_from"]:
            raise serializers.ValidationError(
                {"valid_until": [_("The validity must end after it starts.")]}
            )
        return attrs


class PoolOut(serializers.ModelSerializer):
    amount = AmountField()
    issued_amount = AmountField()
    revoked_amount = AmountField()
    remaining_amount = AmountField(
        source="remaining", help_text="What coupons can still be issued from."
    )

    class Meta:
        model = CreditPool
        fields = [
            "id",
            "company",
            "management_account",
            "distribution_target",
            "status",
            "amount",
            "issued_amount",
            "revoked_amount",
            "remaining_amount",
            "currency",
            "products",
            "bill_types",
            "valid_from",
            "valid_until",
            "requested_by",
            "requested_at",
            "decided_at",
            "rejection_reason",
        ]


class PoolQueryIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=CreditPool.Status.choices, required=False)
    company = IdParameterField(required=False)


class PoolListCreateApi(generics.ListAPIView):
    serializer_class = PoolOut

    @extend_schema(parameters=[PoolQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            PoolQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_pools(self.request.user)
        if "status" in query:
            qs = qs.filter(status=query["status"])
        if "company" in query:
            qs = qs.filter(company=query["company"])
        return qs

    @extend_schema(
        request=PoolIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: PoolOut,
            403: refusals("not_cbm (only the company's CBM requests its pools)"),
            409: refusals(
                "invalid_distribution_target, company_not_verified; idempotency codes"
            ),
        },
    )
    def post(self, request):
        data = validate(PoolIn, request)
        selectors.ensure_can_request_pool(request.user, data["company"])

        def action():
            pool = services.request_pool(actor=request.user, **data)
            pool.refresh_from_db()  # the books' defaults, as stored
            return status.HTTP_201_CREATED, PoolOut(pool).data

        return idempotent(request, data, action)


def visible_pool(request, pk) -> CreditPool:
    return get_visible_or_404(selectors.list_visible_pools(request.user), pk=pk)


class PoolDetailApi(APIView):
    @extend_schema(responses={200: PoolOut})
    def get(self, request, pk):
        return Response(PoolOut(visible_pool(request, pk)).data)


class PoolApproveApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: PoolOut,
            403: refusals("no_permission (operators only)"),
            409: refusals("invalid_state (not requested); idempotency codes"),
        },
    )
    def post(self, request, pk):
        pool = visible_pool(request, pk)
        validate(NoBodyIn, request)
        require_operator(request.user)

        def action():
            pool_now = services.approve_pool(pool=pool, actor=request.user)
            return status.HTTP_200_OK, PoolOut(pool_now).data

        return idempotent(request, {}, action)


class RejectIn(StrictSerializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the pool is rejected; kept and shown."
    )


class PoolRejectApi(APIView):
    @extend_schema(
        request=RejectIn,
        responses={
            200: PoolOut,
            403: refusals("no_permission (operators only)"),
            409: refusals("invalid_state (not requested)"),
        },
    )
    def post(self, request, pk):
        pool = visible_pool(request, pk)
        data = validate(RejectIn, request)
        require_operator(request.user)
        pool = services.reject_pool(
            pool=pool, reason_text=data["reason"], actor=request.user
        )
        return Response(PoolOut(pool).data)


# --- issuing coupons ---------------------------------------------------------------


@extend_schema_field(OpenApiTypes.ANY)
class NotEditableField(serializers.Field):
    """A coupon's scope field: known, and refused with 409 scope_not_editable
    whatever its value (the scope is the pool's, SPEC §5)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault(
            "help_text",
            "Not editable: coupons take it from the pool; a body that sets it "
            "is refused with 409 scope_not_editable.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return True

    def to_representation(self, value):
        return value


#: Fields of a coupon's scope, inherited from its pool (SPEC §5).
SCOPE_FIELDS = ("products", "bill_types", "valid_from", "valid_until")


class IssueIn(StrictSerializer):
    accounts = serializers.ListField(
        child=VisibleRelatedField(queryset_for=list_target_accounts),
        allow_empty=False,
        max_length=500,
        help_text="The management account and/or members with an active payment "
        "relationship; each coupon applies to all of them.",
    )
    count = serializers.IntegerField(
        min_value=1,
        max_value=services.MAX_COUPONS_PER_ISSUE,
        help_text="How many coupons, in total.",
    )
    face_value = AmountField(help_text="The value of each coupon.")
    products = NotEditableField()
    bill_types = NotEditableField()
    valid_from = NotEditableField()
    valid_until = NotEditableField()


class IssuedOut(serializers.Serializer):
    pool = PoolOut()
    coupons = CouponOut(many=True)


class PoolCouponIssueApi(MoneyThrottled, APIView):
    throttle_scope = "coupons"

    @extend_schema(
        request=IssueIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: IssuedOut,
            403: refusals(
                "no_permission (owner or manage on the pool's management account)"
            ),
            409: refusals(
                "scope_not_editable, pool_not_active, account_not_eligible, "
                "recipient_limit_exceeded, exceeds_pool_remaining, "
                "balance_out_of_range; idempotency codes"
            ),
        },
    )
    def post(self, request, pk):
        pool = visible_pool(request, pk)
        data = validate(IssueIn, request)
        ensure_can_manage(request.user, pool.management_account)
        scope = [name for name in SCOPE_FIELDS if name in data]
        order = {
            "accounts": data["accounts"],
            "count": data["count"],
            "face_value": data["face_value"],
        }

        def action():
            if scope:
                # Refused whatever else holds; the other reasons are listed too.
                raise CouponPoolRefused(
                    [
                        reason("scope_not_editable"),
                        *selectors.issuance_refusals(
                            pool=pool, at=timezone.now(), **order
                        ),
                    ]
                )
            issued = services.issue_coupons(pool=pool, actor=request.user, **order)
            coupons = (
                selectors.list_visible_coupons(request.user)
                .filter(pk__in=[c.pk for c in issued])
                .order_by("id")
            )
            fresh = selectors.list_visible_pools(request.user).get(pk=pool.pk)
            body = {
                "pool": PoolOut(fresh).data,
                "coupons": coupons_out(request.user, coupons),
            }
            return status.HTTP_201_CREATED, body

        return idempotent(request, data, action)
