"""Writes of equity asset sharing (SPEC §4): provisioning, shares and their
periods, automatic sharing rules, and usage pricing through the deduction
engine.

Lock order (the ledger's global order): accounts (the payer of a usage
record) → assets by primary key → asset hours by asset. Every change to an
asset's shares and periods holds the asset's row lock, so pricing (which
locks the asset too) sees periods that cannot change under it.
"""

import json
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import ledger
from accounts.ledger import PROVIDER, decrease, increase, lock, lock_accounts
from accounts.models import Account, Folder, Movement
from accounts.selectors import can_manage, get_subtree_ids
from accounts.services import (
    charge_usage,
    create_deductions_table,
    lock_payers,
    payer_for,
)
from billing_portal import audit, roles
from billing_portal.db import service
from billing_portal.errors import (
    ActionForbidden,
    SharingRefused,
    UsageConflict,
    reason,
)
from billing_portal.history import record_changes, record_created
from billing_portal.money import ZERO

from . import deduction, tasks
from .models import (
    RECIPIENT_LIMIT,
    Asset,
    AssetHour,
    Deduction,
    RecipientRule,
    Share,
    SharePeriod,
    SharingRule,
    UsageRecord,
)
from .selectors import (
    asset_state_refusals,
    company_refusals,
    ensure_can_share,
    limit_reason,
    share_refusals,
    stop_share_refusals,
)

Status = Share.Status


def resolve_delay() -> timedelta:
    """How long after a change the worker resolves folder and rule shares."""
    return timedelta(seconds=settings.SHARING_RESOLVE_DELAY_SECONDS)


# --- provisioning (operators) -----------------------------------------------------


@service
def provision_asset(
    *,
    type: str,
    owner: Account,
    valid_from: datetime,
    valid_until: datetime,
    products: list[str] | None = None,
    bill_types: list[str] | None = None,
    commitment_per_hour: Decimal | None = None,
    instance_type: str = "",
    region: str = "",
    count: int | None = None,
    capacity: Decimal | None = None,
    actor,
) -> Asset:
    """Provision an asset for ``owner`` (an operator action). Its capacity, if
    it has a capacity book, is granted by one movement; matching automatic
    sharing rules schedule its shares."""
    roles.ensure_operator(actor)
    return create_asset(
        type=type,
        owner=owner,
        valid_from=valid_from,
        valid_until=valid_until,
        products=products or [],
        bill_types=bill_types or [],
        commitment_per_hour=commitment_per_hour,
        instance_type=instance_type,
        region=region,
        count=count,
        capacity=capacity,
        actor=actor,
    )


def create_asset(
    *, owner: Account, actor, grant: bool = True, apply_rules: bool = True, **fields
) -> Asset:
    """Create an asset inside the caller's transaction: grant its capacity
    (``grant=False``: the caller funds it, e.g. coupons issued from a credit
    pool, and the asset comes back locked for that) and apply the owner's
    automatic sharing rules (unless ``apply_rules=False``: a pool's coupons
    apply to the accounts they were issued for, nobody else)."""
    asset = Asset.objects.create(
        owner=owner,
        currency=owner.currency,
        provisioned_by=actor if getattr(actor, "is_authenticated", False) else None,
        **fields,
    )
    capacity = asset.capacity
    if not grant:
        ledger.adopt_locked(asset)  # created in this transaction: ours alone
    elif asset.has_capacity_book and capacity is not None:
        ledger.adopt_locked(asset)  # created in this transaction: ours alone
        ledger.post(
            kind=Movement.Kind.ASSET_PROVISION,
            account=owner,
            amount=capacity,
            actor=actor,
            memo=f"{asset.type} #{asset.pk}",
            legs=[
                increase(asset, "remaining", capacity),
                increase(PROVIDER, "benefits_granted", capacity),
            ],
        )
    if apply_rules:
        _schedule_rule_shares(asset, actor)
    audit.record(
        actor=actor,
        action="asset.provision",
        target=asset,
        after={"type": asset.type, "owner": owner.pk},
    )
    return asset


def create_assets(*, count: int, owner: Account, actor, **fields) -> list[Asset]:
    """``count`` identical assets created at once in the caller's transaction,
    locked for it and not funded (the caller posts their capacity, e.g. coupons
    issued from a credit pool) and not subject to the owner's rules."""
    provisioned_by = actor if getattr(actor, "is_authenticated", False) else None
    assets = Asset.objects.bulk_create(
        Asset(
            owner=owner,
            currency=owner.currency,
            provisioned_by=provisioned_by,
            remaining=Decimal(0),
            **fields,
        )
        for _n in range(count)
    )
    for asset in assets:
        ledger.adopt_locked(asset)  # created in this transaction: ours alone
    record_created(assets)
    return assets


def open_shares(*, assets: list[Asset], accounts: list[Account], actor) -> None:
    """Share assets created in this transaction with ``accounts`` at once (one
    statement for the shares, one for their periods), under the rules of
    ``share_with_accounts``; the caller administers their owner."""
    if not all(ledger.is_locked(a) for a in assets):
        raise ledger.LedgerError("open shares of assets this transaction holds")
    if len({asset.owner_id for asset in assets}) != 1:
        raise ValueError("assets of one owner at a time")
    reasons = company_refusals(assets[0].owner, accounts)
    if len(accounts) > RECIPIENT_LIMIT:
        reasons.append(limit_reason(len(accounts)))
    if reasons:
        raise SharingRefused(reasons)
    now = timezone.now()
    shares = Share.objects.bulk_create(
        Share(
            asset=asset,
            target=Share.Target.ACCOUNT,
            account=account,
            status=Status.ACTIVE,
            active_since=now,
            resolved_at=now,
            created_by=actor,
        )
        for asset in assets
        for account in accounts
    )
    periods = SharePeriod.objects.bulk_create(
        SharePeriod(asset=s.asset, recipient=s.account, share=s, start=now)
        for s in shares
    )
    record_created(shares)
    record_created(periods)


# --- who may share -------------------------------------------------------------


def _open_periods(asset: Asset) -> dict[int, SharePeriod]:
    return {
        p.recipient_id: p
        for p in SharePeriod.objects.filter(asset=asset, end__isnull=True)
    }


# --- sharing with accounts --------------------------------------------------------


@service
def share_with_accounts(*, asset: Asset, accounts: list[Account], actor) -> list[Share]:
    """Share with specific accounts: effective the moment it is saved."""
    ensure_can_share(actor, asset)
    (asset,) = lock(asset)
    # The form's preview rule, decided again under the asset's lock.
    reasons = share_refusals(asset, accounts)
    if reasons:
        raise SharingRefused(reasons)
    open_periods = _open_periods(asset)
    now = timezone.now()
    shares = []
    for account in dict.fromkeys(accounts):
        share = Share.objects.filter(
            asset=asset,
            target=Share.Target.ACCOUNT,
            account=account,
            status=Status.ACTIVE,
        ).first()
        if share is None:
            share = Share.objects.create(
                asset=asset,
                target=Share.Target.ACCOUNT,
                account=account,
                status=Status.ACTIVE,
                active_since=now,
                resolved_at=now,
                created_by=actor,
            )
            if account.pk not in open_periods:
                SharePeriod.objects.create(
                    asset=asset, recipient=account, share=share, start=now
                )
        shares.append(share)
    audit.record(
        actor=actor,
        action="asset.share_accounts",
        target=asset,
        after={"accounts": [a.pk for a in accounts]},
    )
    return shares


@service
def stop_share(*, asset: Asset, account: Account, actor) -> SharePeriod:
    """End ``account``'s share period now (DELETE /assets/{id}/shares/{account}/)."""
    ensure_can_share(actor, asset)
    (asset,) = lock(asset)
    reasons = stop_share_refusals(asset, account)
    if reasons:
        raise SharingRefused(reasons)
    period = SharePeriod.objects.get(asset=asset, recipient=account, end__isnull=True)
    now = timezone.now()
    period.end = now
    period.save(update_fields=["end"])
    Share.objects.filter(
        asset=asset, target=Share.Target.ACCOUNT, account=account, status=Status.ACTIVE
    ).update(status=Status.STOPPED, stopped_at=now)
    record_changes(
        Share.objects.filter(
            asset=asset, target=Share.Target.ACCOUNT, account=account, stopped_at=now
        )
    )
    audit.record(
        actor=actor,
        action="asset.stop_share",
        target=asset,
        after={"account": account.pk},
    )
    return period


# --- sharing with a folder (resolved by the worker) -----------------------------------


def _folder_of(share: Share) -> Folder:
    assert share.folder is not None, "a folder share has its folder"
    return share.folder


@service
def share_with_folder(*, asset: Asset, folder: Folder, actor) -> Share:
    """Share with an organization folder: pending until the worker resolves it
    about a minute later (and again after each membership change)."""
    ensure_can_share(actor, asset)
    (asset,) = lock(asset)
    reasons = asset_state_refusals(asset)
    reasons += company_refusals(asset.owner, [])
    if folder.company_id != asset.owner.company_id:
        reasons.append(
            reason("different_company", source=asset.owner.uid, destination=folder.name)
        )
    if reasons:
        raise SharingRefused(reasons)
    existing = Share.objects.filter(
        asset=asset,
        target=Share.Target.FOLDER,
        folder=folder,
        status__in=[Status.PENDING, Status.ACTIVE, Status.FAILED],
    ).first()
    if existing is not None:
        if existing.status == Status.FAILED:
            # Asked again: try again (e.g. after accounts left the folder).
            existing.due_at = timezone.now() + resolve_delay()
            existing.save(update_fields=["due_at"])
            _enqueue_resolution(existing)
        return existing
    share = Share.objects.create(
        asset=asset,
        target=Share.Target.FOLDER,
        folder=folder,
        status=Status.PENDING,
        due_at=timezone.now() + resolve_delay(),
        created_by=actor,
    )
    _enqueue_resolution(share)
    audit.record(
        actor=actor,
        action="asset.share_folder",
        target=asset,
        after={"folder": folder.pk},
    )
    return share


@service
def stop_folder_share(*, share: Share, actor) -> Share:
    """Stop a folder share: its recipients' periods end now (except accounts
    that also have an account share of their own)."""
    ensure_can_share(actor, share.asset)
    (asset,) = lock(share.asset)
    share = Share.objects.get(pk=share.pk)
    if share.status == Status.STOPPED:
        return share
    now = timezone.now()
    keep = _account_share_ids(asset)
    for period in SharePeriod.objects.filter(share=share, end__isnull=True):
        if period.recipient_id in keep:
            period.share_id = keep[period.recipient_id]
            period.save(update_fields=["share"])
        else:
            period.end = now
            period.save(update_fields=["end"])
    share.status = Status.STOPPED
    share.stopped_at = now
    share.save(update_fields=["status", "stopped_at"])
    audit.record(
        actor=actor, action="asset.stop_share", target=asset, after={"share": share.pk}
    )
    return share


def _account_share_ids(asset: Asset) -> dict[int, int]:
    return dict(
        Share.objects.filter(
            asset=asset, target=Share.Target.ACCOUNT, status=Status.ACTIVE
        ).values_list("account_id", "pk")
    )


def _enqueue_resolution(share: Share) -> None:
    due_at, pk = share.due_at, share.pk

    def enqueue():
        task = tasks.resolve_share
        if task.get_backend().supports_defer:
            task = task.using(run_after=due_at)
        # A backend that runs tasks at once (tests) finds the share not yet due
        # and leaves it pending: only the worker, at ``due_at``, applies it.
        task.enqueue(pk)

    transaction.on_commit(enqueue)


def on_directory_changed(sender, *, company_id: int, **kwargs) -> None:
    """Accounts joined or left folders of a company: its folder shares are
    resolved again about a minute later (SPEC §4.2)."""
    schedule_folder_shares(company_id)


@service
def schedule_folder_shares(company_id: int) -> int:
    shares = list(
        Share.objects.filter(
            target=Share.Target.FOLDER,
            folder__company_id=company_id,
            status__in=[Status.PENDING, Status.ACTIVE, Status.FAILED],
        )
    )
    due_at = timezone.now() + resolve_delay()
    for share in shares:
        share.due_at = due_at
        share.save(update_fields=["due_at"])
        _enqueue_resolution(share)
    return len(shares)


@service
def resolve_share(share_id: int) -> str:
    """The worker's job: apply a pending or due share (folder or rule)."""
    share = Share.objects.select_related("asset").filter(pk=share_id).first()
    if share is None:
        return "missing"
    (asset,) = lock(share.asset)
    share = Share.objects.select_related("folder", "account").get(pk=share_id)
    now = timezone.now()
    if share.status == Status.STOPPED:
        return "stopped"
    if share.due_at is not None and share.due_at > now + timedelta(seconds=1):
        return "not_due"  # a later change rescheduled it; that run applies it
    if share.target == Share.Target.ACCOUNT:
        if share.status != Status.PENDING:
            return "done"  # an automatic share fires once
        return _resolve_account_share(asset, share, now)
    return _resolve_folder_share(asset, share, now)


def _fail(share: Share, detail_reasons: list, now) -> str:
    share.status = Status.FAILED
    share.detail = " ".join(str(r.message) for r in detail_reasons)[:500]
    share.resolved_at = now
    share.due_at = None
    share.save(update_fields=["status", "detail", "resolved_at", "due_at"])
    return "failed"


def _resolve_account_share(asset: Asset, share: Share, now) -> str:
    account = share.account
    assert account is not None, "an account share has its account"
    reasons = company_refusals(asset.owner, [account])
    open_periods = _open_periods(asset)
    if account.pk not in open_periods and len(open_periods) + 1 > RECIPIENT_LIMIT:
        reasons.append(limit_reason(len(open_periods) + 1))
    if reasons:
        return _fail(share, reasons, now)
    if account.pk not in open_periods:
        SharePeriod.objects.create(
            asset=asset, recipient=account, share=share, start=now
        )
    share.status = Status.ACTIVE
    share.active_since = now
    share.resolved_at = now
    share.due_at = None
    share.detail = ""
    share.save(
        update_fields=["status", "active_since", "resolved_at", "due_at", "detail"]
    )
    return "active"


def _resolve_folder_share(asset: Asset, share: Share, now) -> str:
    owner = asset.owner
    reasons = company_refusals(owner, [])
    if reasons:
        return _fail(share, reasons, now)
    members = set(
        Account.objects.filter(
            folder__in=get_subtree_ids(_folder_of(share)), company=owner.company
        )
        .exclude(pk=owner.pk)
        .values_list("pk", flat=True)
    )
    open_periods = _open_periods(asset)
    mine = {pk for pk, p in open_periods.items() if p.share_id == share.pk}
    joiners = members - set(open_periods)
    leavers = mine - members
    total = len(open_periods) + len(joiners) - len(leavers)
    if total > RECIPIENT_LIMIT:
        return _fail(share, [limit_reason(total)], now)
    keep = _account_share_ids(asset)
    for pk in leavers:
        period = open_periods[pk]
        if pk in keep:
            period.share_id = keep[pk]
            period.save(update_fields=["share"])
        else:
            period.end = now
            period.save(update_fields=["end"])
    record_created(
        SharePeriod.objects.bulk_create(
            SharePeriod(asset=asset, recipient_id=pk, share=share, start=now)
            for pk in sorted(joiners)
        )
    )
    if share.status != Status.ACTIVE:
        share.active_since = now
    share.status = Status.ACTIVE
    share.detail = ""
    share.resolved_at = now
    share.due_at = None
    share.save(
        update_fields=["status", "active_since", "detail", "resolved_at", "due_at"]
    )
    return "active"


# --- automatic sharing rules -------------------------------------------------------


@service
def create_sharing_rule(
    *,
    owner: Account,
    asset_types: list[str],
    accounts: list[Account] | None = None,
    folder: Folder | None = None,
    actor,
) -> SharingRule:
    """A rule shares the owner's new assets of ``asset_types`` (SPEC §4.3)."""
    if not can_manage(actor, owner):
        raise ActionForbidden([reason("no_permission", account=owner.uid)])
    reasons = company_refusals(owner, list(accounts or []))
    if folder is not None and folder.company_id != owner.company_id:
        reasons.append(
            reason("different_company", source=owner.uid, destination=folder.name)
        )
    if len(accounts or []) > RECIPIENT_LIMIT:
        reasons.append(limit_reason(len(accounts or [])))
    if reasons:
        raise SharingRefused(reasons)
    rule = SharingRule.objects.create(
        owner=owner,
        asset_types=sorted(set(asset_types)),
        folder=folder,
        created_by=actor,
    )
    rule.accounts.set(accounts or [])
    audit.record(
        actor=actor,
        action="sharing_rule.create",
        target=rule,
        after={"asset_types": rule.asset_types},
    )
    return rule


def _schedule_rule_shares(asset: Asset, actor) -> None:
    """Pending shares for each active rule of the owner matching the asset."""
    rules = SharingRule.objects.filter(
        owner=asset.owner, active=True, asset_types__contains=[asset.type]
    ).prefetch_related("accounts")
    due_at = timezone.now() + resolve_delay()
    for rule in rules:
        targets = [
            Share(
                asset=asset,
                target=Share.Target.ACCOUNT,
                account=account,
                status=Status.PENDING,
                due_at=due_at,
                rule=rule,
            )
            for account in rule.accounts.all()
        ]
        if rule.folder_id:
            targets.append(
                Share(
                    asset=asset,
                    target=Share.Target.FOLDER,
                    folder_id=rule.folder_id,
                    status=Status.PENDING,
                    due_at=due_at,
                    rule=rule,
                )
            )
        created = Share.objects.bulk_create(targets)
        record_created(created)
        for share in created:
            _enqueue_resolution(share)


# --- per-recipient deduct rules ---------------------------------------------------


@service
def set_recipient_rule(
    *, asset: Asset, recipient: Account, excluded_products: list[str], actor
) -> RecipientRule:
    """A recipient's administrators choose products a shared asset skips."""
    if not can_manage(actor, recipient):
        raise ActionForbidden([reason("no_permission", account=recipient.uid)])
    (asset,) = lock(asset)
    if not SharePeriod.objects.filter(asset=asset, recipient=recipient).exists():
        raise SharingRefused(
            [reason("invalid_state", variant="not_shared", account=recipient.uid)]
        )
    rule, _created = RecipientRule.objects.update_or_create(
        asset=asset,
        recipient=recipient,
        defaults={"excluded_products": sorted(set(excluded_products))},
    )
    audit.record(
        actor=actor,
        action="asset.recipient_rule",
        target=asset,
        after={"recipient": recipient.pk, "excluded_products": rule.excluded_products},
    )
    return rule


# --- usage pricing ------------------------------------------------------------------

#: Fields that identify the content of a usage record; a re-send must match them.
CONTENT_FIELDS = (
    "account_id",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
    "instance_type",
    "region",
    "quantity",
)


@service
def record_usage(
    *,
    external_id: str,
    account,
    product: str,
    bill_type: str,
    usage_start,
    usage_end,
    amount: Decimal,
    billed_at,
    instance_type: str = "",
    region: str = "",
    quantity=None,
    source: str = "api",
    actor=None,
) -> tuple[UsageRecord, bool]:
    """Price a usage record once; a re-send returns the first result unchanged.

    Returns (record, created). A re-send with different content is refused.
    The record, its deductions and what remains to the payer are one movement.
    """
    candidate = UsageRecord(
        source=source,
        external_id=external_id,
        account=account,
        product=product,
        bill_type=bill_type,
        usage_start=usage_start,
        usage_end=usage_end,
        amount=amount,
        currency=account.currency,
        billed_at=billed_at,
        instance_type=instance_type,
        region=region,
        quantity=quantity,
    )
    existing = UsageRecord.objects.filter(
        source=source, external_id=external_id
    ).first()
    if existing is not None:
        return _same_or_conflict(existing, candidate), False
    payer = payer_for(account, at=usage_start)
    try:
        # The unique index serializes concurrent first sends of one external id.
        with transaction.atomic():
            candidate.payer = payer
            candidate.charged_amount = amount
            candidate.save()
    except IntegrityError:
        existing = UsageRecord.objects.get(source=source, external_id=external_id)
        return _same_or_conflict(existing, candidate), False
    candidates = deduction.fetch_candidates(candidate)
    decision = deduction.Decision(draws=[], skipped=[])
    legs: list[ledger.Leg] = []
    if candidates:
        # Global order: the payer, then the assets, then their hours.
        lock_accounts(payer.pk)
        decision, legs = _decide_locked(candidate, candidates)
    charge = charge_usage(
        usage_account=account,
        amount=amount,
        effective_at=usage_start,
        deductions=legs,
        actor=actor,
        memo=f"usage {source}:{external_id}",
        payer=payer,
    )
    candidate.charge = charge
    candidate.payer = charge.payer_account
    candidate.charged_amount = charge.amount
    candidate.skipped = decision.skipped
    candidate.save(update_fields=["charge", "payer", "charged_amount", "skipped"])
    _write_deductions(candidate, decision)
    return candidate, True


def _decide_locked(usage: UsageRecord, candidates: list) -> tuple:
    """Lock the candidates that may deduct, re-read what can change under us
    (status, share periods), decide, and build the deduction legs."""
    possible = [c for c in candidates if deduction.static_refusal(c, usage) is None]
    if not possible:
        return deduction.decide(usage, candidates, {}), []
    locked = {a.pk: a for a in lock(*(c.asset for c in possible))}
    # Periods as of our locks. An asset shared with the account after the
    # first read (so not locked by us) counts from after this record: dropped.
    fresh = [
        c
        for c in deduction.fetch_candidates(usage)
        if c.asset.pk in locked or deduction.static_refusal(c, usage) is not None
    ]
    for c in fresh:
        if c.asset.pk in locked:
            c.asset = locked[c.asset.pk]
    hour = deduction.hour_of(usage.usage_start)
    capacities: dict[int, deduction.Capacity] = {}
    hours: dict[int, AssetHour] = {}
    for c in fresh:
        asset = c.asset
        if asset.pk not in locked or deduction.static_refusal(c, usage):
            continue
        deductor = deduction.deductor_for(asset.type)
        if deductor.hourly:
            money_cap, unit_cap = deductor.hour_caps(asset)
            bucket = lock_hour(asset, hour, cap=money_cap, unit_cap=unit_cap)
            hours[asset.pk] = bucket
            capacities[asset.pk] = deduction.Capacity(
                money=None if money_cap is None else money_cap - bucket.drawn,
                units=None if unit_cap is None else unit_cap - bucket.units_used,
                hour_id=bucket.pk,
            )
        else:
            capacities[asset.pk] = deduction.Capacity(money=asset.remaining)
    decision = deduction.decide(usage, fresh, capacities)
    legs = []
    for draw in decision.draws:
        if draw.hour_id is not None:
            bucket = hours[draw.asset.pk]
            legs.append(increase(bucket, "drawn", draw.amount))
        else:
            legs.append(decrease(draw.asset, "remaining", draw.amount))
    return decision, legs


def lock_hour(asset: Asset, hour: datetime, *, cap, unit_cap) -> AssetHour:
    """Lock (creating it if need be) one hour of an hourly asset; the asset
    is locked already (assets rank before their hours)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sharing_assethour (asset_id, hour, currency, drawn, cap,"
            " units_used, unit_cap) VALUES (%s, %s, %s, 0, %s, 0, %s)"
            " ON CONFLICT (asset_id, hour)"
            " DO UPDATE SET drawn = sharing_assethour.drawn"
            " RETURNING id, drawn, units_used",
            [asset.pk, hour, asset.currency, cap, unit_cap],
        )
        pk, drawn, units_used = cursor.fetchone()
    bucket = AssetHour(
        id=pk,
        asset=asset,
        hour=hour,
        currency=asset.currency,
        drawn=drawn,
        cap=cap,
        units_used=units_used,
        unit_cap=unit_cap,
    )
    bucket._state.adding = False
    return ledger.adopt_locked(bucket)


def _write_deductions(usage: UsageRecord, decision) -> None:
    if not decision.draws:
        return
    Deduction.objects.bulk_create(
        Deduction(
            usage=usage,
            position=n,
            asset=draw.asset,
            owner_id=draw.asset.owner_id,
            beneficiary_id=usage.account_id,
            amount=draw.amount,
            capacity_before=draw.before,
            capacity_after=draw.after,
            hour_id=draw.hour_id,
            units=draw.units,
            usage_start=usage.usage_start,
        )
        for n, draw in enumerate(decision.draws)
    )
    units = [(d.hour_id, d.units) for d in decision.draws if d.units]
    for hour_id, used in units:
        AssetHour.objects.filter(pk=hour_id).update(units_used=F("units_used") + used)
    exhausted = [
        d.asset.pk
        for d in decision.draws
        if d.hour_id is None and d.after is not None and d.after <= 0
    ]
    if exhausted:
        # No history row here: pricing usage is a money path (statements are
        # pinned), and the capacity reaching zero is in the ledger and in the
        # deduction log (capacity_after) with the usage record that used it.
        Asset.objects.filter(pk__in=exhausted, status=Asset.Status.ACTIVE).update(
            status=Asset.Status.EXHAUSTED
        )


def _set_status(assets, status: str) -> int:
    """Set ``status`` on ``assets`` (a queryset), with their history rows."""
    changed = list(assets)
    Asset.objects.filter(pk__in=[a.pk for a in changed]).update(status=status)
    for asset in changed:
        asset.status = status
    record_changes(changed)
    return len(changed)


# --- bill runs: the same rule, set-wise -----------------------------------------------

#: The deduction legs of a batch (``charge_usage_batch(deductions=…)``).
BATCH_DEDUCTIONS = "usage_batch_deductions"


class _RecordCapacities(dict):
    """What one record of a batch may draw on, as ``decide`` reads it: the
    remaining book of each asset (one ``Capacity`` for the whole batch) and,
    for hourly assets, the bucket of the record's hour (one per bucket), so
    what a record takes is what the next one finds left."""

    def __init__(self, money: dict, hourly: dict, hour: datetime):
        super().__init__()
        self.money, self.hourly, self.hour = money, hourly, hour

    def __missing__(self, asset_id: int) -> deduction.Capacity:
        capacity = self.money.get(asset_id)
        if capacity is None:
            capacity = self.hourly[(asset_id, self.hour)]
        return capacity


def deduct_batch(*, table: str) -> str | None:
    """Decide the deductions of a batch of usage records (a table of
    ``accounts.services.charge_usage_batch`` whose rows' usage records are
    written, found by their reserved charge ids) and write everything of them
    but the charge: the deduction log, instance-hours used, exhausted
    statuses, and each record's charged amount and skipped assets. Return
    the table of deduction legs to pass to ``charge_usage_batch``, or None
    when no record of the batch has a candidate asset (the pure-SQL path).

    The same rule as ``record_usage``, record by record in the batch's order
    (``row_id``): the candidates of each record, ``decide`` with capacities
    shared by the batch's records. Locks in the global order: the payers,
    the candidate assets (by id), then the asset hours that records may draw
    on (by asset, hour), each kind in one statement.
    """
    ids_by_account = deduction.candidate_ids(table)
    if not ids_by_account:
        return None
    lock_payers(table=table)
    asset_ids = sorted(set().union(*ids_by_account.values()))
    # Periods and statuses read after the assets' locks cannot change under us.
    assets: dict[int, Asset] = {
        a.pk: a for a in lock(*(Asset(pk=pk) for pk in asset_ids))
    }
    candidates = deduction.load_candidates_of(assets, ids_by_account)
    # Pass 1: each record's candidates, and the hours it may draw on.
    records = []
    wanted: dict[tuple[int, datetime], Asset] = {}
    for row_id, usage in _batch_records(table, sorted(candidates)):
        at = usage.usage_start
        mine = [
            c for c in candidates[usage.account_id] if deduction.in_window(c.asset, at)
        ]
        if not mine:
            continue  # as record_usage: no candidate, nothing locked or logged
        hour = deduction.hour_of(at)
        for c in mine:
            if deduction.deductor_for(c.asset.type).hourly and (
                deduction.static_refusal(c, usage) is None
            ):
                wanted[(c.asset.pk, hour)] = c.asset
        records.append((row_id, usage, mine, hour))
    hourly = _lock_hours(wanted)
    money = {
        pk: deduction.Capacity(money=a.remaining)
        for pk, a in assets.items()
        if not deduction.deductor_for(a.type).hourly
    }
    # Pass 2: decide in order, each record drawing on what the earlier left.
    legs, logged, priced = [], [], []
    units: dict[int, Decimal] = {}
    exhausted: set[int] = set()
    for row_id, usage, mine, hour in records:
        decision = deduction.decide(usage, mine, _RecordCapacities(money, hourly, hour))
        for n, draw in enumerate(decision.draws):
            asset = draw.asset
            if draw.hour_id is not None:
                legs.append(
                    (row_id, n, "asset_hour", draw.hour_id, "drawn", draw.amount)
                )
            else:
                legs.append((row_id, n, "asset", asset.pk, "remaining", -draw.amount))
                if draw.after is not None:
                    # What the next record's fresh lock would have read.
                    asset.remaining = draw.after
                    if draw.after <= 0:
                        exhausted.add(asset.pk)
                        if asset.status == Asset.Status.ACTIVE:
                            asset.status = Asset.Status.EXHAUSTED
            if draw.units:
                assert draw.hour_id is not None, "instance-hours are drawn by the hour"
                units[draw.hour_id] = units.get(draw.hour_id, ZERO) + draw.units
            logged.append(
                (usage.pk, n, asset.pk, asset.owner_id, usage.account_id, draw.amount,
                 draw.before, draw.after, draw.hour_id, draw.units, usage.usage_start)
            )  # fmt: skip
        if decision.draws or decision.skipped:
            priced.append(
                (usage.pk, usage.amount - decision.deducted,
                 json.dumps(decision.skipped))
            )  # fmt: skip
    _write_batch(legs, logged, priced, units, exhausted)
    return BATCH_DEDUCTIONS


#: Fields of a usage record that pricing does not read, left deferred when a
#: bill run loads its records (an extra rule that reads one loads it then).
_NOT_READ_BY_PRICING = {"usage_end", "billed_at", "received_at", "skipped"}


def _batch_records(table: str, account_ids: list[int]):
    """(row_id, usage record) of the batch's rows of ``account_ids``, in order."""
    fields = [
        f
        for f in UsageRecord._meta.concrete_fields
        if f.attname not in _NOT_READ_BY_PRICING
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(f"u.{quote(str(f.column))}" for f in fields)
    names = {f.attname for f in fields}
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT b.row_id, {columns}
              FROM {table} b JOIN sharing_usagerecord u ON u.charge_id = b.charge_id
             WHERE b.usage_account_id = ANY(%s::bigint[])
             ORDER BY b.row_id
            """,
            [account_ids],
        )
        rows = cur.fetchall()
    for row in rows:
        yield row[0], UsageRecord.from_db(connection.alias, names, row[1:])


def _lock_hours(
    wanted: dict[tuple[int, datetime], Asset],
) -> dict[tuple[int, datetime], deduction.Capacity]:
    """``lock_hour`` for many (asset, hour) at once: the pairs by ``COPY``,
    then one upsert in (asset, hour) order whose no-op update locks the
    buckets that exist."""
    if not wanted:
        return {}
    caps = {}
    rows = []
    for asset_id, hour in sorted(wanted):
        asset = wanted[(asset_id, hour)]
        money_cap, unit_cap = deduction.deductor_for(asset.type).hour_caps(asset)
        caps[(asset_id, int(hour.timestamp()))] = (hour, money_cap, unit_cap)
        rows.append((asset_id, hour, asset.currency, money_cap, unit_cap))
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS usage_batch_hours (asset_id bigint,"
            " hour timestamptz, currency varchar(3), cap numeric(15, 2),"
            " unit_cap numeric(18, 6))"
        )
        cur.execute("TRUNCATE usage_batch_hours")
        _copy(cur, "usage_batch_hours", rows)
        # The hour comes back as epoch seconds: no timestamp to parse per row.
        cur.execute(
            """
            INSERT INTO sharing_assethour (asset_id, hour, currency, drawn, cap,
                units_used, unit_cap)
            SELECT asset_id, hour, currency, 0, cap, 0, unit_cap
              FROM usage_batch_hours ORDER BY asset_id, hour
            ON CONFLICT (asset_id, hour)
            DO UPDATE SET drawn = sharing_assethour.drawn
            RETURNING id, asset_id, extract(epoch FROM hour)::bigint, drawn,
                      units_used
            """
        )
        locked = cur.fetchall()
    hourly = {}
    for pk, asset_id, epoch, drawn, units_used in locked:
        hour, money_cap, unit_cap = caps[(asset_id, epoch)]
        hourly[(asset_id, hour)] = deduction.Capacity(
            money=None if money_cap is None else money_cap - drawn,
            units=None if unit_cap is None else unit_cap - units_used,
            hour_id=pk,
        )
    return hourly


def _write_batch(legs, logged, priced, units, exhausted) -> None:
    """The decisions of a batch, set-wise: legs for the charge, the deduction
    log (``COPY``), instance-hours and statuses (one update each), the
    records' charged amounts and skipped assets (one update)."""
    create_deductions_table(BATCH_DEDUCTIONS)
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS usage_batch_priced (usage_id bigint"
            " PRIMARY KEY, charged numeric(15, 2) NOT NULL, skipped jsonb NOT NULL)"
        )
        cur.execute("TRUNCATE usage_batch_priced")
        _copy(
            cur,
            f"{BATCH_DEDUCTIONS} (row_id, position, holder_type, holder_id, book,"
            " delta)",
            legs,
        )
        now = timezone.now()
        _copy(
            cur,
            "sharing_deduction (usage_id, position, asset_id, owner_id,"
            " beneficiary_id, amount, capacity_before, capacity_after, hour_id,"
            " units, usage_start, created_at)",
            [(*row, now) for row in logged],
        )
        if units:
            hour_ids = sorted(units)
            cur.execute(
                """
                UPDATE sharing_assethour h SET units_used = h.units_used + v.used
                  FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, used)
                 WHERE h.id = v.id
                """,
                [hour_ids, [units[pk] for pk in hour_ids]],
            )
        if exhausted:
            cur.execute(
                "UPDATE sharing_asset SET status = %s WHERE id = ANY(%s::bigint[])"
                " AND status = %s",
                [Asset.Status.EXHAUSTED, sorted(exhausted), Asset.Status.ACTIVE],
            )
        if priced:
            _copy(cur, "usage_batch_priced (usage_id, charged, skipped)", priced)
            cur.execute(
                """
                UPDATE sharing_usagerecord u
                   SET charged_amount = p.charged, skipped = p.skipped
                  FROM usage_batch_priced p WHERE u.id = p.usage_id
                """
            )


def _copy(cur, target: str, rows: list) -> None:
    if not rows:
        return
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _same_or_conflict(existing: UsageRecord, candidate: UsageRecord) -> UsageRecord:
    for name in CONTENT_FIELDS:
        if getattr(existing, name) != getattr(candidate, name):
            raise UsageConflict(
                [reason("external_id_conflict", external_id=existing.external_id)]
            )
    return existing


# --- sweeps and checks ----------------------------------------------------------------


def expire_assets() -> int:
    """Mark assets whose validity ended (the periodic sweep); their capacity
    stays on the book (late bills for usage inside validity still deduct)."""
    with transaction.atomic():
        return _set_status(
            Asset.objects.filter(
                valid_until__lte=timezone.now(),
                status__in=[Asset.Status.ACTIVE, Asset.Status.EXHAUSTED],
            )
            .order_by("pk")
            .select_for_update(no_key=True),
            Asset.Status.EXPIRED,
        )


def check_deductions() -> list[str]:
    """The deduction log against the ledger (a ``check_ledger`` check): each
    asset hour's drawn amount and instance-hours are its deductions', and each
    asset's usage legs on its remaining book are its deductions'."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT h.id, h.drawn, coalesce(sum(d.amount), 0),
                   h.units_used, coalesce(sum(d.units), 0)
              FROM sharing_assethour h
              LEFT JOIN sharing_deduction d ON d.hour_id = h.id
             GROUP BY h.id
            HAVING h.drawn <> coalesce(sum(d.amount), 0)
                OR h.units_used <> coalesce(sum(d.units), 0)
             ORDER BY h.id
            """
        )
        problems = [
            f"asset hour {pk}: drawn {drawn} / {units} instance-hours, deductions "
            f"{logged} / {logged_units}"
            for pk, drawn, logged, units, logged_units in cur
        ]
        cur.execute(
            """
            WITH legs AS (
                SELECT p.holder_id AS asset_id, sum(p.amount) AS total
                  FROM accounts_posting p
                  JOIN accounts_movement m ON m.id = p.movement_id
                 WHERE p.holder_type = 'asset' AND p.book = 'remaining'
                   AND m.kind = 'usage_charge'
                 GROUP BY p.holder_id),
            logged AS (
                SELECT asset_id, sum(amount) AS total FROM sharing_deduction
                 WHERE hour_id IS NULL GROUP BY asset_id)
            SELECT coalesce(l.asset_id, g.asset_id), coalesce(l.total, 0),
                   coalesce(g.total, 0)
              FROM legs l FULL JOIN logged g ON g.asset_id = l.asset_id
             WHERE coalesce(l.total, 0) <> coalesce(g.total, 0)
            """
        )
        problems += [
            f"asset {pk}: usage legs {legs}, deductions {logged}"
            for pk, legs, logged in cur
        ]
    return problems
