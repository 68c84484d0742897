"""Usage records and the deduction log (SPEC §4.4): POST /usage/ prices a
usage record synchronously; GET /usage/ and GET /deductions/ read them."""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status

from accounts.selectors import list_visible_accounts
from billing_portal.api import (
    AmountField,
    IdParameterField,
    MoneyThrottled,
    StrictSerializer,
    VisibleRelatedField,
    require_operator,
    validate,
)
from billing_portal.idempotency import idempotent

from .. import deduction, selectors
from ..models import Asset, Deduction, UsageRecord
from ..services import record_usage


class UsageIn(StrictSerializer):
    external_id = serializers.CharField(max_length=128)
    account = VisibleRelatedField(queryset_for=list_visible_accounts)
    product = serializers.CharField(max_length=64)
    bill_type = serializers.ChoiceField(choices=UsageRecord.BillType.choices)
    usage_start = serializers.DateTimeField()
    usage_end = serializers.DateTimeField()
    amount = AmountField()
    billed_at = serializers.DateTimeField()
    instance_type = serializers.CharField(
        max_length=64, required=False, allow_blank=True
    )
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    quantity = serializers.DecimalField(
        max_digits=18, decimal_places=6, required=False, allow_null=True, min_value=0
    )

    def validate(self, attrs):
        if attrs["usage_end"] < attrs["usage_start"]:
            raise serializers.ValidationError(
                {"usage_end": [_("The usage end cannot be before its start.")]}
            )
        return attrs


class UsageDeductionOut(serializers.Serializer):
    """What one asset deducted from the record, in deduction order."""

    source_type = serializers.ChoiceField(
        choices=Asset.Type.choices, source="asset.type"
    )
    source_id = serializers.IntegerField(source="asset_id")
    amount = AmountField()
    capacity_before = AmountField(
        allow_null=True,
        help_text="The asset's money capacity before (for hourly assets, that "
        "hour's); null for reserved instances, counted in instance-hours.",
    )
    capacity_after = AmountField(allow_null=True)


class SkippedOut(serializers.Serializer):
    """An asset that could have deducted the record, and why it did not."""

    asset = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=sorted(deduction.SKIP_MESSAGES))
    message = serializers.CharField()


class UsageOut(serializers.ModelSerializer):
    amount = AmountField()
    charged_amount = AmountField(
        help_text="What remained for the payer after the deductions."
    )
    deductions = serializers.SerializerMethodField()
    skipped = serializers.SerializerMethodField()

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "external_id",
            "account",
            "product",
            "bill_type",
            "usage_start",
            "usage_end",
            "amount",
            "currency",
            "billed_at",
            "instance_type",
            "region",
            "quantity",
            "deductions",
            "skipped",
            "charged_amount",
            "payer",
            "charge",
        ]

    @extend_schema_field(UsageDeductionOut(many=True))
    def get_deductions(self, record):
        # Sorted here so that the prefetched rows (selectors.with_deductions)
        # are used as they are.
        rows = sorted(record.deductions.all(), key=lambda d: d.position)
        return UsageDeductionOut(rows, many=True).data

    @extend_schema_field(SkippedOut(many=True))
    def get_skipped(self, record):
        return SkippedOut(deduction.explain(record), many=True).data


class UsageQueryIn(serializers.Serializer):
    account = IdParameterField(required=False)


class UsageListCreateApi(MoneyThrottled, generics.ListAPIView):
    throttle_scope = "usage"

    """Usage records of accounts the user may see (members' too under
    CHECK_TARGET_CONSUMPTION), newest usage first, each with its deductions."""

    serializer_class = UsageOut

    @extend_schema(parameters=[UsageQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            UsageQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.with_deductions(selectors.list_visible_usage(self.request.user))
        if "account" in query:
            qs = qs.filter(account=query["account"])
        return qs.order_by("-usage_start", "-id")

    @extend_schema(request=UsageIn, responses={201: UsageOut, 200: UsageOut})
    def post(self, request):
        data = validate(UsageIn, request)
        require_operator(request.user)

        def action():
            record, created = record_usage(actor=request.user, **data)
            record = selectors.with_deductions(
                UsageRecord.objects.filter(pk=record.pk)
            ).get()
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return code, UsageOut(record).data

        return idempotent(request, data, action)


# --- the deduction log ---------------------------------------------------------------


class DeductionOut(serializers.ModelSerializer):
    source_type = serializers.ChoiceField(
        choices=Asset.Type.choices, source="asset.type"
    )
    amount = AmountField()
    capacity_before = AmountField(allow_null=True)
    capacity_after = AmountField(allow_null=True)
    hour = serializers.DateTimeField(
        source="hour.hour",
        allow_null=True,
        help_text="The clock hour drawn on (savings plans, reserved instances).",
    )
    units = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        allow_null=True,
        help_text="Instance-hours covered (reserved instances).",
    )

    class Meta:
        model = Deduction
        fields = [
            "id",
            "usage",
            "usage_start",
            "asset",
            "source_type",
            "owner",
            "beneficiary",
            "amount",
            "capacity_before",
            "capacity_after",
            "hour",
            "units",
            "created_at",
        ]


class DeductionQueryIn(serializers.Serializer):
    asset = IdParameterField(required=False)
    beneficiary = IdParameterField(required=False)
    account = IdParameterField(
        required=False,
        help_text="Deductions where this account is the asset's owner or the "
        "beneficiary.",
    )


class DeductionListApi(generics.ListAPIView):
    """The deduction log (read-only), newest first: deductions of the usage of
    accounts the user may see, and those drawn from assets they own."""

    serializer_class = DeductionOut

    @extend_schema(parameters=[DeductionQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            DeductionQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_deductions(self.request.user).select_related("hour")
        if "asset" in query:
            qs = qs.filter(asset=query["asset"])
        if "beneficiary" in query:
            qs = qs.filter(beneficiary=query["beneficiary"])
        if "account" in query:
            account = query["account"]
            qs = qs.filter(Q(owner=account) | Q(beneficiary=account))
        return qs.order_by("-id")
