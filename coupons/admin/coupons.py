"""Coupons issued from pools in the admin (SPEC §5): what each holds, whether it
applies to each of its accounts now, and the management account's revocation
of its remaining value."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from accounts.selectors import can_manage
from billing_portal.actions import action
from billing_portal.admin_base import CappedCountPaginator, ScopedAdmin
from billing_portal.money import format_amount
from sharing.models import Asset, UsageRecord

from .. import selectors, services
from ..models import Coupon
from .common import pool_scope

TEMPLATES = "admin/coupons/coupon/"


def _money(amount, currency) -> str:
    return f"{format_amount(amount)} {currency}"


@admin.register(Coupon)
class CouponAdmin(ScopedAdmin):
    list_display = [
        "id",
        "pool",
        "face",
        "remaining",
        "deducted_amount",
        "revoked",
        "status",
        "valid_from",
        "valid_until",
        "scope_text",
    ]
    list_filter = [("asset__status", admin.ChoicesFieldListFilter)]
    list_select_related = ["asset", "pool", "pool__company"]
    paginator = CappedCountPaginator
    ordering = ["-id"]
    fields = ["face_value"]
    readonly_fields = fields
    change_form_template = f"{TEMPLATES}change_form.html"

    def scope(self, user):
        return selectors.list_visible_coupons(user)

    def get_queryset(self, request):
        return selectors.with_deducted(super().get_queryset(request))

    @admin.display(description=_("Face value"))
    def face(self, coupon):
        return _money(coupon.face_value, coupon.asset.currency)

    @admin.display(description=_("Remaining"))
    def remaining(self, coupon):
        return _money(coupon.asset.remaining, coupon.asset.currency)

    @admin.display(description=_("Deducted"))
    def deducted_amount(self, coupon):
        return _money(coupon.deducted, coupon.asset.currency)

    @admin.display(description=_("Revoked"))
    def revoked(self, coupon):
        return _money(coupon.revoked_amount, coupon.asset.currency)

    @admin.display(description=_("Status"))
    def status(self, coupon):
        return coupon.asset.get_status_display()

    @admin.display(description=_("Valid from"))
    def valid_from(self, coupon):
        return coupon.asset.valid_from

    @admin.display(description=_("Valid until"))
    def valid_until(self, coupon):
        return coupon.asset.valid_until

    @admin.display(description=_("Scope"))
    def scope_text(self, coupon):
        # Product codes (no catalogue lookup per row); names are on its page.
        pool = coupon.pool
        products = ", ".join(pool.products) if pool.products else _("All products")
        labels = dict(UsageRecord.BillType.choices)
        bill_types = ", ".join(str(labels.get(b, b)) for b in pool.bill_types)
        return f"{products}; {bill_types}"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="coupons_coupon_revoke",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Coupons"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    # --- the coupon page ----------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        coupon = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if coupon is not None:
            extra_context.update(self._coupon_page(request, coupon))
        return super().change_view(request, object_id, form_url, extra_context)

    def _may_revoke(self, user, coupon) -> bool:
        return can_manage(user, coupon.pool.management_account)

    def _coupon_page(self, request, coupon):
        asset, pool = coupon.asset, coupon.pool
        administers = self._may_revoke(request.user, coupon)
        # For the management account's administrators, until it is revoked
        # (its status says so then): disabled once nothing remains.
        revoke = None
        if administers and asset.status != Asset.Status.REVOKED:
            revoke = action(
                _("Revoke the remaining value"),
                reverse("admin:coupons_coupon_revoke", args=[coupon.pk]),
                selectors.coupon_revocation_blocks(coupon),
            )
        return {
            "coupon": coupon,
            "asset": asset,
            "pool": pool,
            "scope": pool_scope(pool),
            "rows": applicability_rows(coupon),
            "revoke_action": revoke,
            "can_revoke": revoke is not None and revoke.enabled,
            "administers": administers,
            "deductions": selectors.list_coupon_deductions(coupon)[:20],
            "skips": selectors.list_coupon_skips(coupon),
            "pool_url": reverse("admin:coupons_creditpool_change", args=[pool.pk])
            if selectors.list_visible_pools(request.user).filter(pk=pool.pk).exists()
            else None,
        }

    # --- revocation ---------------------------------------------------------------

    def revoke_view(self, request, object_id):
        coupon = self.get_object(request, object_id)
        if coupon is None:
            return self.does_not_exist(request, object_id)
        if not self._may_revoke(request.user, coupon):
            raise PermissionDenied
        asset, pool = coupon.asset, coupon.pool
        currency = asset.currency

        def done(result, data):
            values = {
                "amount": _money(result.revoked_amount, currency),
                "id": coupon.pk,
                "pool": pool.pk,
            }
            if result.revoked_to_pool:
                return (
                    _(
                        "Revoked %(amount)s of coupon #%(id)s: it is back in pool "
                        "#%(pool)s. What was already deducted stays."
                    )
                    % values
                )
            return (
                _(
                    "Revoked %(amount)s of coupon #%(id)s: recorded as expired, "
                    "because pool #%(pool)s is no longer valid. What was already "
                    "deducted stays."
                )
                % values
            )

        return self.confirmation_view(
            request,
            obj=coupon,
            blocks=lambda: selectors.coupon_revocation_blocks(coupon),
            act=lambda d: services.revoke_coupon(coupon=coupon, actor=request.user),
            done=done,
            log=lambda _coupon, message: self.log_change(
                request, coupon, "Revoked the coupon's remaining value."
            ),
            redirect_to=reverse("admin:coupons_coupon_change", args=[coupon.pk]),
            title=_("Revoke coupon #%(id)s") % {"id": coupon.pk},
            review_template=f"{TEMPLATES}revoke.html",
            context={
                "coupon": coupon,
                "original": coupon,
                "asset": asset,
                "pool": pool,
                "to_pool": selectors.is_pool_active(pool),
                "deducted": selectors.coupon_deducted(coupon),
                "rows": applicability_rows(coupon),
            },
        )


def applicability_rows(coupon) -> list[dict]:
    """Each applicable account and its state now (``selectors.Applicability``)."""
    return [
        {
            "account": row.account,
            "state": row.state,
            "since": row.not_since,
            "management": row.account.pk == coupon.pool.management_account_id,
        }
        for row in selectors.coupon_applicability(coupon)
    ]
