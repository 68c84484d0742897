"""Reads of coupon credit pools (SPEC §5): who sees which pool and coupon, who
may request a pool, why an issuance is refused (the service re-checks it under
its lock), and to which accounts a coupon applies now.

Visibility goes through the accounts app's rules as correlated EXISTS, so one
pool or coupon is checked through an index whatever the user can see.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    DecimalField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from accounts.models import Account, Company, FinancialRelationship
from accounts.selectors import list_visible_accounts
from billing_portal import roles
from billing_portal.errors import ActionForbidden, Reason, reason
from sharing.models import Deduction
from sharing.services import RECIPIENT_LIMIT

from .models import Coupon, CreditPool, Product

# --- who may request, who sees --------------------------------------------------------


def can_request_pool(user, company: Company) -> bool:
    """Only the company's own CBM requests its pools (SPEC §5)."""
    return roles.is_cbm(user) and company.business_manager_id == user.pk


def ensure_can_request_pool(user, company: Company) -> None:
    """Raise the 403 ``not_cbm`` refusal unless the user is the company's CBM."""
    if not can_request_pool(user, company):
        raise ActionForbidden([reason("not_cbm")])


def _visible_account(user, ref: str) -> Exists:
    return Exists(list_visible_accounts(user).filter(pk=OuterRef(ref)))


def list_visible_pools(user) -> QuerySet[CreditPool]:
    """Pools whose management account the user may see: its administrators
    (any permission), the company's CBM, operators. A member's administrators
    see the coupons issued to them, not the pool."""
    qs = CreditPool.objects.select_related("company", "management_account")
    if roles.is_operator(user):
        return qs
    return qs.filter(_visible_account(user, "management_account_id"))


def _deducted_subquery() -> Subquery:
    return Subquery(
        Deduction.objects.filter(asset_id=OuterRef("asset_id"))
        .values("asset_id")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=DecimalField(max_digits=15, decimal_places=2),
    )


def list_visible_coupons(user) -> QuerySet[Coupon]:
    """Coupons of the pools the user sees, and coupons issued for an account
    the user may see; ``deducted`` (what usage took from each) is annotated."""
    qs = (
        Coupon.objects.select_related("asset", "pool")
        .prefetch_related("accounts")
        .annotate(
            deducted=Coalesce(
                _deducted_subquery(),
                Value(Decimal("0.00")),
                output_field=DecimalField(max_digits=15, decimal_places=2),
            )
        )
    )
    if roles.is_operator(user):
        return qs
    applies_to_visible = Coupon.accounts.through.objects.filter(
        coupon_id=OuterRef("pk")
    ).filter(_visible_account(user, "account_id"))
    return qs.filter(
        Q(_visible_account(user, "pool__management_account_id"))
        | Q(Exists(applies_to_visible))
    )


def coupon_deducted(coupon: Coupon) -> Decimal:
    """What usage has deducted from the coupon (its deduction log)."""
    total = Deduction.objects.filter(asset_id=coupon.asset_id).aggregate(
        total=Sum("amount")
    )["total"]
    return total or Decimal("0.00")


def list_visible_account_ids(user, ids) -> set[int]:
    """Those of ``ids`` that are accounts the user may see (one query)."""
    if roles.is_operator(user):
        return set(ids)
    return set(
        list_visible_accounts(user)
        .filter(pk__in=list(ids))
        .values_list("pk", flat=True)
    )


# --- the product catalogue ------------------------------------------------------------


def list_products() -> QuerySet[Product]:
    return Product.objects.order_by("code")


def list_unknown_product_codes(codes: list[str]) -> set[str]:
    """The codes that are not in the product catalogue."""
    known = set(Product.objects.filter(code__in=codes).values_list("code", flat=True))
    return set(codes) - known


# --- issuance: eligibility and refusals -----------------------------------------------


def has_payment_relationship(management_id: int, member_id: int, at) -> bool:
    return (
        FinancialRelationship.objects.active_at(at)
        .filter(management_account_id=management_id, member_account_id=member_id)
        .exists()
    )


def eligible_account_reason(pool: CreditPool, account: Account, at: datetime):
    """None if the account may receive the pool's coupons at ``at``: the
    management account, or a member with an active payment relationship."""
    if account.pk == pool.management_account_id:
        return None
    if has_payment_relationship(pool.management_account_id, account.pk, at):
        return None
    return reason("account_not_eligible", account=account.uid)


def issuance_refusals(
    *,
    pool: CreditPool,
    accounts: list[Account],
    count: int,
    face_value: Decimal,
    at: datetime,
) -> list[Reason]:
    """Every reason ``count`` coupons of ``face_value`` for ``accounts`` cannot
    be issued from ``pool`` at ``at`` (SPEC §5); the service calls it under the
    pool's lock, a screen or the API to preview."""
    reasons = []
    active = pool.status == CreditPool.Status.APPROVED and pool.is_valid_at(at)
    if not active:
        reasons.append(reason("pool_not_active", pool=pool.pk))
    accounts = list(dict.fromkeys(accounts))
    members = [a for a in accounts if a.pk != pool.management_account_id]
    reasons += [
        r for r in (eligible_account_reason(pool, a, at) for a in accounts) if r
    ]
    if len(members) > RECIPIENT_LIMIT:
        reasons.append(
            reason(
                "recipient_limit_exceeded", limit=RECIPIENT_LIMIT, count=len(members)
            )
        )
    total = face_value * count
    if active and total > pool.remaining:
        reasons.append(
            reason(
                "exceeds_pool_remaining",
                amount=f"{total:.2f}",
                count=count,
                face_value=f"{face_value:.2f}",
                remaining=f"{pool.remaining:.2f}",
            )
        )
    return reasons


# --- where a coupon applies -----------------------------------------------------------


@dataclass(frozen=True)
class Applicability:
    """Whether usage of ``account`` starting at the instant asked would be in
    the coupon's reach by the payment-relationship rule (SPEC §5), and since
    when it is not (the end of its last relationship)."""

    account: int
    applies_now: bool
    not_applying_since: datetime | None


def coupon_applicability(
    coupons: list[Coupon], *, at: datetime
) -> dict[int, list[Applicability]]:
    """For each coupon (its pool and accounts loaded), every account it was
    issued for: the management account always, a member while its payment
    relationship with the management account is active. One query for all."""
    pairs = {
        (coupon.pool.management_account_id, account.pk)
        for coupon in coupons
        for account in coupon.accounts.all()
        if account.pk != coupon.pool.management_account_id
    }
    # The ends of the periods begun by ``at`` (None: still open), by pair.
    ends: dict[tuple[int, int], list[datetime | None]] = {}
    if pairs:
        rows = FinancialRelationship.objects.filter(
            management_account_id__in={m for m, _ in pairs},
            member_account_id__in={a for _, a in pairs},
            start__lte=at,
        ).values_list("management_account_id", "member_account_id", "end")
        for manager, member, end in rows:
            ends.setdefault((manager, member), []).append(end)
    result = {}
    for coupon in coupons:
        manager = coupon.pool.management_account_id
        rows_out = []
        for account in sorted(coupon.accounts.all(), key=lambda a: a.pk):
            if account.pk == manager:
                rows_out.append(Applicability(account.pk, True, None))
                continue
            pair = ends.get((manager, account.pk), [])
            active = any(end is None or at < end for end in pair)
            ended = [end for end in pair if end is not None and end <= at]
            since = None if active or not ended else max(ended)
            rows_out.append(Applicability(account.pk, active, since))
        result[coupon.pk] = rows_out
    return result
