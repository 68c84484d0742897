"""Reads of equity asset sharing: what a user may see (through the accounts
app's visibility rules, as correlated EXISTS so one object is checked through
an index) and the questions the screens answer (who had an asset at t, what
an account receives, what each beneficiary saved)."""

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account, Company
from accounts.selectors import list_visible_accounts
from billing_portal import roles

from .models import (
    Asset,
    Deduction,
    Share,
    SharePeriod,
    SharingRule,
    UsageRecord,
    active_at_q,
)
from .services import RECIPIENT_LIMIT


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


def list_visible_usage(user) -> QuerySet[UsageRecord]:
    """Usage records of accounts the user may see (also members' under
    ``CHECK_TARGET_CONSUMPTION``, which the accounts' visibility includes)."""
    qs = UsageRecord.objects.select_related("account", "payer")
    if roles.is_operator(user):
        return qs
    return qs.filter(_visible(user, "account_id"))


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
    qs = SharingRule.objects.select_related("owner", "folder")
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
    owner = asset.owner
    company = owner.company
    if company is None or company.verification_status != Company.Verification.VERIFIED:
        return Account.objects.none()
    return Account.objects.filter(company=company).exclude(pk=owner.pk).order_by("uid")


def list_benefits_of(account: Account) -> QuerySet[SharePeriod]:
    """Assets shared with the account, now and in the past (its page)."""
    return (
        SharePeriod.objects.filter(recipient=account)
        .select_related("asset", "asset__owner")
        .order_by("-start", "-id")
    )


def is_shared_now(period: SharePeriod) -> bool:
    return period.end is None or period.end > timezone.now()


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
            "owner__uid",
            "beneficiary",
            "beneficiary__uid",
            "beneficiary__name",
        )
        .annotate(records=Count("usage", distinct=True), amount=Sum("amount"))
        .order_by("asset", "beneficiary__uid")
    )
