"""Writes of coupon credit pools (SPEC §5): request (CBM), approval or
rejection (operator), coupon issuance and revocation (the enterprise
administrators), and expiry (the sweep).

Money: approval funds the pool's ``unissued`` book from the provider;
issuance moves ``count x face`` from it to the coupons' ``remaining`` books
in one movement; revocation moves a coupon's remaining value back to the pool
while the pool is valid, else to the provider's ``benefits_expired``. Lock
order: coupon assets (rank 30) before pools (rank 50).
"""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.ledger import PROVIDER, decrease, increase, lock
from accounts.models import Account, Company, Movement
from accounts.selectors import can_manage
from billing_portal import audit, roles
from billing_portal.db import service
from billing_portal.errors import (
    ActionForbidden,
    CatalogueRefused,
    CouponPoolRefused,
    reason,
)
from billing_portal.history import record_changes, record_created
from sharing.models import Asset
from sharing.services import create_assets, open_shares

from .models import Coupon, CreditPool, Product
from .selectors import (
    coupon_revocation_blocks,
    ensure_can_request_pool,
    issuance_refusals,
    pool_decision_refusals,
)

Status = CreditPool.Status

#: At most this many coupons are issued by one request.
MAX_COUPONS_PER_ISSUE = 1000


# --- the product catalogue -----------------------------------------------------------


def _code_taken(code: str) -> CatalogueRefused:
    return CatalogueRefused([reason("product_code_taken", product=code)])


@service
def create_product(*, code: str, name: str, actor) -> Product:
    """An operator adds a product to the catalogue; codes are unique."""
    roles.ensure_operator(actor)
    if Product.objects.filter(code=code).exists():
        raise _code_taken(code)
    try:
        with transaction.atomic():
            product = Product.objects.create(code=code, name=name)
    except IntegrityError:  # the same code added concurrently
        raise _code_taken(code) from None
    audit.record(
        actor=actor, action="product.create", target=product, after={"code": code}
    )
    return product


@service
def save_product(
    *, code: str, name: str, actor, product: Product | None = None
) -> Product:
    """Add a product (as ``create_product``) or rename one; a code never
    changes once saved (pools name their products by code)."""
    if product is None:
        return create_product(code=code, name=name, actor=actor)
    roles.ensure_operator(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = {"name": product.name}
    product.name = name
    product.save(update_fields=["name"])
    audit.record(
        actor=actor,
        action="product.rename",
        target=product,
        before=before,
        after={"name": name},
    )
    return product


# --- the CBM's request and the operator's decision ------------------------------------


@service
def request_pool(
    *,
    company: Company,
    distribution_target: str,
    management_account: Account,
    products: list[str],
    bill_types: list[str],
    valid_from: datetime,
    valid_until: datetime,
    amount: Decimal,
    actor,
) -> CreditPool:
    """A CBM requests a pool for a company assigned to it (SPEC §5). The input
    is validated by the caller (the API's serializer, the admin's form); what
    would break a constraint is a programming error here."""
    if valid_until <= valid_from or amount <= 0 or not bill_types:
        raise ValueError("validate the window, the amount and the bill types first")
    company = Company.objects.get(pk=company.pk)  # as stored, not as passed
    ensure_can_request_pool(actor, company)
    reasons = []
    if distribution_target != CreditPool.DISTRIBUTION_TARGET:
        reasons.append(reason("invalid_distribution_target"))
    elif company.management_account_id != management_account.pk:
        reasons.append(
            reason(
                "invalid_distribution_target",
                variant="not_management_account",
                account=management_account.uid,
                company=company.name,
            )
        )
    if company.verification_status != Company.Verification.VERIFIED:
        reasons.append(reason("company_not_verified", account=management_account.uid))
    if reasons:
        raise CouponPoolRefused(reasons)
    pool = CreditPool.objects.create(
        company=company,
        management_account=management_account,
        products=sorted(set(products)),
        bill_types=sorted(set(bill_types)),
        valid_from=valid_from,
        valid_until=valid_until,
        amount=amount,
        currency=management_account.currency,
        requested_by=actor,
    )
    audit.record(
        actor=actor,
        action="pool.request",
        target=pool,
        after={"amount": str(amount), "company": company.pk},
    )
    return pool


def _lock_pool(pool: CreditPool) -> CreditPool:
    (pool,) = lock(pool)
    return pool


@service
def approve_pool(*, pool: CreditPool, actor) -> CreditPool:
    """An operator approves a requested pool: its amount becomes issuable."""
    roles.ensure_operator(actor)
    pool = _lock_pool(pool)
    reasons = pool_decision_refusals(pool, "approve")
    if reasons:
        raise CouponPoolRefused(reasons)
    ledger.post(
        kind=Movement.Kind.POOL_APPROVAL,
        account=pool.management_account,
        amount=pool.amount,
        actor=actor,
        memo=f"pool #{pool.pk}",
        legs=[
            increase(pool, "unissued", pool.amount),
            increase(PROVIDER, "pool_funding", pool.amount),
        ],
    )
    pool.status = Status.APPROVED
    pool.decided_by = actor
    pool.decided_at = timezone.now()
    pool.save(update_fields=["status", "decided_by", "decided_at"])
    audit.record(actor=actor, action="pool.approve", target=pool)
    return pool


@service
def reject_pool(*, pool: CreditPool, reason_text: str, actor) -> CreditPool:
    """An operator rejects a requested pool; the reason is kept and shown."""
    roles.ensure_operator(actor)
    pool = _lock_pool(pool)
    reasons = pool_decision_refusals(pool, "reject")
    if reasons:
        raise CouponPoolRefused(reasons)
    pool.status = Status.REJECTED
    pool.rejection_reason = reason_text
    pool.decided_by = actor
    pool.decided_at = timezone.now()
    pool.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at"])
    audit.record(
        actor=actor, action="pool.reject", target=pool, after={"reason": reason_text}
    )
    return pool


def expire_pools() -> int:
    """The sweep: approved pools past their window become expired (what was
    not issued stays on the book, no longer issuable)."""
    with transaction.atomic():
        expired = list(
            CreditPool.objects.filter(
                status=Status.APPROVED, valid_until__lte=timezone.now()
            )
            .order_by("pk")
            .select_for_update(no_key=True)
        )
        CreditPool.objects.filter(pk__in=[p.pk for p in expired]).update(
            status=Status.EXPIRED
        )
        for pool in expired:
            pool.status = Status.EXPIRED
        record_changes(expired)
    return len(expired)


# --- coupons ------------------------------------------------------------------------


@service
def issue_coupons(
    *,
    pool: CreditPool,
    accounts: list[Account],
    count: int,
    face_value: Decimal,
    actor,
) -> list[Coupon]:
    """Issue ``count`` coupons of ``face_value``, each applicable to all of
    ``accounts``; scope and validity come from the pool (SPEC §5)."""
    manager = pool.management_account
    if not can_manage(actor, manager):
        raise ActionForbidden([reason("no_permission", account=manager.uid)])
    if not 1 <= count <= MAX_COUPONS_PER_ISSUE or face_value <= 0:
        raise ValueError(f"{count} coupons of {face_value}: validate the input first")
    pool = _lock_pool(pool)
    accounts = list(dict.fromkeys(accounts))
    reasons = issuance_refusals(
        pool=pool,
        accounts=accounts,
        count=count,
        face_value=face_value,
        at=timezone.now(),
    )
    if reasons:
        raise CouponPoolRefused(reasons)
    members = [a for a in accounts if a.pk != manager.pk]
    total = face_value * count
    # Set-wise whatever the count: the coupon assets, their coupons and
    # applicable accounts, one movement funding them all, their shares.
    assets = create_assets(
        count=count,
        type=Asset.Type.COUPON,
        owner=manager,
        actor=actor,
        valid_from=pool.valid_from,
        valid_until=pool.valid_until,
        products=list(pool.products),
        bill_types=list(pool.bill_types),
        capacity=face_value,
    )
    coupons = Coupon.objects.bulk_create(
        Coupon(asset=asset, pool=pool, face_value=face_value, issued_by=actor)
        for asset in assets
    )
    record_created(coupons)
    Coupon.accounts.through.objects.bulk_create(
        Coupon.accounts.through(coupon_id=coupon.pk, account_id=account.pk)
        for coupon in coupons
        for account in accounts
    )
    ledger.post(
        kind=Movement.Kind.COUPON_ISSUE,
        account=manager,
        amount=total,
        actor=actor,
        memo=f"pool #{pool.pk}: {count} x {face_value:.2f}",
        legs=[
            decrease(pool, "unissued", total),
            *(increase(asset, "remaining", face_value) for asset in assets),
        ],
    )
    CreditPool.objects.filter(pk=pool.pk).update(
        issued_amount=pool.issued_amount + total
    )
    if members:
        open_shares(assets=assets, accounts=members, actor=actor)
    audit.record(
        actor=actor,
        action="pool.issue_coupons",
        target=pool,
        after={
            "count": count,
            "face_value": f"{face_value:.2f}",
            "accounts": [a.pk for a in accounts],
        },
    )
    return coupons


@service
def revoke_coupon(*, coupon: Coupon, actor) -> Coupon:
    """The management account's administrators revoke a coupon's remaining
    value: back to the pool while it is valid, else recorded as expired;
    what was already deducted stays (SPEC §5)."""
    pool = coupon.pool
    manager = pool.management_account
    if not can_manage(actor, manager):
        raise ActionForbidden([reason("no_permission", account=manager.uid)])
    (asset, pool) = lock(coupon.asset, pool)  # assets rank before pools
    coupon = Coupon.objects.get(pk=coupon.pk)
    coupon.asset = asset
    reasons = coupon_revocation_blocks(coupon)
    if reasons:
        raise CouponPoolRefused(reasons)
    now = timezone.now()
    value = asset.remaining
    to_pool = pool.status == Status.APPROVED and pool.is_valid_at(now)
    ledger.post(
        kind=Movement.Kind.COUPON_REVOKE,
        account=manager,
        amount=value,
        actor=actor,
        memo=f"coupon #{coupon.pk}",
        legs=[
            decrease(asset, "remaining", value),
            increase(pool, "unissued", value)
            if to_pool
            else increase(PROVIDER, "benefits_expired", value),
        ],
    )
    if to_pool:
        CreditPool.objects.filter(pk=pool.pk).update(
            revoked_amount=pool.revoked_amount + value
        )
    asset.status = Asset.Status.REVOKED
    asset.save(update_fields=["status"])  # with its history row
    coupon.revoked_amount = value
    coupon.revoked_to_pool = to_pool
    coupon.revoked_at = now
    coupon.revoked_by = actor
    coupon.save(
        update_fields=["revoked_amount", "revoked_to_pool", "revoked_at", "revoked_by"]
    )
    audit.record(
        actor=actor,
        action="coupon.revoke",
        target=coupon,
        after={"revoked": f"{value:.2f}", "to_pool": to_pool},
    )
    return coupon
