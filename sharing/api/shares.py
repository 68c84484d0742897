"""Sharing an asset (SPEC §4.2): with accounts (at once) or with a folder
(resolved by the worker about a minute later), and stopping either."""

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import list_target_accounts, list_visible_folders
from billing_portal.api import (
    MoneyThrottled,
    NoBodyIn,
    StrictSerializer,
    VisibleRelatedField,
    get_visible_or_404,
    validate,
)
from billing_portal.idempotency import idempotent
from billing_portal.schema import RefusalOut

from .. import selectors, services
from ..models import Share
from .assets import visible_asset

#: The 403 of sharing (SPEC §4.2), instead of the generic no_permission one.
NOT_THE_OWNER = OpenApiResponse(
    RefusalOut,
    description=_(
        "Not an administrator of the asset's owner: code not_owner, or "
        "reshare_not_allowed for the administrators of a recipient."
    ),
)

#: A body may name at most this many accounts; past the 100-recipient limit a
#: request is still read, and refused with every reason (409), not cut short.
MAX_ACCOUNTS = 500


def accounts_or_folder(attrs: dict) -> dict:
    """Exactly one of ``accounts`` and ``folder`` (a 400 naming both if not)."""
    if ("accounts" in attrs) == ("folder" in attrs):
        message = _("Give either accounts or folder (exactly one of them).")
        raise serializers.ValidationError({"accounts": [message], "folder": [message]})
    return attrs


class ShareIn(StrictSerializer):
    accounts = serializers.ListField(
        child=VisibleRelatedField(queryset_for=list_target_accounts),
        allow_empty=False,
        max_length=MAX_ACCOUNTS,
        required=False,
        help_text="Share with these accounts of the owner's company, at once.",
    )
    folder = VisibleRelatedField(
        queryset_for=list_visible_folders,
        required=False,
        help_text="Share with the accounts of this folder and its subfolders, "
        "resolved by a background job about a minute later and after each "
        "membership change.",
    )

    def validate(self, attrs):
        return accounts_or_folder(attrs)


class ShareOut(serializers.ModelSerializer):
    """A share: with one account, or with a folder (``pending`` until the
    worker resolves it at ``due_at``; ``failed`` with the reason in ``detail``)."""

    class Meta:
        model = Share
        fields = [
            "id",
            "asset",
            "target",
            "account",
            "folder",
            "status",
            "detail",
            "due_at",
            "active_since",
            "resolved_at",
            "stopped_at",
            "rule",
            "created_at",
            "created_by",
        ]


class SharesCreatedOut(serializers.Serializer):
    shares = ShareOut(many=True)


class AssetShareListCreateApi(MoneyThrottled, generics.ListAPIView):
    throttle_scope = "shares"

    serializer_class = ShareOut

    def get_queryset(self):
        asset = visible_asset(self.request, self.kwargs["pk"])
        return selectors.list_visible_shares(self.request.user, asset)

    @extend_schema(
        request=ShareIn, responses={201: SharesCreatedOut, 403: NOT_THE_OWNER}
    )
    def post(self, request, pk):
        """Share the asset with accounts or a folder; the shares as they are
        now (an account or folder already shared keeps its share)."""
        asset = visible_asset(request, pk)
        data = validate(ShareIn, request)
        selectors.ensure_can_share(request.user, asset)

        def action():
            if "folder" in data:
                shares = [
                    services.share_with_folder(
                        asset=asset, folder=data["folder"], actor=request.user
                    )
                ]
            else:
                shares = services.share_with_accounts(
                    asset=asset, accounts=data["accounts"], actor=request.user
                )
            body = SharesCreatedOut({"shares": shares}).data
            return status.HTTP_201_CREATED, body

        return idempotent(request, data, action)


class AssetShareStopApi(APIView):
    @extend_schema(request=None, responses={204: None, 403: NOT_THE_OWNER})
    def delete(self, request, pk, account):
        """End the account's share period now (history is kept)."""
        asset = visible_asset(request, pk)
        recipient = get_visible_or_404(list_target_accounts(request.user), pk=account)
        validate(NoBodyIn, request)
        selectors.ensure_can_share(request.user, asset)
        services.stop_share(asset=asset, account=recipient, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssetFolderShareStopApi(APIView):
    @extend_schema(request=None, responses={204: None, 403: NOT_THE_OWNER})
    def delete(self, request, pk, folder):
        """Stop the asset's share with the folder: its recipients' periods end
        now (except accounts that also have a share of their own). A folder the
        asset was never shared with is a 404; one already stopped, a 204."""
        asset = visible_asset(request, pk)
        target = get_visible_or_404(list_visible_folders(request.user), pk=folder)
        share = selectors.get_folder_share(asset, target)
        if share is None:
            raise Http404
        validate(NoBodyIn, request)
        selectors.ensure_can_share(request.user, asset)
        services.stop_folder_share(share=share, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
