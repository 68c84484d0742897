"""Reads of equity asset sharing: what a user may see (through the accounts
app's visibility rules, as correlated EXISTS so one object is checked through
an index) and the questions the screens answer (who had an asset at t, what
an account receives, what each beneficiary saved)."""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, AccountAccess, Company, Folder
from accounts.selectors import (
    MANAGING,
    can_manage,
    can_see_account,
    currency_reasons,
    get_subtree_ids,
    list_visible_accounts,
    list_visible_companies,
)
from billing_portal import roles
from billing_portal.errors import ActionForbidden, Reason, reason
from billing_portal.timezones import format_instant

from .models import (
    RECIPIENT_LIMIT,
    Asset,
    AssetHour,
    Deduction,
    Share,
    SharePeriod,
    SharingRule,
    UsageRecord,
    active_at_q,
)


def _visible(user, ref: str) -> Exists:
    return Exists(list_visible_accounts(user).filter(pk=OuterRef(ref)))


def list_visible_assets(user) -> QuerySet[Asset]:
    """Assets whose owner the user may see, or shared (now or before) with an
    account the user may see (SPEC §4.2: a recipient sees what it receives)."""
    qs = Asset.objects.select_related("owner")
    if roles.is_operator(user):
        return qs
    received = SharePeriod.objects.filter(asset=OuterRef("pk")).filter(
        _visible(user, "recipient_id")
    )
    return qs.filter(Q(_visible(user, "owner_id")) | Q(Exists(received)))


def with_recipient_count(assets: QuerySet[Asset]) -> QuerySet[Asset]:
    """Annotate ``recipient_count``: the accounts each asset is shared with now
    (open periods), one subquery for a whole list (``count_recipients`` for one)."""
    open_periods = (
        SharePeriod.objects.filter(asset=OuterRef("pk"), end__isnull=True)
        .order_by()
        .values("asset")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return assets.annotate(recipient_count=Coalesce(Subquery(open_periods), Value(0)))


def get_folder_share(asset: Asset, folder) -> Share | None:
    """The asset's share with ``folder``: the one in force (pending, active or
    failed), else the latest stopped one; None if it was never shared with it."""
    shares = asset.shares.filter(target=Share.Target.FOLDER, folder=folder)
    in_force = shares.exclude(status=Share.Status.STOPPED).order_by("-id").first()
    return in_force or shares.order_by("-id").first()


def sees_every_recipient(user, asset: Asset) -> bool:
    """Whoever may see the asset's owner sees all its shares and recipients;
    a recipient's administrators see only what concerns accounts they see."""
    return roles.is_operator(user) or can_see_account(user, asset.owner)


def list_visible_shares(user, asset: Asset) -> QuerySet[Share]:
    """The asset's shares the user may see: all of them for those who see the
    owner; else shares with accounts it sees and with its companies' folders."""
    qs = list_shares(asset)
    if sees_every_recipient(user, asset):
        return qs
    return qs.filter(
        Q(_visible(user, "account_id"))
        | Q(folder__company__in=list_visible_companies(user))
    )


def list_visible_recipients(
    user, asset: Asset, *, active_at: datetime | None = None
) -> QuerySet[SharePeriod]:
    """``list_recipients`` limited like ``list_visible_shares``."""
    qs = list_recipients(asset, active_at=active_at)
    if sees_every_recipient(user, asset):
        return qs
    return qs.filter(_visible(user, "recipient_id"))


def list_visible_usage(user) -> QuerySet[UsageRecord]:
    """Usage records of accounts the user may see (also members' under
    ``CHECK_TARGET_CONSUMPTION``, which the accounts' visibility includes)."""
    qs = UsageRecord.objects.select_related("account", "payer")
    if roles.is_operator(user):
        return qs
    return qs.filter(_visible(user, "account_id"))


def with_deductions(usage: QuerySet[UsageRecord]) -> QuerySet[UsageRecord]:
    """Usage records with their deductions (and each one's asset) in one more
    query for a whole list, in deduction order."""
    return usage.prefetch_related(
        Prefetch(
            "deductions",
            queryset=Deduction.objects.select_related("asset").order_by("position"),
        )
    )


def list_visible_deductions(user) -> QuerySet[Deduction]:
    """Deductions the user may see: of its accounts' usage, or drawn from
    assets its accounts own (an owner sees who its shared assets served)."""
    qs = Deduction.objects.select_related("asset", "owner", "beneficiary", "usage")
    if roles.is_operator(user):
        return qs
    return qs.filter(
        Q(_visible(user, "beneficiary_id")) | Q(_visible(user, "owner_id"))
    )


def list_visible_sharing_rules(user) -> QuerySet[SharingRule]:
    qs = SharingRule.objects.select_related("owner", "folder").prefetch_related(
        "accounts"
    )
    if roles.is_operator(user):
        return qs
    return qs.filter(_visible(user, "owner_id"))


def list_shares(asset: Asset) -> QuerySet[Share]:
    return asset.shares.select_related("account", "folder", "rule").order_by("-id")


def list_recipients(asset: Asset, *, active_at: datetime | None = None):
    """The asset's share periods (history kept), or those covering ``active_at``."""
    qs = asset.periods.select_related("recipient", "share").order_by("start", "id")
    if active_at is not None:
        qs = qs.filter(active_at_q(active_at))
    return qs


def count_recipients(asset: Asset) -> int:
    """Accounts the asset is shared with now (open periods; SPEC §4.2's limit)."""
    return asset.periods.filter(end__isnull=True).count()


def recipient_limit() -> int:
    return RECIPIENT_LIMIT


def list_eligible_recipients(asset: Asset) -> QuerySet[Account]:
    """Accounts the asset may be shared with: the owner's verified company's
    other accounts (SPEC §4.2). Empty when the company is not verified."""
    return list_owner_recipients(asset.owner)


def list_owner_recipients(owner: Account) -> QuerySet[Account]:
    """Accounts that ``owner``'s assets may be shared with (its verified
    company's other accounts in its currency): the share form's and the rule
    form's picker."""
    company = owner.company
    if company is None or company.verification_status != Company.Verification.VERIFIED:
        return Account.objects.none()
    return (
        Account.objects.filter(company=company, currency=owner.currency)
        .exclude(pk=owner.pk)
        .order_by("uid")
    )


def list_benefits_of(account: Account) -> QuerySet[SharePeriod]:
    """Assets shared with the account, now and in the past (its page)."""
    return (
        SharePeriod.objects.filter(recipient=account)
        .select_related("asset", "asset__owner")
        .order_by("-start", "-id")
    )


def chargeback(assets: QuerySet[Asset], *, start: datetime, end: datetime):
    """Savings attributed to each beneficiary of each asset for usage that
    started in ``[start, end)``: rows of asset, beneficiary, records, amount."""
    return (
        Deduction.objects.filter(
            asset__in=assets.values("pk"), usage_start__gte=start, usage_start__lt=end
        )
        .values(
            "asset",
            "asset__type",
            "asset__currency",
            "owner",
            "owner__uid",
            "owner__name",
            "beneficiary",
            "beneficiary__uid",
            "beneficiary__name",
        )
        .annotate(records=Count("usage", distinct=True), amount=Sum("amount"))
        .order_by("asset", "beneficiary__uid")
    )


# --- the admin's screens ------------------------------------------------------------


def sees_owner(user, asset: Asset) -> bool:
    """The user may see the asset's owner account: the whole asset page (its
    shares, every recipient, every deduction), not only what it receives."""
    if roles.is_operator(user):
        return True
    return list_visible_accounts(user).filter(pk=asset.owner_id).exists()


def list_all_visible_shares(user) -> QuerySet[Share]:
    """Shares the user may see: those of assets whose owner it sees, and those
    that reach (now or before) an account it sees."""
    qs = Share.objects.select_related(
        "asset", "asset__owner", "account", "folder", "rule"
    )
    if roles.is_operator(user):
        return qs
    reached = SharePeriod.objects.filter(share=OuterRef("pk")).filter(
        _visible(user, "recipient_id")
    )
    return qs.filter(
        Q(_visible(user, "asset__owner_id"))
        | Q(_visible(user, "account_id"))
        | Q(Exists(reached))
    )


def list_failed_folder_shares(user) -> QuerySet[Share]:
    """Folder shares the user sees that the worker could not apply (the home
    page's count): shared again or stopped, they leave this state."""
    return list_all_visible_shares(user).filter(
        status=Share.Status.FAILED, target=Share.Target.FOLDER
    )


def list_asset_shares(user, asset: Asset) -> QuerySet[Share]:
    """The asset's shares on its page: all of them for whoever sees the owner,
    else those that reach the user's own accounts."""
    shares = list_shares(asset)
    if sees_owner(user, asset):
        return shares
    return shares.filter(pk__in=list_all_visible_shares(user).values("pk"))


def list_recipient_periods(user, asset: Asset) -> QuerySet[SharePeriod]:
    """The asset's share periods the user may see (history kept): every
    recipient's for whoever sees the owner, else its own accounts'."""
    periods = list_recipients(asset)
    if sees_owner(user, asset):
        return periods
    return periods.filter(_visible(user, "recipient_id"))


def list_open_recipient_ids(asset: Asset) -> set[int]:
    return set(
        asset.periods.filter(end__isnull=True).values_list("recipient_id", flat=True)
    )


def share_permission_refusals(user, asset: Asset) -> list[Reason]:
    """The 403 of ``ensure_can_share`` as reasons: empty when the user
    administers the asset's owner (only then are share buttons shown)."""
    try:
        ensure_can_share(user, asset)
    except ActionForbidden as err:
        return list(err.reasons)
    return []


def shares_permission_blocks(user, asset: Asset) -> list[Reason]:
    """Why the user cannot change the asset's shares at all (share or stop):
    not the owner's administrator, a recipient's administrator, or the
    owner's company not verified (the services' own checks)."""
    reasons = share_permission_refusals(user, asset)
    if reasons:
        return reasons
    # The service's company check with no recipient yet: an unverified company.
    return company_refusals(asset.owner, [])


def share_blocks(user, asset: Asset) -> list[Reason]:
    """Why the user cannot share the asset whatever it chooses (its "Share"
    button is disabled with these): ``shares_permission_blocks``, an asset
    that expired, is used up or was revoked, or one that already has the most
    recipients at a time (any new one is the service's
    ``recipient_limit_exceeded``). Empty when it may share."""
    reasons = shares_permission_blocks(user, asset)
    if reasons:
        return reasons
    reasons = asset_state_refusals(asset)
    count = count_recipients(asset)
    if count >= RECIPIENT_LIMIT:
        reasons.append(limit_reason(count + 1))
    return reasons


def count_after_share(asset: Asset, accounts) -> int:
    """Recipients the asset would have at once after sharing with ``accounts``."""
    return len(list_open_recipient_ids(asset) | {a.pk for a in accounts})


def share_refusals(asset: Asset, accounts) -> list[Reason]:
    """Every reason ``share_with_accounts`` would refuse these accounts (read
    without locks, for the form; the service checks again under the asset's
    lock), in the service's own sentences."""
    accounts = list(accounts)
    reasons = asset_state_refusals(asset)
    reasons += company_refusals(asset.owner, accounts)
    total = count_after_share(asset, accounts)
    if total > RECIPIENT_LIMIT:
        reasons.append(limit_reason(total))
    return reasons


@dataclass(frozen=True)
class FolderPreview:
    members: int  # accounts of the company in the folder's subtree (not the owner)
    joining: int  # of them, not receiving the asset now
    total: int  # recipients at once after the worker resolves the share

    @property
    def over_limit(self) -> bool:
        return self.total > RECIPIENT_LIMIT


def preview_folder_share(asset: Asset, folder: Folder) -> FolderPreview:
    """What resolving a new share with ``folder`` would do now (the worker
    decides again when it runs, about a minute later)."""
    members = set(
        Account.objects.filter(
            folder__in=get_subtree_ids(folder), company=asset.owner.company_id
        )
        .exclude(pk=asset.owner_id)
        .values_list("pk", flat=True)
    )
    current = list_open_recipient_ids(asset)
    return FolderPreview(
        members=len(members),
        joining=len(members - current),
        total=len(current | members),
    )


def list_share_targets(asset: Asset) -> QuerySet[Account]:
    """The share form's picker: eligible recipients not receiving it now."""
    return list_eligible_recipients(asset).exclude(
        pk__in=asset.periods.filter(end__isnull=True).values("recipient")
    )


def list_managed_accounts(user) -> QuerySet[Account]:
    """Accounts the user administers (owner or manage): rule owners."""
    qs = Account.objects.select_related("company").order_by("uid")
    if roles.is_operator(user):
        return qs
    return qs.filter(access__user=user, access__permission__in=MANAGING)


def list_chargeback_assets(user) -> QuerySet[Asset]:
    """Assets ever shared whose owner the user sees (the owner's chargeback)."""
    shared = SharePeriod.objects.filter(asset=OuterRef("pk"))
    qs = Asset.objects.select_related("owner").filter(Exists(shared))
    if roles.is_operator(user):
        return qs
    return qs.filter(_visible(user, "owner_id"))


def _hour_total(field: str) -> Subquery:
    totals = (
        AssetHour.objects.filter(asset=OuterRef("pk"))
        .order_by()
        .values("asset")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Subquery(totals, output_field=DecimalField(max_digits=24, decimal_places=6))


def with_hour_totals(assets: QuerySet[Asset]) -> QuerySet[Asset]:
    """Annotate what hourly assets drew over all their hours (money and
    instance-hours), one subquery each for a whole list."""
    return assets.annotate(
        drawn_total=_hour_total("drawn"), units_total=_hour_total("units_used")
    )


@dataclass(frozen=True)
class Utilisation:
    """How much of what the asset offered so far was used.

    Capacity assets (SCU packages, coupons): used = capacity - remaining, of
    the capacity. Hourly assets: what was deducted over the clock hours of its
    validity up to now (the current hour counted whole), of the commitment per
    hour (money) or the instance count (instance-hours) times those hours.
    """

    used: Decimal
    offered: Decimal
    unit: str  # "money" or "instance_hours"
    hours: int | None = None

    @property
    def percent(self) -> Decimal | None:
        if not self.offered:
            return None
        return (self.used * 100 / self.offered).quantize(Decimal("0.1"))


def elapsed_hours(asset: Asset, at: datetime) -> int:
    """Clock hours of the asset's validity that began before ``at``."""
    end = min(at, asset.valid_until)
    first = asset.valid_from.replace(minute=0, second=0, microsecond=0)
    if end <= asset.valid_from:
        return 0
    return math.ceil((end - first).total_seconds() / 3600)


def get_utilisation(asset: Asset, *, at: datetime | None = None) -> Utilisation:
    """The asset's utilisation (reads ``with_hour_totals`` when annotated)."""
    at = at or timezone.now()
    if asset.has_capacity_book:
        capacity = asset.capacity or Decimal(0)
        return Utilisation(
            used=capacity - asset.remaining, offered=capacity, unit="money"
        )
    hours = elapsed_hours(asset, at)
    if not hasattr(asset, "drawn_total"):
        totals = asset.hours.aggregate(drawn=Sum("drawn"), units=Sum("units_used"))
        drawn, units = totals["drawn"], totals["units"]
    else:
        annotated: Any = asset  # with_hour_totals' annotations
        drawn, units = annotated.drawn_total, annotated.units_total
    if asset.type == Asset.Type.RESERVED_INSTANCE:
        return Utilisation(
            used=units or Decimal(0),
            offered=Decimal(asset.count or 0) * hours,
            unit="instance_hours",
            hours=hours,
        )
    return Utilisation(
        used=drawn or Decimal(0),
        offered=(asset.commitment_per_hour or Decimal(0)) * hours,
        unit="money",
        hours=hours,
    )


def get_current_hour(asset: Asset, *, at: datetime | None = None) -> AssetHour | None:
    """The hour bucket of an hourly asset for the clock hour of ``at``."""
    at = at or timezone.now()
    return asset.hours.filter(
        hour=at.replace(minute=0, second=0, microsecond=0)
    ).first()


def count_folder_recipients(share: Share) -> int:
    """Accounts receiving the asset through this (folder) share now."""
    return share.periods.filter(end__isnull=True).count()


def list_visible_accounts_owning_shared_assets(user) -> QuerySet[Account]:
    """The chargeback's owner choices: accounts the user sees that own an
    asset ever shared."""
    owned = Asset.objects.filter(owner=OuterRef("pk")).filter(
        Exists(SharePeriod.objects.filter(asset=OuterRef("pk")))
    )
    return list_visible_accounts(user).filter(Exists(owned)).order_by("uid")


# --- the rules of sharing (the services check them again under the asset's lock)


def ensure_can_share(user, asset: Asset) -> None:
    """403 unless the user administers the asset's owner (SPEC §4.2): a
    recipient's administrator gets ``reshare_not_allowed``, anyone else who
    may see the asset ``not_owner``."""
    if can_manage(user, asset.owner):
        return
    administers_a_recipient = AccountAccess.objects.filter(
        user=user,
        permission__in=MANAGING,
        account__in=SharePeriod.objects.filter(asset=asset).values("recipient"),
    ).exists()
    if administers_a_recipient:
        raise ActionForbidden([reason("reshare_not_allowed", asset=asset.pk)])
    raise ActionForbidden([reason("not_owner", asset=asset.pk)])


def company_refusals(owner: Account, recipients: list[Account]) -> list[Reason]:
    """The company rules of sharing (SPEC §4.2): the owner's company verified,
    every recipient in it and in the asset's currency (usage records carry the
    account's currency: another currency could never be deducted), the owner
    never its own recipient."""
    reasons: list[Reason] = []
    company: Company | None = owner.company
    if company is None or company.verification_status != Company.Verification.VERIFIED:
        reasons.append(reason("company_not_verified", account=owner.uid))
    for account in recipients:
        if account.pk == owner.pk:
            reasons.append(reason("same_account", variant="share", account=owner.uid))
        elif account.company_id != owner.company_id:
            reasons.append(
                reason("different_company", source=owner.uid, destination=account.uid)
            )
        else:
            reasons += currency_reasons(owner, account)
    return reasons


def asset_state_refusals(asset: Asset) -> list[Reason]:
    """An asset that expired, is used up or was revoked is shared with nobody
    new: a share period starting now could never deduct anything."""
    if asset.status == Asset.Status.ACTIVE:
        return []
    return [
        reason(
            "asset_not_active",
            variant=asset.status,
            asset=asset.pk,
            until=format_instant(asset.valid_until),
        )
    ]


def _folder_subtrees(asset: Asset) -> list[tuple[Folder, set[int]]]:
    """The asset's active folder shares: each folder and its subtree's ids."""
    shares = Share.objects.select_related("folder").filter(
        asset=asset, target=Share.Target.FOLDER, status=Share.Status.ACTIVE
    )
    return [
        (share.folder, set(get_subtree_ids(share.folder)))
        for share in shares
        if share.folder is not None
    ]


def _stop_refusals(account: Account, folder_id, open_ids, subtrees) -> list[Reason]:
    if account.pk not in open_ids:
        return [reason("invalid_state", variant="not_shared", account=account.uid)]
    for folder, ids in subtrees:
        if folder_id in ids:
            return [
                reason(
                    "invalid_state",
                    variant="shared_through_folder",
                    account=account.uid,
                    folder=folder.name,
                )
            ]
    return []


def stop_share_refusals(asset: Asset, account: Account) -> list[Reason]:
    """Why ``account``'s share of the asset cannot be stopped now (the service
    checks it under the asset's lock, the asset page before offering "Stop"):
    it does not receive the asset, or receives it through a folder share."""
    receiving = asset.periods.filter(recipient=account, end__isnull=True).exists()
    if not receiving:
        return _stop_refusals(account, None, set(), [])
    # The folder as it is now, not as the caller loaded the account.
    folder_id = (
        Account.objects.filter(pk=account.pk).values_list("folder", flat=True).first()
    )
    return _stop_refusals(account, folder_id, {account.pk}, _folder_subtrees(asset))


def share_stop_refusals(shares: list[Share], asset: Asset) -> dict[int, list]:
    """Why each of the asset's ``shares`` cannot be stopped, by share id: its
    state (already stopped, an automatic share not applied yet, a failed one),
    then for a share with an account ``stop_share_refusals`` (read for the
    whole page at once). A stopped share's row offers no "Stop"; the others
    show it disabled with these."""
    open_ids = list_open_recipient_ids(asset)
    subtrees = _folder_subtrees(asset) if shares else []
    result = {}
    for share in shares:
        if share.status == Share.Status.STOPPED:
            reasons = [
                reason(
                    "invalid_state",
                    variant="share_stopped",
                    when=format_instant(share.stopped_at, seconds=True),
                )
            ]
        elif share.account is None:  # a folder share: stopped as a whole
            reasons = []
        elif share.status == Share.Status.PENDING:
            reasons = [reason("invalid_state", variant="share_pending")]
        elif share.status == Share.Status.FAILED:
            reasons = [reason("invalid_state", variant="share_failed")]
        else:
            account = share.account
            reasons = _stop_refusals(account, account.folder_id, open_ids, subtrees)
        result[share.pk] = reasons
    return result


def limit_reason(count: int) -> Reason:
    return reason("recipient_limit_exceeded", limit=RECIPIENT_LIMIT, count=count)


# --- the asset page's pictures: one statement per chart, one row per day --------

#: An asset's charts cover at most this many days (the last of its validity).
ASSET_HISTORY_DAYS = 90
_HOUR = timedelta(hours=1)


def _day_start(day: date) -> datetime:
    """Midnight starting ``day`` in the active (the user's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def get_asset_history_days(asset: Asset) -> tuple[date, date] | None:
    """The first and last day (the user's days) of the asset's charts: its
    validity up to today, at most the last ``ASSET_HISTORY_DAYS``; None
    before the validity begins."""
    last = min(
        timezone.localdate(),
        timezone.localdate(asset.valid_until - timedelta(microseconds=1)),
    )
    first = max(
        timezone.localdate(asset.valid_from),
        last - timedelta(days=ASSET_HISTORY_DAYS - 1),
    )
    return None if last < first else (first, last)


@dataclass(frozen=True)
class RemainingDay:
    day: date
    #: The ``remaining`` book at the end of the day; None before it was provisioned.
    remaining: Decimal | None


def get_remaining_history(asset: Asset, first: date, last: date) -> list[RemainingDay]:
    """An SCU package's or a coupon's ``remaining`` book at the end of each
    day from ``first`` to ``last``, from the ledger's ``balance_after``: the
    last leg of each day in the window, the last one before it for the days
    before the first leg, carried over the days without a leg (one statement)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH closing AS (
                SELECT DISTINCT ON (day)
                       (m.posted_at AT TIME ZONE %(zone)s)::date AS day,
                       p.balance_after AS balance
                  FROM accounts_posting p
                  JOIN accounts_movement m ON m.id = p.movement_id
                 WHERE p.holder_type = 'asset' AND p.holder_id = %(asset)s
                   AND p.book = 'remaining'
                   AND m.posted_at >= %(start)s AND m.posted_at < %(until)s
                 ORDER BY day, p.id DESC
            ), opening AS (
                SELECT p.balance_after AS balance
                  FROM accounts_posting p
                  JOIN accounts_movement m ON m.id = p.movement_id
                 WHERE p.holder_type = 'asset' AND p.holder_id = %(asset)s
                   AND p.book = 'remaining' AND m.posted_at < %(start)s
                 ORDER BY p.id DESC
                 LIMIT 1
            ), runs AS (
                -- A run: a day with a closing balance and the days after it
                -- without one (run 0: the days before the first such day).
                SELECT d::date AS day, closing.balance,
                       COUNT(closing.balance) OVER (ORDER BY d) AS run
                  FROM generate_series(%(first)s::date, %(last)s::date,
                                       interval '1 day') AS d
                  LEFT JOIN closing ON closing.day = d::date
            )
            SELECT day,
                   CASE WHEN run = 0 THEN (SELECT balance FROM opening)
                        ELSE MAX(balance) OVER (PARTITION BY run) END
              FROM runs
             ORDER BY day
            """,
            {
                "zone": timezone.get_current_timezone_name(),
                "asset": asset.pk,
                "start": _day_start(first),
                "until": _day_start(last + timedelta(days=1)),
                "first": first,
                "last": last,
            },
        )
        return [RemainingDay(*row) for row in cur.fetchall()]


@dataclass(frozen=True)
class HourlyUseDay:
    """What a savings plan or reserved instance offered and what usage drew
    on one day: the clock hours of its validity that began that day (up to
    now, the current hour whole, as ``get_utilisation`` counts them)."""

    day: date
    hours: int
    drawn: Decimal  # money (savings plans)
    units: Decimal  # instance-hours (reserved instances)

    def used(self, asset: Asset) -> Decimal:
        return self.units if asset.type == Asset.Type.RESERVED_INSTANCE else self.drawn

    def offered(self, asset: Asset) -> Decimal:
        if asset.type == Asset.Type.RESERVED_INSTANCE:
            return Decimal(asset.count or 0) * self.hours
        return (asset.commitment_per_hour or Decimal(0)) * self.hours


def get_hourly_use_history(
    asset: Asset, first: date, last: date, *, at: datetime | None = None
) -> list[HourlyUseDay]:
    """Per day from ``first`` to ``last``: the hours offered and the sums of
    the asset's hour buckets (``AssetHour``) drawn that day, in SQL (one
    statement; the hours are a series, the buckets read through their
    ``(asset, hour)`` index)."""
    at = at or timezone.now()
    window_start = _day_start(first).astimezone(UTC)
    # Clock hours as the buckets and ``elapsed_hours`` count them: from the
    # validity's first hour, those starting in the window, before ``end``.
    first_hour = asset.valid_from.astimezone(UTC).replace(
        minute=0, second=0, microsecond=0
    )
    aligned = window_start.replace(minute=0, second=0, microsecond=0)
    if aligned < window_start:
        aligned += _HOUR
    start = max(first_hour, aligned)
    end = min(at, asset.valid_until, _day_start(last + timedelta(days=1)))
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH offered AS (
                SELECT (h AT TIME ZONE %(zone)s)::date AS day, COUNT(*) AS hours
                  FROM generate_series(%(start)s::timestamptz,
                                       %(end)s::timestamptz - interval '1 microsecond',
                                       interval '1 hour') AS h
                 GROUP BY 1
            ), used AS (
                SELECT (hour AT TIME ZONE %(zone)s)::date AS day,
                       SUM(drawn) AS drawn, SUM(units_used) AS units
                  FROM sharing_assethour
                 WHERE asset_id = %(asset)s AND hour >= %(start)s AND hour < %(end)s
                 GROUP BY 1
            )
            SELECT d::date, COALESCE(offered.hours, 0),
                   COALESCE(used.drawn, 0), COALESCE(used.units, 0)
              FROM generate_series(%(first)s::date, %(last)s::date,
                                   interval '1 day') AS d
              LEFT JOIN offered ON offered.day = d::date
              LEFT JOIN used ON used.day = d::date
             ORDER BY d
            """,
            {
                "zone": timezone.get_current_timezone_name(),
                "asset": asset.pk,
                "start": start,
                "end": end,
                "first": first,
                "last": last,
            },
        )
        return [HourlyUseDay(*row) for row in cur.fetchall()]


@dataclass(frozen=True)
class CoverageDay:
    day: date
    #: Accounts receiving the asset at the end of the day (now, for today).
    recipients: int


def get_share_coverage(
    periods: QuerySet[SharePeriod],
    first: date,
    last: date,
    *,
    at: datetime | None = None,
) -> list[CoverageDay]:
    """How many accounts received the asset at the end of each day from
    ``first`` to ``last`` (today: now), counted from ``periods`` (the share
    periods ``[start, end)`` the user may see, ``list_recipient_periods``) in
    one statement: a period counts for a day when it began before the day's
    end and had not ended before it."""
    at = at or timezone.now()
    start, until = _day_start(first), _day_start(last + timedelta(days=1))
    window = (
        periods.filter(start__lt=until)
        .filter(Q(end__isnull=True) | Q(end__gte=start))
        .order_by()
        .values("recipient_id", "start", "end")
    )
    periods_sql, periods_params = window.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH p AS ({periods_sql}),
            days AS (
                SELECT d::date AS day,
                       LEAST((d::date + 1)::timestamp AT TIME ZONE %s,
                             %s::timestamptz) AS t
                  FROM generate_series(%s::date, %s::date, interval '1 day') AS d
            )
            SELECT days.day, COUNT(DISTINCT p.recipient_id)
              FROM days
              LEFT JOIN p ON p.start < days.t
                         AND (p."end" IS NULL OR p."end" >= days.t)
             GROUP BY days.day
             ORDER BY days.day
            """,
            [
                *periods_params,
                timezone.get_current_timezone_name(),
                at,
                first,
                last,
            ],
        )
        return [CoverageDay(*row) for row in cur.fetchall()]
