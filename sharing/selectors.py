"""Reads of equity asset sharing: what a user may see (through the accounts
app's visibility rules, as correlated EXISTS so one object is checked through
an index) and the questions the screens answer (who had an asset at t, what
an account receives, what each beneficiary saved)."""

from datetime import datetime

from django.db.models import (
    Count,
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

from accounts.models import Account, Company
from accounts.selectors import (
    can_see_account,
    list_visible_accounts,
    list_visible_companies,
)
from billing_portal import roles

from .models import (
    RECIPIENT_LIMIT,
    Asset,
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
