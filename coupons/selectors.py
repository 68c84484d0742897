"""Reads of coupon credit pools: who may see which pools and coupons (SPEC §1,
§5) and the questions their pages answer."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account, Company, FinancialRelationship
from accounts.selectors import list_visible_accounts, list_visible_companies
from billing_portal import roles
from billing_portal.money import ZERO
from sharing.models import Deduction

from .models import Coupon, CreditPool, Product


def list_visible_pools(user) -> QuerySet[CreditPool]:
    """Operators: all; a CBM: its companies' pools; an administrator: the pools
    of management accounts it may see (requested ones too: the Contracts view
    shows what the business manager asked for)."""
    qs = CreditPool.objects.select_related("company", "management_account")
    if roles.is_operator(user):
        return qs
    if roles.is_cbm(user):
        return qs.filter(company__business_manager=user)
    visible = list_visible_accounts(user).filter(pk=OuterRef("management_account_id"))
    return qs.filter(Exists(visible))


def list_visible_coupons(user) -> QuerySet[Coupon]:
    """Coupons of visible pools, and coupons applicable to an account the user
    may see."""
    qs = Coupon.objects.select_related("asset", "pool", "pool__management_account")
    if roles.is_operator(user):
        return qs
    pools = list_visible_pools(user).filter(pk=OuterRef("pool_id"))
    applicable = Coupon.accounts.through.objects.filter(
        coupon_id=OuterRef("pk"),
        account_id__in=list_visible_accounts(user).values("pk"),
    )
    return qs.filter(Q(Exists(pools)) | Q(Exists(applicable)))


def list_requestable_companies(user) -> QuerySet[Company]:
    """Companies a CBM may request pools for (its verified companies with a
    management account); nothing for anyone else."""
    if not roles.is_cbm(user):
        return Company.objects.none()
    return list_visible_companies(user).filter(
        verification_status=Company.Verification.VERIFIED,
        management_account__isnull=False,
    )


def list_products() -> QuerySet[Product]:
    return Product.objects.all()


def list_issuable_accounts(pool: CreditPool, at: datetime | None = None):
    """The accounts a pool's coupons may be issued to now: the management
    account and members with an active payment relationship."""
    at = at or timezone.now()
    members = FinancialRelationship.objects.active_at(at).filter(
        management_account_id=pool.management_account_id
    )
    return Account.objects.filter(
        Q(pk=pool.management_account_id) | Q(pk__in=members.values("member_account_id"))
    ).order_by("uid")


def coupon_deducted(coupon: Coupon):
    return (
        Deduction.objects.filter(asset_id=coupon.asset_id).aggregate(s=Sum("amount"))[
            "s"
        ]
        or ZERO
    )


@dataclass
class Applicability:
    account: Account
    applies_now: bool
    #: When a member's payment relationship ended (it no longer applies).
    not_since: datetime | None


def coupon_applicability(coupon: Coupon) -> list[Applicability]:
    """For each applicable account: does the coupon apply now, and if not,
    since when (SPEC §5: the relationship ended; the coupon stays valid)."""
    now = timezone.now()
    manager_id = coupon.pool.management_account_id
    valid = coupon.asset.valid_from <= now < coupon.asset.valid_until
    rows = []
    for account in coupon.accounts.order_by("uid"):
        if account.pk == manager_id:
            rows.append(Applicability(account, valid, None))
            continue
        active = (
            FinancialRelationship.objects.active_at(now)
            .filter(management_account_id=manager_id, member_account=account)
            .exists()
        )
        ended = None
        if not active:
            ended = (
                FinancialRelationship.objects.filter(
                    management_account_id=manager_id,
                    member_account=account,
                    end__isnull=False,
                )
                .order_by("-end")
                .values_list("end", flat=True)
                .first()
            )
        rows.append(Applicability(account, valid and active, ended))
    return rows


def pool_summary(pool: CreditPool) -> dict:
    """The pool's sums (SPEC §5): total = remaining + issued - revoked back."""
    return {
        "amount": pool.amount,
        "issued_amount": pool.issued_amount,
        "revoked_amount": pool.revoked_amount,
        "remaining_amount": pool.remaining,
    }
