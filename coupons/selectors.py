"""Reads of coupon credit pools: who may see which pools and coupons (SPEC §1,
§5), who may request a pool, why an issuance is refused (the service re-checks
it under the pool's lock), and the questions their pages answer.

Visibility goes through the accounts app's rules as correlated EXISTS, so one
pool or coupon is checked through an index whatever the user can see.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
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
from django.utils import timezone

from accounts.models import (
    Account,
    AccountAccess,
    Company,
    FinancialRelationship,
    Movement,
)
from accounts.selectors import (
    MANAGING,
    list_visible_accounts,
    list_visible_companies,
)
from billing_portal import roles
from billing_portal.errors import ActionForbidden, Reason, reason
from billing_portal.money import ZERO
from sharing.deduction import skip_message
from sharing.models import RECIPIENT_LIMIT, Asset, Deduction, UsageRecord

from .models import Coupon, CreditPool, Product

# --- who sees, who may request --------------------------------------------------------


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


_MONEY = DecimalField(max_digits=15, decimal_places=2)


def list_visible_coupons(user) -> QuerySet[Coupon]:
    """Coupons of visible pools, and coupons applicable to an account the user
    may see; each with its accounts and ``deducted`` (what usage took from it,
    summed from the deduction log)."""
    deducted = Subquery(
        Deduction.objects.filter(asset_id=OuterRef("asset_id"))
        .values("asset_id")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=_MONEY,
    )
    qs = (
        Coupon.objects.select_related("asset", "pool", "pool__management_account")
        .prefetch_related("accounts")
        .annotate(deducted=Coalesce(deducted, Value(ZERO), output_field=_MONEY))
    )
    if roles.is_operator(user):
        return qs
    pools = list_visible_pools(user).filter(pk=OuterRef("pool_id"))
    applicable = Coupon.accounts.through.objects.filter(
        coupon_id=OuterRef("pk")
    ).filter(Exists(list_visible_accounts(user).filter(pk=OuterRef("account_id"))))
    return qs.filter(Q(Exists(pools)) | Q(Exists(applicable)))


def list_pool_requests(user) -> QuerySet[CreditPool]:
    """Requested pools the user sees, waiting for an operator's decision."""
    return list_visible_pools(user).filter(status=CreditPool.Status.REQUESTED)


def list_pools_to_issue(user, at: datetime | None = None) -> QuerySet[CreditPool]:
    """Approved pools inside their validity with value left to issue, of
    management accounts the user administers (owner or manage): the enterprise
    administrators who issue their coupons (operators are not among them)."""
    at = at or timezone.now()
    administered = AccountAccess.objects.filter(
        user=user, account=OuterRef("management_account_id"), permission__in=MANAGING
    )
    return list_visible_pools(user).filter(
        Exists(administered),
        status=CreditPool.Status.APPROVED,
        valid_from__lte=at,
        valid_until__gt=at,
        remaining__gt=0,
    )


def list_visible_account_ids(user, ids) -> set[int]:
    """Those of ``ids`` that are accounts the user may see (one query)."""
    if roles.is_operator(user):
        return set(ids)
    return set(
        list_visible_accounts(user)
        .filter(pk__in=list(ids))
        .values_list("pk", flat=True)
    )


def list_requestable_companies(user) -> QuerySet[Company]:
    """Companies a CBM may request pools for (its verified companies with a
    management account); nothing for anyone else."""
    if not roles.is_cbm(user):
        return Company.objects.none()
    return list_visible_companies(user).filter(
        verification_status=Company.Verification.VERIFIED,
        management_account__isnull=False,
    )


def pool_request_blocks(user) -> list[Reason]:
    """Why a CBM's "Request a coupon credit pool" cannot succeed now: none of
    its companies can receive a pool (verified, with a management account)."""
    if roles.is_cbm(user) and not list_requestable_companies(user).exists():
        return [reason("no_requestable_company")]
    return []


def can_request_pool(user, company: Company) -> bool:
    """Only the company's own CBM requests its pools (SPEC §5)."""
    return roles.is_cbm(user) and company.business_manager_id == user.pk


def ensure_can_request_pool(user, company: Company) -> None:
    """Raise the 403 ``not_cbm`` refusal unless the user is the company's CBM."""
    if not can_request_pool(user, company):
        raise ActionForbidden([reason("not_cbm")])


# --- the product catalogue ------------------------------------------------------------


def list_products() -> QuerySet[Product]:
    return Product.objects.all()


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


def list_issuable_accounts(pool: CreditPool, at: datetime | None = None):
    """The accounts a pool's coupons may be issued to now: the management
    account and members with an active payment relationship, in the pool's
    currency (a coupon could never deduct another currency's usage)."""
    at = at or timezone.now()
    members = FinancialRelationship.objects.active_at(at).filter(
        management_account_id=pool.management_account_id
    )
    member_ids = members.values("member_account_id")
    return Account.objects.filter(
        Q(pk=pool.management_account_id) | Q(pk__in=member_ids),
        currency=pool.currency,
    ).order_by("uid")


# --- what a coupon did and where it applies -------------------------------------------


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
    #: ``applies``; else why not: ``revoked``, ``not_valid`` (outside its
    #: validity), ``ended`` (the payment relationship ended: valid, but not
    #: for this account) or ``no_relationship``.
    state: str = ""


def _applicability_state(coupon: Coupon, valid: bool, applies: bool, since) -> str:
    if coupon.asset.status == Asset.Status.REVOKED:
        return "revoked"
    if applies:
        return "applies"
    if not valid:
        return "not_valid"
    return "ended" if since is not None else "no_relationship"


def coupon_applicability(
    coupon: Coupon, at: datetime | None = None
) -> list[Applicability]:
    """For each applicable account: does the coupon apply now, and if not,
    since when (SPEC §5: the relationship ended; the coupon stays valid)."""
    return list_coupon_applicability([coupon], at=at)[coupon.pk]


def list_coupon_applicability(
    coupons: list[Coupon], *, at: datetime | None = None
) -> dict[int, list[Applicability]]:
    """``coupon_applicability`` of many coupons (their pools and assets loaded)
    in one query: a coupon applies at ``at`` inside its validity, to the
    management account, and to a member while a payment relationship (either
    type) with the management account is active; a member's ``not_since`` is
    the end of its last relationship."""
    at = at or timezone.now()
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
        manager_id = coupon.pool.management_account_id
        valid = coupon.asset.valid_from <= at < coupon.asset.valid_until
        rows_out = []
        for account in sorted(coupon.accounts.all(), key=lambda a: a.uid):
            if account.pk == manager_id:
                applies, since = valid, None
            else:
                pair = ends.get((manager_id, account.pk), [])
                active = any(end is None or at < end for end in pair)
                ended = [end for end in pair if end is not None and end <= at]
                applies = valid and active
                since = None if active or not ended else max(ended)
            state = _applicability_state(coupon, valid, applies, since)
            rows_out.append(Applicability(account, applies, since, state))
        result[coupon.pk] = rows_out
    return result


def is_pool_active(pool: CreditPool, at: datetime | None = None) -> bool:
    """Coupons can be issued from it now: approved and inside its validity."""
    at = at or timezone.now()
    return pool.status == CreditPool.Status.APPROVED and pool.is_valid_at(at)


def _pool_state_reasons(pool: CreditPool, at: datetime) -> list[Reason]:
    if is_pool_active(pool, at):
        return []
    return [reason("pool_not_active", pool=pool.pk)]


def issuance_blocks(pool: CreditPool, at: datetime | None = None) -> list[Reason]:
    """Why no coupon can be issued from the pool now, whatever is typed (its
    "Issue coupons" button is disabled with these): the pool is not approved
    and valid (``issuance_refusals``' own first rule), or nothing is left in
    it (any coupon would be ``exceeds_pool_remaining``)."""
    reasons = _pool_state_reasons(pool, at or timezone.now())
    if not reasons and pool.remaining <= 0:
        reasons.append(
            reason(
                "exceeds_pool_remaining",
                variant="empty",
                pool=pool.pk,
                amount=f"{pool.amount:.2f}",
                currency=pool.currency,
            )
        )
    return reasons


def issuance_refusals(
    *,
    pool: CreditPool,
    accounts: list[Account],
    count: int,
    face_value: Decimal,
    at: datetime | None = None,
) -> list[Reason]:
    """Every reason ``count`` coupons of ``face_value`` for ``accounts`` cannot
    be issued from ``pool`` at ``at`` (SPEC §5), with the codes and sentences of
    the refusal: the service calls it under the pool's lock, the admin and the
    API to preview."""
    at = at or timezone.now()
    reasons = _pool_state_reasons(pool, at)
    active = not reasons
    accounts = list(dict.fromkeys(accounts))
    eligible = set(list_issuable_accounts(pool, at).values_list("pk", flat=True))
    reasons += [
        reason("account_not_eligible", account=a.uid)
        for a in accounts
        if a.pk not in eligible
    ]
    members = [a for a in accounts if a.pk != pool.management_account_id]
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


def pool_decision_refusals(pool: CreditPool, decision: str) -> list[Reason]:
    """``invalid_state`` unless the pool waits for a decision (``decision``:
    approve or reject); the service checks it under the pool's lock."""
    if pool.status == CreditPool.Status.REQUESTED:
        return []
    return [reason("invalid_state", variant=f"pool_{decision}", pool=pool.pk)]


def coupon_revocation_blocks(coupon: Coupon) -> list[Reason]:
    """Why the coupon's remaining value cannot be revoked: it was revoked
    already, or nothing remains (its face value was all deducted). The
    service checks it under the coupon's lock; its page disables "Revoke"."""
    asset = coupon.asset
    if asset.status == Asset.Status.REVOKED:
        return [reason("invalid_state", variant="coupon_revoked")]
    if asset.remaining <= 0:
        return [reason("invalid_state", variant="coupon_used_up", coupon=coupon.pk)]
    return []


@dataclass
class AbsentMember:
    """A member of the management account that cannot receive coupons now."""

    account: Account
    relationship: FinancialRelationship


def list_absent_members(pool: CreditPool, at: datetime | None = None, limit=50):
    """Members of the management account without an active payment relationship
    now (pending, ended, rejected, cancelled): why they are not offered, each
    with its latest relationship."""
    at = at or timezone.now()
    relationships = FinancialRelationship.objects.filter(
        management_account_id=pool.management_account_id
    )
    active = relationships.active_at(at).values("member_account_id")
    rows = (
        relationships.exclude(member_account_id__in=active)
        .select_related("member_account")
        .order_by("member_account_id", "-invited_at", "-id")
        .distinct("member_account_id")[:limit]
    )
    return [AbsentMember(r.member_account, r) for r in rows]


def with_deducted(coupons: QuerySet[Coupon]) -> QuerySet[Coupon]:
    """Each coupon with ``deducted``: what usage drew from it (the deduction log)."""
    drawn = (
        Deduction.objects.filter(asset_id=OuterRef("asset_id"))
        .order_by()
        .values("asset_id")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return coupons.annotate(
        deducted=Coalesce(
            Subquery(drawn, output_field=DecimalField(max_digits=15, decimal_places=2)),
            Value(ZERO),
        )
    )


def list_coupon_deductions(coupon: Coupon) -> QuerySet[Deduction]:
    """What the coupon deducted, latest usage first (the asset's index)."""
    return (
        Deduction.objects.filter(asset_id=coupon.asset_id)
        .select_related("usage", "beneficiary")
        .order_by("-usage_start", "-id")
    )


@dataclass
class Skip:
    usage: UsageRecord
    code: str
    message: str


def list_coupon_skips(coupon: Coupon, limit: int = 20) -> list[Skip]:
    """Usage of the coupon's accounts it did not deduct, and why (as decided
    when each record was priced), latest first."""
    records = (
        UsageRecord.objects.filter(
            account__in=coupon.accounts.all(),
            usage_start__gte=coupon.asset.valid_from,
            usage_start__lt=coupon.asset.valid_until,
            skipped__contains=[{"asset": coupon.asset_id}],
        )
        .select_related("account")
        .order_by("-usage_start", "-id")[:limit]
    )
    skips = []
    for record in records:
        for entry in record.skipped:
            if entry.get("asset") == coupon.asset_id:
                code = entry["reason"]
                skips.append(Skip(record, code, skip_message(code)))
    return skips


def list_business_managers(user) -> QuerySet[Company]:
    """The companies the user sees, each with its business manager (the CBM
    who requests their pools)."""
    return (
        list_visible_companies(user)
        .select_related("business_manager", "management_account")
        .order_by("name")
    )


# --- the pool page's pictures ---------------------------------------------------------

#: The utilisation chart covers at most this many days (the last of the pool's life).
POOL_HISTORY_DAYS = 366


@dataclass(frozen=True)
class PoolDay:
    """A pool at the end of a day (the user's day): issued and revoked back
    since approval, and what could still be issued."""

    day: date
    issued: Decimal
    revoked: Decimal
    unissued: Decimal

    @property
    def outstanding(self) -> Decimal:
        """Issued and not revoked back: what the pool's coupons took from it."""
        return self.issued - self.revoked


def get_pool_history(pool: CreditPool) -> list[PoolDay]:
    """The pool's ``unissued`` book day by day, from its approval to today (or
    to its last valid day), at most ``POOL_HISTORY_DAYS``: one statement that
    sums the pool's ledger legs per day (issuance and revocation movements
    apart) and runs them up over the days, the days without a leg included.
    Nothing for a pool never approved."""
    if pool.decided_at is None or pool.status not in (
        CreditPool.Status.APPROVED,
        CreditPool.Status.EXPIRED,
    ):
        return []
    last = min(
        timezone.localdate(),
        timezone.localdate(pool.valid_until - timedelta(microseconds=1)),
    )
    first = max(
        timezone.localdate(pool.decided_at),
        last - timedelta(days=POOL_HISTORY_DAYS - 1),
    )
    if last < first:
        return []
    until = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    with connection.cursor() as cur:
        # A leg is debit-positive and ``unissued`` is a credit book: issuance
        # legs are positive (the book falls), approval and revocation negative.
        # Legs before the first day (a window shorter than the pool's life)
        # count on the first day.
        cur.execute(
            """
            WITH daily AS (
                SELECT GREATEST((m.posted_at AT TIME ZONE %(zone)s)::date,
                                %(first)s::date) AS day,
                       COALESCE(SUM(p.amount)
                                FILTER (WHERE m.kind = %(issue)s), 0) AS issued,
                       COALESCE(-SUM(p.amount)
                                FILTER (WHERE m.kind = %(revoke)s), 0) AS revoked,
                       -SUM(p.amount) AS unissued
                  FROM accounts_posting p
                  JOIN accounts_movement m ON m.id = p.movement_id
                 WHERE p.holder_type = 'pool' AND p.holder_id = %(pool)s
                   AND p.book = 'unissued' AND m.posted_at < %(until)s
                 GROUP BY 1
            )
            SELECT d::date,
                   COALESCE(SUM(daily.issued) OVER w, 0),
                   COALESCE(SUM(daily.revoked) OVER w, 0),
                   COALESCE(SUM(daily.unissued) OVER w, 0)
              FROM generate_series(%(first)s::date, %(last)s::date,
                                   interval '1 day') AS d
              LEFT JOIN daily ON daily.day = d::date
            WINDOW w AS (ORDER BY d)
             ORDER BY d
            """,
            {
                "zone": timezone.get_current_timezone_name(),
                "first": first,
                "last": last,
                "until": until,
                "pool": pool.pk,
                "issue": Movement.Kind.COUPON_ISSUE,
                "revoke": Movement.Kind.COUPON_REVOKE,
            },
        )
        return [PoolDay(*row) for row in cur.fetchall()]
