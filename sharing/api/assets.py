"""Assets (SPEC §4.1): provisioning (operators), reading, who receives an asset,
and a recipient's own deduct rule."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import list_visible_accounts
from billing_portal.api import (
    AmountField,
    IdParameterField,
    StrictSerializer,
    VisibleRelatedField,
    get_visible_or_404,
    require_operator,
    validate,
)
from billing_portal.idempotency import idempotent

from .. import selectors, services
from ..models import Asset, RecipientRule, SharePeriod, UsageRecord

Type = Asset.Type

#: Body fields that belong to one asset type each (SPEC §8); a body of one type
#: must give all of its own and none of the others'.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    Type.SAVINGS_PLAN: ("commitment_per_hour",),
    Type.RESERVED_INSTANCE: ("instance_type", "region", "count"),
    Type.SCU_PACKAGE: ("capacity",),
    Type.COUPON: ("face_value", "bill_types"),
}

#: Output fields that only some types have; null for the others.
TYPE_OUTPUT: dict[str, frozenset[str]] = {
    "commitment_per_hour": frozenset({Type.SAVINGS_PLAN}),
    "instance_type": frozenset({Type.RESERVED_INSTANCE}),
    "region": frozenset({Type.RESERVED_INSTANCE}),
    "count": frozenset({Type.RESERVED_INSTANCE}),
    "capacity": frozenset({Type.SCU_PACKAGE}),
    "remaining": frozenset({Type.SCU_PACKAGE}),
    "face_value": frozenset({Type.COUPON}),
    "remaining_value": frozenset({Type.COUPON}),
}

#: The largest instance count a reserved instance may have (the column's range).
MAX_INSTANCES = 2**31 - 1
#: At most this many product codes in one list (an asset's, a recipient rule's).
MAX_PRODUCTS = 200


def product_codes(**kwargs) -> serializers.ListField:
    """A list of product codes (as usage records carry them), duplicates dropped."""
    return serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=MAX_PRODUCTS,
        **kwargs,
    )


def visible_asset(request, pk) -> Asset:
    """The asset in the path among those the user may see (else 404)."""
    return get_visible_or_404(
        selectors.with_recipient_count(selectors.list_visible_assets(request.user)),
        pk=pk,
    )


# --- provisioning ------------------------------------------------------------------


class AssetIn(StrictSerializer):
    type = serializers.ChoiceField(choices=Type.choices)
    owner = VisibleRelatedField(queryset_for=list_visible_accounts)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    products = product_codes(
        allow_empty=True,
        help_text="Product codes the asset deducts; [] deducts every product.",
    )
    commitment_per_hour = AmountField(
        required=False, help_text="Savings plans only (required for them)."
    )
    instance_type = serializers.CharField(
        max_length=64, required=False, help_text="Reserved instances only (required)."
    )
    region = serializers.CharField(
        max_length=64, required=False, help_text="Reserved instances only (required)."
    )
    count = serializers.IntegerField(
        min_value=1,
        max_value=MAX_INSTANCES,
        required=False,
        help_text="Reserved instances only (required): instances per clock hour.",
    )
    capacity = AmountField(required=False, help_text="SCU packages only (required).")
    face_value = AmountField(required=False, help_text="Coupons only (required).")
    bill_types = serializers.ListField(
        child=serializers.ChoiceField(choices=UsageRecord.BillType.choices),
        max_length=len(UsageRecord.BillType.choices),
        required=False,
        help_text="Coupons only (required): the bill types it deducts; [] both.",
    )

    def validate(self, attrs):
        errors: dict[str, list] = {}
        if attrs["valid_until"] <= attrs["valid_from"]:
            errors["valid_until"] = [_("The validity must end after it starts.")]
        own = TYPE_FIELDS[attrs["type"]]
        for fields in TYPE_FIELDS.values():
            for name in fields:
                if name in own and name not in attrs:
                    errors[name] = [self.fields[name].error_messages["required"]]
                elif name not in own and name in attrs:
                    errors[name] = [_("This field belongs to another type of asset.")]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["products"] = list(dict.fromkeys(attrs["products"]))
        if "bill_types" in attrs:
            attrs["bill_types"] = list(dict.fromkeys(attrs["bill_types"]))
        return attrs


def provision_arguments(data: dict) -> dict:
    """The service's arguments: a coupon's face value is its capacity."""
    arguments = dict(data)
    if "face_value" in arguments:
        arguments["capacity"] = arguments.pop("face_value")
    return arguments


class AssetOut(serializers.ModelSerializer):
    """An asset; the fields of other types than its own are null."""

    commitment_per_hour = AmountField(allow_null=True)
    instance_type = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(allow_null=True)
    capacity = AmountField(
        allow_null=True, help_text="SCU packages: the capacity provisioned."
    )
    remaining = AmountField(allow_null=True, help_text="SCU packages: what is left.")
    face_value = AmountField(allow_null=True, source="capacity")
    remaining_value = AmountField(allow_null=True, source="remaining")
    recipient_count = serializers.SerializerMethodField()
    recipient_limit = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "type",
            "owner",
            "currency",
            "valid_from",
            "valid_until",
            "products",
            "bill_types",
            "commitment_per_hour",
            "instance_type",
            "region",
            "count",
            "capacity",
            "remaining",
            "face_value",
            "remaining_value",
            "status",
            "recipient_count",
            "recipient_limit",
            "provisioned_by",
            "created_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name, types in TYPE_OUTPUT.items():
            if instance.type not in types:
                data[name] = None
        return data

    def get_recipient_count(self, asset) -> int:
        """Accounts it is shared with now (open share periods)."""
        count = getattr(asset, "recipient_count", None)
        return selectors.count_recipients(asset) if count is None else count

    def get_recipient_limit(self, asset) -> int:
        """At most this many accounts at a time (SPEC §4.2)."""
        return selectors.recipient_limit()


class AssetQueryIn(serializers.Serializer):
    owner = IdParameterField(required=False)
    type = serializers.ChoiceField(choices=Type.choices, required=False)
    status = serializers.ChoiceField(choices=Asset.Status.choices, required=False)


class AssetListCreateApi(generics.ListAPIView):
    serializer_class = AssetOut

    @extend_schema(parameters=[AssetQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            AssetQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.with_recipient_count(
            selectors.list_visible_assets(self.request.user)
        )
        if "owner" in query:
            qs = qs.filter(owner=query["owner"])
        if "type" in query:
            qs = qs.filter(type=query["type"])
        if "status" in query:
            qs = qs.filter(status=query["status"])
        return qs.order_by("-id")

    @extend_schema(request=AssetIn, responses={201: AssetOut})
    def post(self, request):
        data = validate(AssetIn, request)
        require_operator(request.user)

        def action():
            asset = services.provision_asset(
                actor=request.user, **provision_arguments(data)
            )
            # Read back as stored (the capacity book as the ledger left it).
            fresh = selectors.with_recipient_count(Asset.objects.filter(pk=asset.pk))
            return status.HTTP_201_CREATED, AssetOut(fresh.get()).data

        return idempotent(request, data, action)


class AssetDetailApi(generics.RetrieveAPIView):
    serializer_class = AssetOut

    def get_object(self):
        return visible_asset(self.request, self.kwargs["pk"])


# --- recipients ----------------------------------------------------------------------


class RecipientPeriodOut(serializers.ModelSerializer):
    """One share period of a recipient: ``[start, end)``, end null while open."""

    recipient_uid = serializers.CharField(source="recipient.uid")
    recipient_name = serializers.CharField(source="recipient.name")

    class Meta:
        model = SharePeriod
        fields = [
            "id",
            "recipient",
            "recipient_uid",
            "recipient_name",
            "share",
            "start",
            "end",
        ]


class RecipientQueryIn(serializers.Serializer):
    active_at = serializers.DateTimeField(
        required=False,
        help_text="Only periods active at this instant (ISO 8601): "
        "start <= active_at < end, an open end never ends.",
    )


class AssetRecipientListApi(generics.ListAPIView):
    """The asset's recipients with their share periods (history kept), oldest
    first; whoever sees the owner sees all, a recipient's administrators only
    their accounts' periods."""

    serializer_class = RecipientPeriodOut

    @extend_schema(parameters=[RecipientQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        asset = visible_asset(self.request, self.kwargs["pk"])
        query = validate(
            RecipientQueryIn, self.request, data=self.request.query_params.dict()
        )
        return selectors.list_visible_recipients(
            self.request.user, asset, active_at=query.get("active_at")
        )


# --- a recipient's own deduct rule ----------------------------------------------------


class RecipientRuleIn(StrictSerializer):
    excluded_products = product_codes(
        allow_empty=True,
        help_text="Products this shared asset does not deduct for the account; "
        "[] deducts all it covers.",
    )


class RecipientRuleOut(serializers.ModelSerializer):
    class Meta:
        model = RecipientRule
        fields = ["asset", "recipient", "excluded_products", "updated_at"]


class AssetRecipientRuleApi(APIView):
    @extend_schema(request=RecipientRuleIn, responses={200: RecipientRuleOut})
    def put(self, request, pk, account):
        """Set which products the shared asset skips for the recipient account
        (its owner or manage administrators)."""
        asset = visible_asset(request, pk)
        recipient = get_visible_or_404(list_visible_accounts(request.user), pk=account)
        data = validate(RecipientRuleIn, request)
        rule = services.set_recipient_rule(
            asset=asset,
            recipient=recipient,
            excluded_products=list(dict.fromkeys(data["excluded_products"])),
            actor=request.user,
        )
        return Response(RecipientRuleOut(rule).data)
