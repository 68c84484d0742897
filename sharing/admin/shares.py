"""Shares: a list, and stopping one (an account's share or a folder's) with a
confirmation. Each share is shown on its asset's page."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing_portal.admin_base import CappedCountPaginator, ScopedAdmin

from .. import selectors, services
from ..models import Share

Status = Share.Status


@admin.register(Share)
class ShareAdmin(ScopedAdmin):
    list_display = ["id", "asset", "target_name", "status", "how", "created_at"]
    list_filter = ["status", "target"]
    paginator = CappedCountPaginator
    ordering = ["-id"]

    def scope(self, user):
        # The changelist adds list_select_related only to a queryset without
        # any: the selector's has some, so the list's own joins go here.
        return selectors.list_all_visible_shares(user).select_related("created_by")

    @admin.display(description=_("Shared with"))
    def target_name(self, obj):
        if obj.target == Share.Target.FOLDER:
            return _("folder %(name)s") % {"name": obj.folder.name}
        return f"{obj.account.name} ({obj.account.uid})"

    @admin.display(description=_("How"))
    def how(self, obj):
        if obj.rule_id:
            return _("automatic (rule #%(rule)s)") % {"rule": obj.rule_id}
        return _("by %(user)s") % {"user": obj.created_by or "—"}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A share is read on its asset's page."""
        share = self.get_object(request, object_id)
        if share is None:
            return self.does_not_exist(request, object_id)
        return redirect(
            reverse("admin:sharing_asset_change", args=[share.asset_id]) + "#shares"
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/stop/",
                view(self.stop_view),
                name="sharing_share_stop",
            ),
            *super().get_urls(),
        ]

    def stop_view(self, request, object_id):
        share = self.get_object(request, object_id)
        if share is None:
            return self.does_not_exist(request, object_id)
        asset = share.asset
        user = request.user
        folder = share.target == Share.Target.FOLDER

        def blocks():
            return (
                selectors.shares_permission_blocks(user, asset)
                or selectors.share_stop_refusals([share], asset)[share.pk]
            )

        def act(data):
            if folder:
                return services.stop_folder_share(share=share, actor=user)
            return services.stop_share(asset=asset, account=share.account, actor=user)

        def done(_result, data):
            if folder:
                return _(
                    "The share with folder %(folder)s is stopped; its accounts "
                    "no longer receive the asset (history is kept)."
                ) % {"folder": share.folder.name}
            return _(
                "%(account)s no longer receives the asset; its share period "
                "ended now (history is kept)."
            ) % {"account": f"{share.account.name} ({share.account.uid})"}

        receiving = selectors.count_folder_recipients(share) if folder else None
        return self.confirmation_view(
            request,
            obj=asset,
            act=act,
            blocks=blocks,
            done=done,
            redirect_to=reverse("admin:sharing_asset_change", args=[asset.pk]),
            title=_("Stop sharing %(asset)s") % {"asset": asset},
            review_template="admin/sharing/share/stop_confirm.html",
            context={
                "share": share,
                "asset": asset,
                "receiving": receiving,
                "now": timezone.now(),
            },
        )
