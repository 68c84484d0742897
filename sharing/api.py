"""The usage API: POST /usage/ prices a usage record synchronously."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.views import APIView

from accounts.selectors import list_visible_accounts
from billing_portal.api import (
    AmountField,
    StrictSerializer,
    VisibleRelatedField,
    require_operator,
    validate,
)
from billing_portal.idempotency import idempotent

from .models import UsageRecord
from .services import record_usage


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


class DeductionOut(serializers.Serializer):
    source_type = serializers.CharField()
    source_id = serializers.IntegerField()
    amount = AmountField()


class UsageOut(serializers.ModelSerializer):
    amount = AmountField()
    charged_amount = AmountField()
    deductions = serializers.SerializerMethodField()

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
            "charged_amount",
            "payer",
            "charge",
        ]

    def get_deductions(self, record) -> list[dict]:
        # The deduction engine arrives with equity asset sharing (SPEC §4.4).
        return []


class UsageCreateApi(APIView):
    @extend_schema(request=UsageIn, responses={201: UsageOut, 200: UsageOut})
    def post(self, request):
        data = validate(UsageIn, request)
        require_operator(request.user)

        def action():
            record, created = record_usage(actor=request.user, **data)
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return code, UsageOut(record).data

        return idempotent(request, data, action)
