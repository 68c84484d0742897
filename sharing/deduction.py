"""The deduction engine (SPEC §4.4): which assets deduct a usage record, in
which order, and how much each takes.

One pricing rule for a single record (``POST /usage/``) and for a bill run:
``decide`` is a pure function of the record, its candidate assets and the
capacity left in them (``Capacity``, read from locked rows and updated in
memory as records are decided in usage-start order). Callers lock, decide,
then write the movement and the deduction log.

The deductors are configuration (``settings.SHARING_DEDUCTORS``, in deduction
order: reserved instances → SCU packages → savings plans → coupons), and so
are extra rules (``settings.SHARING_DEDUCTION_RULES``: callables
``(asset, usage) -> reason code | None``), so another app (coupon credit
pools) adds its own without editing this one.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.dispatch import receiver
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from billing_portal.money import ZERO

from .models import Asset, RecipientRule, SharePeriod, UsageRecord

CENT = Decimal("0.01")

#: How far outside its validity an asset is still listed as a candidate, so a
#: record's page can say "outside the validity" for the asset a customer
#: expected (older or later assets are simply not candidates).
EXPLAIN_WINDOW = timedelta(days=92)

#: Why an asset did not deduct a record (shown on the record's page).
SKIP_MESSAGES = {
    "before_share_start": _(
        "The usage started before this asset was shared with the account; a share "
        "applies only to usage after it began."
    ),
    "share_ended": _(
        "The share of this asset with the account had ended before the usage started."
    ),
    "out_of_validity": _("The usage started outside the asset's validity."),
    "product_not_covered": _("The asset does not cover this product."),
    "bill_type_not_covered": _("The asset does not cover this bill type."),
    "instance_not_matching": _(
        "The reserved instance covers another instance type or region."
    ),
    "no_quantity": _("The usage record has no instance-hours for a reserved instance."),
    "capacity_used_up": _("The asset's capacity was used up."),
    "hour_used_up": _("The asset's capacity for that hour was used up."),
    "excluded_by_recipient": _(
        "The account's own rule skips this product for this shared asset."
    ),
    "revoked": _("The asset was revoked."),
    "nothing_left": _("Benefits earlier in the order had already covered the amount."),
}


def hour_of(at: datetime) -> datetime:
    """The clock hour of ``at``, in UTC (a +05:30 time must not make its own
    bucket)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Capacity:
    """What is left of an asset for one record: its remaining book, or the
    hour of the record's usage start (money and instance-hours)."""

    money: Decimal | None  # None: not limited by money (reserved instances)
    units: Decimal | None = None  # instance-hours left in the hour (RI)
    hour_id: int | None = None


@dataclass
class Candidate:
    asset: Asset
    shared: bool
    periods: list[SharePeriod] = field(default_factory=list)
    excluded_products: tuple[str, ...] = ()


@dataclass
class Draw:
    asset: Asset
    amount: Decimal
    before: Decimal | None
    after: Decimal | None
    units: Decimal | None = None
    hour_id: int | None = None


@dataclass
class Decision:
    draws: list[Draw]
    skipped: list[dict]

    @property
    def deducted(self) -> Decimal:
        return sum((d.amount for d in self.draws), ZERO)


class Deductor:
    """One asset type's rule: its own refusals and how much it can take."""

    asset_type: str = ""
    hourly = False

    def refusal(self, asset: Asset, usage: UsageRecord) -> str | None:
        return None

    def take(
        self,
        asset: Asset,
        usage: UsageRecord,
        capacity: Capacity,
        left: Decimal,
        units_left: Decimal,
    ) -> tuple[Decimal, Decimal | None]:
        """(amount, instance-hours) taken from ``capacity`` towards ``left``
        (and the record's ``units_left`` instance-hours not yet covered)."""
        amount = min(left, capacity.money or ZERO)
        return amount, None

    def hour_caps(self, asset: Asset) -> tuple[Decimal | None, Decimal | None]:
        """(money, instance-hours) of one clock hour (hourly types)."""
        raise NotImplementedError


class ReservedInstances(Deductor):
    asset_type = Asset.Type.RESERVED_INSTANCE
    hourly = True

    def refusal(self, asset, usage):
        if (usage.instance_type, usage.region) != (asset.instance_type, asset.region):
            return "instance_not_matching"
        if not usage.quantity:
            return "no_quantity"
        return None

    def hour_caps(self, asset):
        return None, Decimal(asset.count)

    def take(self, asset, usage, capacity, left, units_left):
        covered = min(units_left, capacity.units or ZERO)
        if covered <= 0:
            return ZERO, ZERO
        amount = (usage.amount * covered / usage.quantity).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
        return min(amount, left), covered


class ScuPackages(Deductor):
    asset_type = Asset.Type.SCU_PACKAGE


class SavingsPlans(Deductor):
    asset_type = Asset.Type.SAVINGS_PLAN
    hourly = True

    def hour_caps(self, asset):
        return asset.commitment_per_hour, None


class Coupons(Deductor):
    asset_type = Asset.Type.COUPON

    def refusal(self, asset, usage):
        if asset.bill_types and usage.bill_type not in asset.bill_types:
            return "bill_type_not_covered"
        return None


@cache
def deductors() -> tuple[Deductor, ...]:
    return tuple(import_string(path)() for path in settings.SHARING_DEDUCTORS)


@cache
def extra_rules() -> tuple[Callable[[Asset, UsageRecord], str | None], ...]:
    return tuple(import_string(path) for path in settings.SHARING_DEDUCTION_RULES)


@receiver(setting_changed)
def _forget_configuration(*, setting: str, **kwargs) -> None:
    if setting in ("SHARING_DEDUCTORS", "SHARING_DEDUCTION_RULES"):
        deductors.cache_clear()
        extra_rules.cache_clear()


def deductor_for(asset_type: str) -> Deductor:
    for deductor in deductors():
        if deductor.asset_type == asset_type:
            return deductor
    raise KeyError(asset_type)


def _type_rank() -> dict[str, int]:
    return {d.asset_type: n for n, d in enumerate(deductors())}


def candidate_query(account_id: int, currency: str, at: datetime):
    """Assets that may deduct usage of ``account_id`` starting ``at``: its own
    and those ever shared with it, of a configured type and its currency,
    valid near ``at`` (those out of validity are kept to explain why)."""
    shared = SharePeriod.objects.filter(asset=OuterRef("pk"), recipient_id=account_id)
    return (
        Asset.objects.filter(
            Q(owner_id=account_id) | Q(Exists(shared)),
            type__in=list(_type_rank()),
            currency=currency,
            valid_from__lte=at + EXPLAIN_WINDOW,
            valid_until__gt=at - EXPLAIN_WINDOW,
        )
        .select_related("owner")
        .order_by("pk")
    )


def load_candidates(
    account_id: int, assets: Iterable[Asset], periods: Iterable[SharePeriod], rules
) -> list[Candidate]:
    """Candidates of one account in deduction order: by type, own before
    shared, earliest expiry first, ties by id."""
    by_asset: dict[int, list[SharePeriod]] = {}
    for period in periods:
        if period.recipient_id == account_id:
            by_asset.setdefault(period.asset_id, []).append(period)
    excluded = {
        r.asset_id: tuple(r.excluded_products)
        for r in rules
        if r.recipient_id == account_id
    }
    rank = _type_rank()
    candidates = [
        Candidate(
            asset=a,
            shared=a.owner_id != account_id,
            periods=by_asset.get(a.pk, []),
            excluded_products=excluded.get(a.pk, ()),
        )
        for a in assets
        if a.owner_id == account_id or a.pk in by_asset
    ]
    candidates.sort(
        key=lambda c: (rank[c.asset.type], c.shared, c.asset.valid_until, c.asset.pk)
    )
    return candidates


def in_window(asset: Asset, at: datetime) -> bool:
    """Whether ``candidate_query`` lists ``asset`` for usage starting ``at``."""
    return (
        asset.valid_from <= at + EXPLAIN_WINDOW
        and asset.valid_until > at - EXPLAIN_WINDOW
    )


def candidate_ids(table: str) -> dict[int, set[int]]:
    """``candidate_query`` for a whole batch (bill runs): ``table`` has the
    columns ``usage_account_id``, ``currency`` and ``effective_at`` (the usage
    start) of its records, as ``accounts.services.BATCH_COLUMNS``; for each
    account, the ids of the assets ``candidate_query`` lists for some usage
    start of its records (a superset for each record: ``in_window`` narrows
    it); accounts with none are left out. One statement: two index joins, on
    the owner and on the share periods' recipient."""
    window = """
        a.type = ANY(%(types)s) AND a.currency = s.currency
        AND a.valid_from <= s.latest + %(window)s
        AND a.valid_until > s.earliest - %(window)s
    """
    params: dict[str, Any] = {"types": list(_type_rank()), "window": EXPLAIN_WINDOW}
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH s AS (
                SELECT usage_account_id AS account_id, currency,
                       min(effective_at) AS earliest, max(effective_at) AS latest
                  FROM {table} GROUP BY usage_account_id, currency)
            SELECT s.account_id, a.id FROM s
              JOIN sharing_asset a ON a.owner_id = s.account_id
             WHERE {window}
            UNION
            SELECT s.account_id, a.id FROM s
              JOIN sharing_shareperiod p ON p.recipient_id = s.account_id
              JOIN sharing_asset a ON a.id = p.asset_id
             WHERE {window}
            """,
            params,
        )
        found: dict[int, set[int]] = {}
        for account_id, asset_id in cur.fetchall():
            found.setdefault(account_id, set()).add(asset_id)
    return found


def load_candidates_of(
    assets: dict[int, Asset], ids_by_account: dict[int, set[int]]
) -> dict[int, list[Candidate]]:
    """Each account's candidates among ``assets`` (its ids from
    ``candidate_ids``) in deduction order, as ``load_candidates`` orders them;
    the share periods and recipient rules of all accounts in two queries."""
    shared = {
        (account_id, asset_id)
        for account_id, ids in ids_by_account.items()
        for asset_id in ids
        if asset_id in assets and assets[asset_id].owner_id != account_id
    }
    periods: dict[int, list[SharePeriod]] = {}
    rules: dict[int, list[RecipientRule]] = {}
    if shared:
        asset_ids = sorted({asset_id for _account, asset_id in shared})
        recipients = sorted({account_id for account_id, _asset in shared})
        for period in SharePeriod.objects.filter(
            asset_id__in=asset_ids, recipient_id__in=recipients
        ).order_by("start", "id"):
            periods.setdefault(period.recipient_id, []).append(period)
        for rule in RecipientRule.objects.filter(
            asset_id__in=asset_ids, recipient_id__in=recipients
        ):
            rules.setdefault(rule.recipient_id, []).append(rule)
    return {
        account_id: load_candidates(
            account_id,
            [assets[pk] for pk in sorted(ids) if pk in assets],
            periods.get(account_id, []),
            rules.get(account_id, []),
        )
        for account_id, ids in ids_by_account.items()
    }


def fetch_candidates(usage: UsageRecord) -> list[Candidate]:
    """The candidates of one record (one query; two more when any is shared)."""
    assets = list(candidate_query(usage.account_id, usage.currency, usage.usage_start))
    if not assets:
        return []
    shared_ids = [a.pk for a in assets if a.owner_id != usage.account_id]
    periods, rules = [], []
    if shared_ids:
        periods = list(
            SharePeriod.objects.filter(
                asset_id__in=shared_ids, recipient_id=usage.account_id
            )
        )
        rules = list(
            RecipientRule.objects.filter(
                asset_id__in=shared_ids, recipient_id=usage.account_id
            )
        )
    return load_candidates(usage.account_id, assets, periods, rules)


def static_refusal(candidate: Candidate, usage: UsageRecord) -> str | None:
    """Why the asset cannot deduct the record whatever its capacity, or None."""
    asset = candidate.asset
    at = usage.usage_start
    if asset.status == Asset.Status.REVOKED:
        return "revoked"
    if not asset.valid_from <= at < asset.valid_until:
        return "out_of_validity"
    if candidate.shared and not any(
        p.start <= at and (p.end is None or at < p.end) for p in candidate.periods
    ):
        if any(p.start > at for p in candidate.periods):
            return "before_share_start"
        return "share_ended"
    if asset.products and usage.product not in asset.products:
        return "product_not_covered"
    if usage.product in candidate.excluded_products:
        return "excluded_by_recipient"
    code = deductor_for(asset.type).refusal(asset, usage)
    if code:
        return code
    for rule in extra_rules():
        code = rule(asset, usage)
        if code:
            return code
    return None


def decide(
    usage: UsageRecord,
    candidates: list[Candidate],
    capacities: dict[int, Capacity],
) -> Decision:
    """Deduct ``usage`` from its candidates in order; ``capacities`` (by asset
    id, for the assets that passed ``static_refusal``) are drawn down in
    place, so deciding the next record of a batch sees what this one took."""
    left = usage.amount
    units_left = usage.quantity or ZERO
    draws: list[Draw] = []
    skipped: list[dict] = []
    for candidate in candidates:
        asset = candidate.asset
        code = static_refusal(candidate, usage)
        if code is None and left <= 0:
            code = "nothing_left"
        if code is not None:
            skipped.append({"asset": asset.pk, "reason": code})
            continue
        capacity = capacities[asset.pk]
        deductor = deductor_for(asset.type)
        amount, units = deductor.take(asset, usage, capacity, left, units_left)
        if amount <= 0:
            code = "hour_used_up" if deductor.hourly else "capacity_used_up"
            skipped.append({"asset": asset.pk, "reason": code})
            continue
        before = capacity.money
        if capacity.money is not None:
            capacity.money -= amount
        if units is not None:
            capacity.units = (capacity.units or ZERO) - units
            units_left -= units
        left -= amount
        draws.append(
            Draw(
                asset=asset,
                amount=amount,
                before=before,
                after=capacity.money,
                units=units,
                hour_id=capacity.hour_id,
            )
        )
    return Decision(draws=draws, skipped=skipped)


def skip_message(code: str) -> str:
    """The sentence of a skip reason: this app's, or an extra rule's own
    (a rule callable may carry a ``messages`` dict of its codes)."""
    if code in SKIP_MESSAGES:
        return str(SKIP_MESSAGES[code])
    for rule in extra_rules():
        messages = getattr(rule, "messages", {})
        if code in messages:
            return str(messages[code])
    return code


def explain(record: UsageRecord) -> list[dict]:
    """The record's skipped assets with their sentences (for its page)."""
    return [{**s, "message": skip_message(s["reason"])} for s in record.skipped]
