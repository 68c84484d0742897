"""Coupons issued from pools (SPEC §5): read them, with what was deducted and
where each applies now, and revoke them. ``coupons_out`` renders a page of
coupons in a fixed number of queries (the issuance answer uses it too)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import ensure_can_manage
from billing_portal.api import (
    AmountField,
    IdParameterField,
    MoneyThrottled,
    NoBodyIn,
    get_visible_or_404,
    validate,
)
from billing_portal.idempotency import idempotent
from sharing.models import Asset, UsageRecord

from .. import selectors, services
from ..models import Coupon
from .schema import IDEMPOTENCY_KEY, refusals

BILL_TYPES = UsageRecord.BillType.choices


class ApplicabilityOut(serializers.Serializer):
    account = serializers.IntegerField(source="account.pk")
    applies_now = serializers.BooleanField(
        help_text="Inside the coupon's validity: the management account always, "
        "a member while its payment relationship with the management account is "
        "active."
    )
    not_applying_since = serializers.DateTimeField(
        source="not_since",
        allow_null=True,
        help_text="When the member's last payment relationship ended (null while "
        "one is active, and for the management account).",
    )


class CouponOut(serializers.ModelSerializer):
    """A coupon; ``accounts`` and ``applicability`` name the accounts the user
    may see (all of them for those who see the management account)."""

    face_value = AmountField()
    remaining_value = AmountField(source="asset.remaining")
    deducted_amount = AmountField(source="deducted")
    revoked_amount = AmountField()
    status = serializers.ChoiceField(
        source="asset.status", choices=Asset.Status.choices
    )
    currency = serializers.CharField(source="asset.currency")
    accounts = serializers.SerializerMethodField()
    valid_from = serializers.DateTimeField(source="asset.valid_from")
    valid_until = serializers.DateTimeField(source="asset.valid_until")
    products = serializers.ListField(
        child=serializers.CharField(), source="asset.products"
    )
    bill_types = serializers.ListField(
        child=serializers.ChoiceField(choices=BILL_TYPES), source="asset.bill_types"
    )
    applicability = serializers.SerializerMethodField()

    class Meta:
        model = Coupon
        fields = [
            "id",
            "pool",
            "asset",
            "face_value",
            "remaining_value",
            "deducted_amount",
            "revoked_amount",
            "status",
            "currency",
            "accounts",
            "valid_from",
            "valid_until",
            "products",
            "bill_types",
            "applicability",
            "issued_at",
        ]

    def _shown(self, coupon, account_id: int) -> bool:
        visible = self.context["visible_accounts"]
        return coupon.pool.management_account_id in visible or account_id in visible

    def get_accounts(self, coupon) -> list[int]:
        return sorted(a.pk for a in coupon.accounts.all() if self._shown(coupon, a.pk))

    @extend_schema_field(ApplicabilityOut(many=True))
    def get_applicability(self, coupon) -> list[dict]:
        rows = self.context["applicability"][coupon.pk]
        return ApplicabilityOut(
            [row for row in rows if self._shown(coupon, row.account.pk)], many=True
        ).data


class CouponRevokedOut(CouponOut):
    to_pool = serializers.BooleanField(
        source="revoked_to_pool",
        help_text="The remaining value went back to the pool (false: the pool "
        "was no longer valid, it is recorded as expired).",
    )

    class Meta(CouponOut.Meta):
        fields = ["to_pool", *CouponOut.Meta.fields]


def coupon_context(user, coupons: list[Coupon]) -> dict:
    """What ``CouponOut`` reads for a page of coupons, in two queries."""
    ids = {a.pk for c in coupons for a in c.accounts.all()}
    ids |= {c.pool.management_account_id for c in coupons}
    return {
        "visible_accounts": selectors.list_visible_account_ids(user, ids),
        "applicability": selectors.list_coupon_applicability(
            coupons, at=timezone.now()
        ),
    }


def coupons_out(user, coupons, serializer=CouponOut):
    coupons = list(coupons)
    context = coupon_context(user, coupons)
    return serializer(coupons, many=True, context=context).data


class CouponQueryIn(serializers.Serializer):
    pool = IdParameterField(required=False)
    account = IdParameterField(
        required=False, help_text="Coupons issued for this account."
    )
    status = serializers.ChoiceField(choices=Asset.Status.choices, required=False)


class CouponListApi(generics.ListAPIView):
    serializer_class = CouponOut

    @extend_schema(parameters=[CouponQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            CouponQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_coupons(self.request.user)
        if "pool" in query:
            qs = qs.filter(pool=query["pool"])
        if "account" in query:
            qs = qs.filter(accounts=query["account"])
        if "status" in query:
            qs = qs.filter(asset__status=query["status"])
        return qs

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(coupons_out(request.user, page))


def visible_coupon(request, pk) -> Coupon:
    return get_visible_or_404(selectors.list_visible_coupons(request.user), pk=pk)


class CouponDetailApi(APIView):
    @extend_schema(responses={200: CouponOut})
    def get(self, request, pk):
        (body,) = coupons_out(request.user, [visible_coupon(request, pk)])
        return Response(body)


class CouponRevokeApi(MoneyThrottled, APIView):
    throttle_scope = "coupons"

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: CouponRevokedOut,
            403: refusals(
                "no_permission (owner or manage on the pool's management account)"
            ),
            409: refusals("invalid_state (already revoked); idempotency codes"),
        },
    )
    def post(self, request, pk):
        coupon = visible_coupon(request, pk)
        validate(NoBodyIn, request)
        ensure_can_manage(request.user, coupon.pool.management_account)

        def action():
            services.revoke_coupon(coupon=coupon, actor=request.user)
            fresh = visible_coupon(request, pk)
            (body,) = coupons_out(request.user, [fresh], CouponRevokedOut)
            return status.HTTP_200_OK, body

        return idempotent(request, {}, action)
