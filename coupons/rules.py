"""The coupon pools' rule in the deduction engine (SPEC §5), added through
``settings.SHARING_DEDUCTION_RULES``: a pool's coupon deducts usage only of the
accounts it was issued for, and of a member only while its payment
relationship with the management account was active at the usage start."""

from django.utils.translation import gettext_lazy as _

from sharing.models import Asset

from .models import Coupon
from .selectors import has_payment_relationship


def payment_relationship(asset: Asset, usage) -> str | None:
    if asset.type != Asset.Type.COUPON:
        return None
    coupon = Coupon.objects.select_related("pool").filter(asset_id=asset.pk).first()
    if coupon is None:
        return None  # a coupon provisioned by an operator, not from a pool
    if not coupon.accounts.filter(pk=usage.account_id).exists():
        return "account_not_applicable"
    manager_id = coupon.pool.management_account_id
    if usage.account_id == manager_id:
        return None
    if has_payment_relationship(manager_id, usage.account_id, usage.usage_start):
        return None
    return "payment_relationship_inactive"


payment_relationship.messages = {  # type: ignore[attr-defined]
    "account_not_applicable": _("The coupon was not issued for this account."),
    "payment_relationship_inactive": _(
        "The account had no active payment relationship with the management "
        "account when the usage started; the pool's coupons apply only while it "
        "is active."
    ),
}
