"""Reads of credit control: bounds of a limit, disabled conditions, contracts."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from billing_portal import roles
from billing_portal.errors import Reason, reason
from billing_portal.models import Notification
from billing_portal.money import ZERO, format_amount

from ..models import (
    AccessException,
    AccessRequest,
    Account,
    AccountAccess,
    Contract,
    CreditLimitChange,
    CreditQuota,
    FinancialRelationship,
    OverdueEpisode,
)
from ..models.structure import RelationshipPermission
from .access import MANAGING, can_manage, is_owner, list_visible_accounts
from .structure import get_credit_limit_authority


def with_pending_limit(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """Annotate each account with its pending contract's limit (one query for a
    whole list instead of one per account)."""

    pending = Contract.objects.filter(
        account=OuterRef("pk"), status=Contract.Status.PENDING
    ).values("limit")[:1]
    return accounts.annotate(pending_limit=Subquery(pending))


def get_pending_limit(account: Account) -> Decimal | None:
    """The limit waiting for its contract (annotated by ``with_pending_limit``, or
    looked up)."""
    if hasattr(account, "pending_limit"):
        return account.pending_limit
    contract = get_pending_contract(account)
    return contract.limit if contract else None


def get_pending_contract(account: Account) -> Contract | None:
    return Contract.objects.filter(
        account=account, status=Contract.Status.PENDING
    ).first()


def has_confirmed_contract(account: Account) -> bool:
    return Contract.objects.filter(
        account=account, status=Contract.Status.CONFIRMED
    ).exists()


def get_quota(company, currency: str) -> Decimal:
    row = CreditQuota.objects.filter(company=company, currency=currency).first()
    return row.amount if row else ZERO


def allocated_to_others(account: Account) -> Decimal:
    """Limits (active, or pending when a contract waits) of the company's other
    accounts in the account's currency."""
    others = Account.objects.filter(
        company=account.company_id, currency=account.currency
    ).exclude(pk=account.pk)
    return _allocated(others)


def _allocated(accounts: QuerySet[Account]) -> Decimal:
    """The accounts' limits, a pending contract's limit standing in for its
    account's (at most one pending per account: a constraint). Summed in SQL:
    a company of 100,000 accounts is two aggregates, not 100,000 rows."""
    limits = accounts.aggregate(total=Sum("credit_limit"))["total"] or ZERO
    pending = Contract.objects.filter(
        account__in=accounts, status=Contract.Status.PENDING
    ).aggregate(change=Sum(F("limit") - F("account__credit_limit")))["change"]
    return limits + (pending or ZERO)


def available_with_limit(account: Account, limit: Decimal) -> Decimal:
    """The available balance the account would have with ``limit`` in effect."""
    return account.available_balance - account.credit_limit + limit


def credit_in_use(account: Account) -> Decimal:
    """max(0, uncleared - cash): what the account owes beyond its cash."""
    return max(ZERO, account.uncleared_amount - account.cash_balance)


@dataclass(frozen=True)
class CreditBounds:
    quota: Decimal
    allocated_to_others: Decimal
    min_allocatable: Decimal
    max_allocatable: Decimal
    credit_in_use: Decimal

    @property
    def over_allocated(self) -> bool:
        return self.max_allocatable < 0


def get_credit_bounds(account: Account) -> CreditBounds:
    """min = credit in use; max = quota - limits of the company's other accounts."""
    quota = (
        get_quota(account.company_id, account.currency) if account.company_id else ZERO
    )
    others = allocated_to_others(account) if account.company_id else ZERO
    in_use = credit_in_use(account)
    return CreditBounds(
        quota=quota,
        allocated_to_others=others,
        min_allocatable=in_use,
        max_allocatable=quota - others,
        credit_in_use=in_use,
    )


def get_company_allocation(company, currency: str) -> dict:
    """Quota, allocated (active + pending) and whether it is over-allocated."""
    allocated = _allocated(Account.objects.filter(company=company, currency=currency))
    quota = get_quota(company, currency)
    return {
        "currency": currency,
        "quota": quota,
        "allocated": allocated,
        "over_allocated": allocated > quota,
    }


# --- §3.5: when transfer and credit control are disabled ----------------------


@dataclass(frozen=True)
class DisabledState:
    """Why transfer and credit control are disabled (empty: they are not)."""

    conditions: list[dict] = field(default_factory=list)
    exception: AccessException | None = None
    #: The granted exception's id, where a list annotation gave only that.
    exception_id: int | None = None

    @property
    def excepted(self) -> bool:
        return self.exception is not None or self.exception_id is not None

    @property
    def disabled(self) -> bool:
        return bool(self.conditions) and not self.excepted

    @property
    def why(self) -> str:
        return " ".join(c["message"] for c in self.conditions)


def with_disabled_state(accounts: QuerySet[Account], *, at=None) -> QuerySet[Account]:
    """Annotate what ``get_disabled_state`` looks up per account, so that a list
    costs the same queries however many rows it shows: the first long-overdue
    episode's start and end, and the access exception active at ``at``.

    ``get_disabled_state`` reads these at the same instant (``disabled_state_at``)
    and gives exactly what it gives for a single account.
    """
    at = at or timezone.now()
    episode = _long_overdue_episodes(OuterRef("pk"), at=at)
    exception = (
        AccessException.objects.active_at(at)
        .filter(account=OuterRef("pk"))
        .order_by("pk")
        .values("pk")[:1]
    )
    return accounts.annotate(
        disabled_state_at=Value(at, output_field=DateTimeField()),
        long_overdue_start=Subquery(episode.values("start")[:1]),
        long_overdue_end=Subquery(episode.values("end")[:1]),
        active_exception_id=Subquery(exception),
    )


def get_disabled_state(account: Account, *, at=None) -> DisabledState:
    """The §3.5 conditions that hold for the account, and any granted exception.

    An account annotated by ``with_disabled_state`` is answered from its
    annotations (at their instant) without a query.
    """
    annotated_at = getattr(account, "disabled_state_at", None)
    at = at or annotated_at or timezone.now()
    annotated = annotated_at is not None and at == annotated_at
    conditions = []
    if account.partner_mode == Account.PartnerMode.PAY_ON_BEHALF:
        conditions.append(
            {
                "code": "partner_pay_on_behalf",
                "message": _(
                    "It is linked to the ecosystem partner %(partner)s, which "
                    "pays on its behalf."
                )
                % {"partner": account.partner_name or "—"},
            }
        )
    threshold = settings.ACCOUNTS_RECEIVABLE_THRESHOLD.get(account.currency)
    if threshold is not None and account.uncleared_amount >= threshold:
        if annotated:
            # Annotated by with_disabled_state (the list path).
            span = (account.long_overdue_start, account.long_overdue_end)  # type: ignore[attr-defined]
        else:
            episode = get_long_overdue_episode(account, at=at)
            span = (episode.start, episode.end) if episode else (None, None)
        start, end = span
        if start is not None:
            days = ((end or at) - start).days
            conditions.append(
                {
                    "code": "receivables_and_long_overdue",
                    "message": _(
                        "Its accounts receivable of %(uncleared)s %(currency)s reach "
                        "the %(threshold)s threshold and it had an overdue payment "
                        "lasting %(days)s days (more than %(limit)s) within the last "
                        "365 days."
                    )
                    % {
                        "uncleared": format_amount(account.uncleared_amount),
                        "currency": account.currency,
                        "threshold": format_amount(threshold),
                        "days": days,
                        "limit": settings.LONG_OVERDUE_DAYS,
                    },
                }
            )
    if not conditions:
        return DisabledState()
    if annotated:
        return DisabledState(
            conditions=conditions,
            exception_id=account.active_exception_id,  # type: ignore[attr-defined]
        )
    exception = (
        AccessException.objects.active_at(at)
        .filter(account=account)
        .order_by("pk")
        .first()
    )
    return DisabledState(conditions=conditions, exception=exception)


def _long_overdue_episodes(account, *, at) -> QuerySet[OverdueEpisode]:
    """Overdue episodes of ``account`` (an id or OuterRef) longer than
    LONG_OVERDUE_DAYS, ongoing or ended within the last 365 days, first first."""
    length = ExpressionWrapper(
        Coalesce("end", Value(at, output_field=DateTimeField())) - F("start"),
        output_field=DurationField(),
    )
    return (
        OverdueEpisode.objects.filter(account=account)
        .filter(Q(end__isnull=True) | Q(end__gte=at - timedelta(days=365)))
        .alias(length=length)
        .filter(length__gt=timedelta(days=settings.LONG_OVERDUE_DAYS))
        .order_by("start", "pk")
    )


def get_long_overdue_episode(account: Account, *, at) -> OverdueEpisode | None:
    """An overdue episode longer than LONG_OVERDUE_DAYS, ongoing or ended within
    the last 365 days (the first, by start)."""
    return _long_overdue_episodes(account, at=at).first()


def credit_control_block(account: Account) -> Reason | None:
    state = get_disabled_state(account)
    if state.disabled:
        return reason("credit_control_disabled", account=account.uid, why=state.why)
    return None


# --- refusals of a limit change (the services call these under lock) -----------


def credit_limit_blocks(account: Account, *, confirming: bool = False) -> list[Reason]:
    """Rules that refuse every limit change of the account, whatever the amount
    (§3.4, §3.5): an unverified company, credit control disabled, a pending
    contract (except when that contract is being confirmed)."""
    reasons = []
    if account.company is None or not account.company.is_verified:
        reasons.append(reason("company_not_verified", account=account.uid))
    block = credit_control_block(account)
    if block is not None:
        reasons.append(block)
    if not confirming and get_pending_contract(account) is not None:
        reasons.append(reason("contract_pending", account=account.uid))
    return reasons


def credit_limit_refusals(
    account: Account, amount: Decimal, *, confirming: bool = False
) -> list[Reason]:
    """Every rule of §3.4 (after permission) that refuses setting ``amount``."""
    reasons = credit_limit_blocks(account, confirming=confirming)
    bounds = get_credit_bounds(account)
    if amount == 0 and account.credit_limit > 0 and bounds.credit_in_use > 0:
        reasons.append(
            reason(
                "credit_in_use",
                account=account.uid,
                in_use=format_amount(bounds.credit_in_use),
            )
        )
    elif amount < bounds.min_allocatable:
        reasons.append(
            reason(
                "below_min_allocatable",
                account=account.uid,
                amount=format_amount(amount),
                limit=format_amount(bounds.min_allocatable),
            )
        )
    # Lowering a limit is always allowed (even when the company is over its
    # quota); raising it must fit what the company can still allocate.
    if amount > account.credit_limit and amount > bounds.max_allocatable:
        reasons.append(
            reason(
                "exceeds_max_allocatable",
                account=account.uid,
                amount=format_amount(amount),
                limit=format_amount(max(ZERO, bounds.max_allocatable)),
                quota=format_amount(bounds.quota),
                allocated=format_amount(bounds.allocated_to_others),
            )
        )
    return reasons


def contract_state_refusals(contract: Contract, action: str) -> list[Reason]:
    """``invalid_state`` unless the contract is still pending (``action``:
    ``confirm`` or ``withdraw``)."""
    if contract.status == Contract.Status.PENDING:
        return []
    return [reason("invalid_state", variant=f"contract_{action}", contract=contract.pk)]


def contract_confirmation_refusals(contract: Contract) -> list[Reason]:
    """Why the contract cannot be confirmed now: its state, then the limit's
    rules re-checked as at confirmation (§3.4)."""
    reasons = contract_state_refusals(contract, "confirm")
    if reasons:
        return reasons
    return credit_limit_refusals(contract.account, contract.limit, confirming=True)


def access_request_refusals(account: Account) -> list[Reason]:
    """Why the account's administrators cannot ask for an exception now (§3.5):
    nothing is disabled, no business manager to ask, or a request is open."""
    reasons = []
    if not get_disabled_state(account).disabled:
        reasons.append(reason("not_disabled", account=account.uid))
    if account.company is None or account.company.business_manager_id is None:
        reasons.append(reason("no_business_manager", account=account.uid))
    if AccessRequest.objects.filter(
        account=account, status=AccessRequest.Status.REQUESTED
    ).exists():
        reasons.append(
            reason("invalid_state", variant="access_request_open", account=account.uid)
        )
    return reasons


# --- visibility ------------------------------------------------------------------


def list_limit_members(user) -> QuerySet[Account]:
    """Members whose credit limit the user sets although it may not see them:
    owner/manage of a management account whose active relationship carries
    SYNCHRONIZE_FINANCE_IDENTITY (§3.6; CHECK_TARGET_CONSUMPTION is not needed)."""

    managed = AccountAccess.objects.filter(user=user, permission__in=MANAGING).values(
        "account"
    )
    members = FinancialRelationship.objects.filter(
        status=FinancialRelationship.Status.ACTIVE,
        management_account__in=managed,
        permissions__contains=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
    ).values("member_account")
    return Account.objects.filter(pk__in=members)


def list_limit_accounts(user) -> QuerySet[Account]:
    """Accounts whose credit-limit endpoint the user may reach: those it sees,
    and the members whose limit it sets (``list_limit_members``)."""

    visible = list_visible_accounts(user)
    if roles.is_operator(user):
        return visible
    return Account.objects.select_related("company").filter(
        Q(pk__in=visible.values("pk")) | Q(pk__in=list_limit_members(user).values("pk"))
    )


def list_visible_contracts(user) -> QuerySet[Contract]:
    qs = Contract.objects.select_related("account", "confirmed_by", "created_by")
    if roles.is_operator(user):
        return qs
    return qs.filter(account__in=list_limit_accounts(user).values("pk"))


def list_visible_notifications(user) -> QuerySet[Notification]:
    """SMS of the accounts the user may see, and the portal notices addressed to
    the user (a notice to someone else, e.g. the CBM, stays theirs) about
    accounts it still reaches: once its access is revoked, the account's
    notices go with it."""

    qs = Notification.objects.select_related("account", "user")
    if roles.is_operator(user):
        return qs
    return qs.filter(
        Q(
            channel=Notification.Channel.SMS,
            account__in=list_visible_accounts(user).values("pk"),
        )
        | Q(user=user)
        & (
            Q(account__isnull=True)
            | Q(account__in=list_limit_accounts(user).values("pk"))
        )
    )


def list_visible_access_requests(user) -> QuerySet[AccessRequest]:

    qs = AccessRequest.objects.select_related("account", "requested_by", "decided_by")
    if roles.is_operator(user):
        return qs
    return qs.filter(
        Q(account__in=list_visible_accounts(user).values("pk"))
        | Q(business_manager=user)
    )


def list_visible_access_exceptions(user) -> QuerySet[AccessException]:

    qs = AccessException.objects.select_related("account", "granted_by", "revoked_by")
    if roles.is_operator(user):
        return qs
    return qs.filter(
        Q(account__in=list_visible_accounts(user).values("pk"))
        | Q(request__business_manager=user)
    )


# --- who may act (the services enforce these; the screens show them) -----------


def get_contract_authority(account: Account) -> Account:
    """The account whose owners confirm ``account``'s credit control contracts
    (SPEC §3.4): the management account under an active relationship with
    SYNCHRONIZE_FINANCE_IDENTITY, else the account itself. Decided when asked,
    so a contract follows the relationship as it is at confirmation."""

    return get_credit_limit_authority(account) or account


def list_contract_confirmers(account: Account) -> QuerySet:
    """Who confirms the account's contracts, and so gets their portal notices:
    the owners of ``get_contract_authority(account)``."""

    return get_user_model().objects.filter(
        account_access__account=get_contract_authority(account),
        account_access__permission=AccountAccess.Permission.OWNER,
    )


def can_confirm_contract(user, contract: Contract) -> bool:
    """Only an owner of the account holding the credit authority accepts its
    contract: not an operator, and under SYNCHRONIZE_FINANCE_IDENTITY not the
    member's own owners."""

    return is_owner(user, get_contract_authority(contract.account).pk)


def contract_confirmer_refusals(user, contract: Contract) -> list[Reason]:
    """The 403 of ``confirm_contract`` unless ``can_confirm_contract``: the
    sentence the service refuses with and the Contracts view shows beside a
    disabled "Confirm" (a manage administrator sees only owners confirm)."""
    if can_confirm_contract(user, contract):
        return []
    return [
        reason(
            "no_permission", variant="confirm_contract", account=contract.account.uid
        )
    ]


def can_set_limit(user, account: Account) -> bool:
    """owner/manage of the account, or of its management account when the
    relationship carries SYNCHRONIZE_FINANCE_IDENTITY (operators always)."""

    return can_manage(user, get_credit_limit_authority(account) or account)


def limit_permission_reason(account: Account) -> Reason:
    """Who sets this limit (the 403 of a limit change without
    ``can_set_limit``): the account's administrators, or under
    SYNCHRONIZE_FINANCE_IDENTITY those of its management account."""
    manager = get_credit_limit_authority(account)
    if manager is None:
        return reason("no_permission", account=account.uid)
    return reason(
        "no_permission",
        variant="limit_set_by_manager",
        account=account.uid,
        manager=manager.uid,
    )


def can_withdraw_contract(user, contract: Contract) -> bool:
    return roles.is_operator(user) or can_set_limit(user, contract.account)


def can_decide_access_request(user, request: AccessRequest) -> bool:
    """Only the business manager the request was sent to (a CBM) answers it."""
    return request.business_manager_id == user.pk and roles.is_cbm(user)


def can_revoke_access_exception(user, exception: AccessException) -> bool:
    """The CBM who was asked, or an operator."""
    return roles.is_operator(user) or can_decide_access_request(user, exception.request)


def get_open_access_request(account: Account) -> AccessRequest | None:
    return account.access_requests.filter(status=AccessRequest.Status.REQUESTED).first()


def list_limit_changes(account: Account) -> QuerySet[CreditLimitChange]:
    """The account's credit limit history, newest first."""
    return account.limit_changes.select_related("actor")
