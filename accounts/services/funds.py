"""Writes for companies, accounts and fund movements. Services are the only writers.

Each service is one transaction (``billing_portal.db.service``: retried as a
whole on serialization failures when it is the outermost), locks what it
changes in the global order of ``accounts.ledger`` (accounts by primary key,
then pairs, then charges), re-reads balances after locking, checks the rules
through the same selectors the API shows, and raises a ``DomainError`` with
every failing reason. External effects are queued with ``on_commit`` only.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from billing_portal import audit, roles
from billing_portal.db import run_in_transaction, service
from billing_portal.errors import (
    AccessRefused,
    RevocationRefused,
    RuleViolation,
    TransferRefused,
    reason,
)
from billing_portal.money import ZERO, format_amount

from ..ledger import (
    PROVIDER,
    LedgerError,
    Leg,
    decrease,
    increase,
    lock_accounts,
    lock_pair,
    post,
    reverse,
)
from ..models import (
    Account,
    AccountAccess,
    Charge,
    Company,
    Movement,
    SettlementAllocation,
)
from ..selectors import (
    ensure_can_manage,
    get_settleable_amount,
    get_trusteeship_payer,
    revocable_from,
    revocation_refusals,
    transfer_refusals,
)
from .billing import settle_batch
from .structure import announce_directory_change, create_root_folder

User = get_user_model()


# --- companies, accounts, users (operator) -----------------------------------


@service
def create_company(*, name: str, registration_number: str, actor) -> Company:
    company = Company.objects.create(name=name, registration_number=registration_number)

    create_root_folder(company)
    audit.record(
        actor=actor,
        action="company.create",
        target=company,
        after={"name": name, "registration_number": registration_number},
    )
    return company


@service
def verify_company(*, company: Company, actor) -> Company:
    """Mark the company's identity verified, recording who and when (idempotent)."""
    company = Company.objects.select_for_update().get(pk=company.pk)
    if company.is_verified:
        return company
    company.verification_status = Company.Verification.VERIFIED
    company.verified_at = timezone.now()
    company.verified_by = actor
    company.save(update_fields=["verification_status", "verified_at", "verified_by"])
    audit.record(
        actor=actor,
        action="company.verify",
        target=company,
        before={"verification_status": "unverified"},
        after={"verification_status": "verified"},
    )
    return company


@service
def rename_company(*, company: Company, name: str, actor) -> Company:
    company = Company.objects.select_for_update().get(pk=company.pk)
    before = company.name
    company.name = name
    company.save(update_fields=["name"])
    audit.record(
        actor=actor,
        action="company.rename",
        target=company,
        before={"name": before},
        after={"name": name},
    )
    return company


@service
def set_business_manager(*, company: Company, user, actor) -> Company:
    """Assign the company's customer business manager (a CBM user)."""
    company = Company.objects.select_for_update().get(pk=company.pk)
    before = company.business_manager_id
    company.business_manager = user
    company.save(update_fields=["business_manager"])
    audit.record(
        actor=actor,
        action="company.set_business_manager",
        target=company,
        before={"business_manager": before},
        after={"business_manager": user.pk if user else None},
    )
    return company


@service
def create_account(
    *,
    uid: str,
    name: str,
    company: Company | None,
    currency: str,
    mobile: str = "",
    actor,
) -> Account:
    # A company's accounts join its organization at its root folder.
    folder = company.folders.filter(parent__isnull=True).first() if company else None
    account = Account.objects.create(
        uid=uid,
        name=name,
        company=company,
        currency=currency,
        mobile=mobile,
        folder=folder,
    )
    if folder is not None:
        announce_directory_change(folder.company_id)
    audit.record(
        actor=actor,
        action="account.create",
        target=account,
        after={
            "uid": uid,
            "name": name,
            "currency": currency,
            "company": company.pk if company else None,
        },
    )
    return account


ACCOUNT_EDITABLE = ("name", "mobile", "status", "partner_name", "partner_mode")


@service
def update_account(*, account: Account, actor, **changes) -> Account:
    """Change an account's descriptive fields (never its balances or currency)."""
    unknown = set(changes) - set(ACCOUNT_EDITABLE)
    assert not unknown, f"not editable: {unknown}"
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = {k: getattr(account, k) for k in changes}
    for key, value in changes.items():
        setattr(account, key, value)
    account.save(update_fields=list(changes))
    audit.record(
        actor=actor,
        action="account.update",
        target=account,
        before=before,
        after=changes,
    )
    return account


@service
def grant_access(*, account: Account, user, permission: str, actor) -> AccountAccess:
    access, _created = AccountAccess.objects.update_or_create(
        user=user,
        account=account,
        defaults={"permission": permission, "granted_by": actor},
    )
    audit.record(
        actor=actor,
        action="account.grant_access",
        target=account,
        after={"user": user.pk, "permission": permission},
    )
    return access


@service
def revoke_access(*, account: Account, user, actor) -> AccountAccess:
    """Remove the user's access to the account (operator only).

    The row is deleted, so every visibility check (which reads access rows)
    stops showing the account at once; the audit event keeps who had which
    permission, granted when and by whom, and who revoked it when. Returns the
    removed row (unsaved).
    """
    roles.ensure_operator(actor)
    access = (
        AccountAccess.objects.select_for_update()
        .filter(account=account, user=user)
        .first()
    )
    if access is None:
        # Revoked meanwhile (the caller looked it up before this lock).
        raise AccessRefused(
            [reason("no_access", user=user.get_username(), account=account.uid)]
        )
    before = {
        "user": user.pk,
        "username": user.get_username(),
        "permission": access.permission,
        "granted_at": access.granted_at.isoformat(),
        "granted_by": access.granted_by_id,
    }
    access.delete()
    audit.record(
        actor=actor,
        action="account.revoke_access",
        target=account,
        before=before,
        after={"user": user.pk, "permission": None},
    )
    return access


@service
def create_user(*, username: str, password: str, role: str, actor=None):
    """Create a user with a role: customer, cbm or operator."""
    groups = roles.ensure_groups()
    user = User.objects.create_user(username=username, password=password)
    if role == "operator":
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.groups.add(groups[roles.OPERATORS])
    elif role == "cbm":
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.groups.add(groups[roles.CBM])
    else:
        # Customers use the admin too (tenant-scoped); is_staff lets them log in.
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit.record(actor=actor, action="user.create", target=user, after={"role": role})
    return user


# --- movements ----------------------------------------------------------------


@service
def top_up(*, account: Account, amount: Decimal, actor) -> Movement:
    """Add own funds to the account, then settle what it owes (SPEC §3.1)."""
    account = lock_accounts(account.pk)[account.pk]
    movement = post(
        kind=Movement.Kind.TOP_UP,
        account=account,
        amount=amount,
        actor=actor,
        legs=[
            increase(account, "own_cash", amount),
            increase(PROVIDER, "funding", amount),
        ],
    )
    _settle_locked(account, actor=actor)
    return movement


@service
def reverse_top_up(*, movement: Movement, actor, memo: str = "") -> Movement:
    """Correct a top-up with its exact opposite while its funds are still own cash."""
    account = lock_accounts(movement.account_id)[movement.account_id]
    reasons = []
    if movement.kind != Movement.Kind.TOP_UP:
        reasons.append(
            reason("invalid_state", variant="not_a_top_up", movement=movement.pk)
        )
    elif Movement.objects.filter(reverses=movement).exists():
        reasons.append(
            reason("invalid_state", variant="top_up_reversed", movement=movement.pk)
        )
    elif account.own_cash < movement.amount:
        reasons.append(
            reason(
                "insufficient_own_funds",
                account=account.uid,
                own=format_amount(account.own_cash),
                amount=format_amount(movement.amount),
            )
        )
    if reasons:
        raise RuleViolation(reasons)
    return reverse(movement, actor=actor, memo=memo)


def payer_for(account: Account, *, at: datetime) -> Account:
    """Whose uncleared amount a charge of ``account``'s usage at ``at`` raises:
    the management account under a trusteeship active at ``at``, else itself
    (SPEC §3.6, §9)."""

    return get_trusteeship_payer(account, at) or account


@service
def charge_usage(
    *,
    usage_account: Account,
    amount: Decimal,
    effective_at: datetime,
    deductions: Sequence[Leg] = (),
    actor=None,
    memo: str = "",
    payer: Account | None = None,
) -> Charge:
    """Post one usage record as one movement (SPEC §4.4, §9): the gross
    ``amount`` as revenue, each deduction leg (a benefit's or coupon's book), and
    what remains to the payer's uncleared amount, which settlement pays later.

    Deduction holders rank after accounts in the lock order, so a caller that
    deducts locks the payer (``payer_for``) before them and passes it as
    ``payer``; the charge's own lock of the payer is then a no-op.
    """
    if payer is None:
        payer = payer_for(usage_account, at=effective_at)
    payer = lock_accounts(payer.pk)[payer.pk]
    deducted = sum((leg.signed for leg in deductions), ZERO)
    if not ZERO <= deducted <= amount:
        raise LedgerError(f"deductions of {deducted} for a usage of {amount}")
    net = amount - deducted
    movement = post(
        kind=Movement.Kind.USAGE_CHARGE,
        account=payer,
        counterparty=None if payer.pk == usage_account.pk else usage_account,
        amount=amount,
        actor=actor,
        effective_at=effective_at,
        memo=memo,
        legs=[
            *deductions,
            increase(payer, "uncleared", net),
            increase(PROVIDER, "revenue", amount),
        ],
    )
    return Charge.objects.create(
        movement=movement,
        usage_account=usage_account,
        payer_account=payer,
        amount=net,
        currency=payer.currency,
        effective_at=effective_at,
        outstanding=net,
    )


@service
def settle_account(*, account: Account, actor=None) -> Movement | None:
    """Pay uncleared charges from cash now; None when there is nothing to pay."""
    account = lock_accounts(account.pk)[account.pk]
    return _settle_locked(account, actor=actor)


def _settle_locked(account: Account, *, actor) -> Movement | None:
    """Oldest charge first (usage start, then id), transferred-in funds first."""
    payable = get_settleable_amount(account)
    if payable <= 0:
        return None
    # Charges are locked after their account (global order), by primary key.
    charges = list(
        Charge.objects.select_for_update()
        .filter(payer_account=account, outstanding__gt=0)
        .order_by("pk")
    )
    charges.sort(key=lambda c: (c.effective_at, c.pk))
    transferred_pool = account.transferred_in_balance
    left = payable
    allocations = []
    for charge in charges:
        if left <= 0:
            break
        paid = min(charge.outstanding, left)
        from_ti = min(paid, transferred_pool)
        transferred_pool -= from_ti
        allocations.append((charge, from_ti, paid - from_ti))
        left -= paid
    from_ti_total = sum((a[1] for a in allocations), ZERO)
    from_own_total = sum((a[2] for a in allocations), ZERO)
    paid_total = from_ti_total + from_own_total
    movement = post(
        kind=Movement.Kind.SETTLEMENT,
        account=account,
        amount=paid_total,
        actor=actor,
        legs=[
            decrease(account, "transferred_in", from_ti_total),
            decrease(account, "own_cash", from_own_total),
            decrease(account, "uncleared", paid_total),
        ],
    )
    rows = []
    for charge, from_ti, from_own in allocations:
        charge.outstanding -= from_ti + from_own
        charge.save(update_fields=["outstanding"])
        rows.append(
            SettlementAllocation(
                movement=movement,
                charge=charge,
                from_transferred_in=from_ti,
                from_own=from_own,
            )
        )
    SettlementAllocation.objects.bulk_create(rows)
    return movement


def settle_all(*, actor=None) -> int:
    """Settle every account that has both cash and uncleared charges, set-wise,
    a thousand accounts per transaction; count them."""
    settled = after_id = 0
    while True:
        count, last = run_in_transaction(
            settle_batch, after_id=after_id, size=1000, actor=actor
        )
        settled += count
        if last == after_id:
            return settled
        after_id = last


@service
def transfer_balance(
    *, source: Account, destination: Account, amount: Decimal, actor
) -> Movement:
    """Move own funds from source to destination (SPEC §3.2)."""
    ensure_can_manage(actor, source)
    locked = lock_accounts(source.pk, destination.pk)
    source, destination = locked[source.pk], locked[destination.pk]
    refusals = transfer_refusals(source, destination, amount)
    if refusals:
        raise TransferRefused(refusals)
    pair = lock_pair(source, destination, create=True)
    return post(
        kind=Movement.Kind.TRANSFER,
        account=source,
        counterparty=destination,
        amount=amount,
        actor=actor,
        legs=[
            decrease(source, "own_cash", amount),
            increase(destination, "transferred_in", amount),
            increase(pair, "remaining_revocable", amount),
            increase(PROVIDER, "revocable_control", amount),
        ],
    )


@service
def revoke_transfer(
    *, source: Account, destination: Account, amount: Decimal, actor
) -> Movement:
    """Take back from destination funds that source transferred to it (SPEC §3.3)."""
    ensure_can_manage(actor, source)
    locked = lock_accounts(source.pk, destination.pk)
    source, destination = locked[source.pk], locked[destination.pk]
    pair = None
    if source.pk != destination.pk:
        pair = lock_pair(source, destination, create=False)
    revocable = revocable_from(source, destination, pair)
    refusals = revocation_refusals(revocable, amount)
    if refusals:
        raise RevocationRefused(refusals)
    return post(
        kind=Movement.Kind.REVOCATION,
        account=source,
        counterparty=destination,
        amount=amount,
        actor=actor,
        legs=[
            decrease(destination, "transferred_in", amount),
            increase(source, "own_cash", amount),
            decrease(pair, "remaining_revocable", amount),
            decrease(PROVIDER, "revocable_control", amount),
        ],
    )
