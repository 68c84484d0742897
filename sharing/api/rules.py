"""Automatic sharing rules (SPEC §4.3): an owner's new assets of some types are
shared with accounts or a folder by a background job about a minute after
they are provisioned (the shares name their rule)."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status

from accounts.selectors import (
    ensure_can_manage,
    list_target_accounts,
    list_visible_accounts,
    list_visible_folders,
)
from billing_portal.api import (
    IdParameterField,
    StrictSerializer,
    VisibleRelatedField,
    validate,
)
from billing_portal.idempotency import idempotent

from .. import selectors, services
from ..models import Asset, SharingRule
from .shares import MAX_ACCOUNTS, accounts_or_folder


class SharingRuleIn(StrictSerializer):
    owner = VisibleRelatedField(queryset_for=list_visible_accounts)
    asset_types = serializers.ListField(
        child=serializers.ChoiceField(choices=Asset.Type.choices),
        allow_empty=False,
        max_length=len(Asset.Type.choices),
    )
    accounts = serializers.ListField(
        child=VisibleRelatedField(queryset_for=list_target_accounts),
        allow_empty=False,
        max_length=MAX_ACCOUNTS,
        required=False,
    )
    folder = VisibleRelatedField(queryset_for=list_visible_folders, required=False)

    def validate(self, attrs):
        attrs["asset_types"] = sorted(set(attrs["asset_types"]))
        return accounts_or_folder(attrs)


class SharingRuleOut(serializers.ModelSerializer):
    accounts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = SharingRule
        fields = [
            "id",
            "owner",
            "asset_types",
            "accounts",
            "folder",
            "active",
            "created_at",
            "created_by",
        ]


class SharingRuleQueryIn(serializers.Serializer):
    owner = IdParameterField(required=False)


class SharingRuleListCreateApi(generics.ListAPIView):
    serializer_class = SharingRuleOut

    @extend_schema(parameters=[SharingRuleQueryIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validate(
            SharingRuleQueryIn, self.request, data=self.request.query_params.dict()
        )
        qs = selectors.list_visible_sharing_rules(self.request.user)
        if "owner" in query:
            qs = qs.filter(owner=query["owner"])
        return qs.order_by("-id")

    @extend_schema(request=SharingRuleIn, responses={201: SharingRuleOut})
    def post(self, request):
        data = validate(SharingRuleIn, request)
        ensure_can_manage(request.user, data["owner"])

        def action():
            rule = services.create_sharing_rule(actor=request.user, **data)
            return status.HTTP_201_CREATED, SharingRuleOut(rule).data

        return idempotent(request, data, action)
