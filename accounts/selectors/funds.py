"""Reads: what a user may see, and the eligibility numbers with their reasons.

The eligibility functions are pure over account rows, so the services call them
on the rows they have locked and the API shows exactly the numbers the services
enforce (one source of truth).
"""

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet

from billing_portal import roles
from billing_portal.errors import Reason, reason
from billing_portal.money import ZERO, format_amount

from ..ledger import natural_change_expression
from ..models import Account, Movement, Posting, TransferPair
from .access import list_target_accounts, list_visible_accounts
from .credit import get_disabled_state
from .currency import currency_reasons


def list_visible_movements(user, kind: str | None = None) -> QuerySet[Movement]:
    """Movements touching an account the user may see (either side)."""
    qs = Movement.objects.select_related("account", "counterparty", "actor")
    if kind:
        qs = qs.filter(kind=kind)
    if roles.is_operator(user):
        return qs
    visible = list_visible_accounts(user).values("pk")
    return qs.filter(Q(account__in=visible) | Q(counterparty__in=visible))


def list_account_postings(account: Account) -> QuerySet[Posting]:
    """The ledger lines of one account, newest first."""
    return (
        Posting.objects.filter(holder_type="account", holder_id=account.pk)
        .annotate(change=natural_change_expression("account"))
        .select_related("movement__counterparty", "movement__account")
        .order_by("-id")
    )


# --- eligibility (SPEC §3.2, §3.3) ---------------------------------------------


def _company_reasons(account: Account) -> list[Reason]:
    if account.company is None or not account.company.is_verified:
        return [reason("company_not_verified", account=account.uid)]
    return []


#: Statuses with a sentence of their own (any other: the generic one).
_INACTIVE_SENTENCES = {Account.Status.FROZEN, Account.Status.CLOSED}


def _active_reasons(*accounts: Account) -> list[Reason]:
    return [
        reason(
            "account_not_active",
            variant=a.status if a.status in _INACTIVE_SENTENCES else None,
            account=a.uid,
        )
        for a in accounts
        if not a.is_active
    ]


def self_service_block(account: Account) -> Reason | None:
    """Why self-service transfer is disabled for the account, if it is (§3.5)."""

    state = get_disabled_state(account)
    if state.disabled:
        return reason("self_service_disabled", account=account.uid, why=state.why)
    return None


def source_blocks(source: Account) -> list[Reason]:
    """Rules that block every transfer out of ``source``, whatever its target."""
    return _active_reasons(source) + _company_reasons(source) + _source_rules(source)


def _source_rules(source: Account) -> list[Reason]:
    """§3.2 rules 4 and 5: no overdue payment, self-service not disabled."""
    reasons = []
    if source.has_overdue:
        reasons.append(
            reason(
                "source_overdue",
                account=source.uid,
                available=format_amount(source.available_balance),
            )
        )
    block = self_service_block(source)
    if block is not None:
        reasons.append(block)
    return reasons


@dataclass(frozen=True)
class Transferable:
    account: Account
    cash_balance: Decimal
    transferred_in_balance: Decimal
    own_funds: Decimal
    uncleared_amount: Decimal
    credit_limit: Decimal
    available_balance: Decimal
    transferable_amount: Decimal
    reasons: list[Reason] = field(default_factory=list)
    blocked: bool = False


def _transferable_amount(account: Account) -> Decimal:
    """max(0, min(own funds, available)): SPEC §3.2 rule 6's bound."""
    return max(ZERO, min(account.own_cash, account.available_balance))


def get_transferable(account: Account) -> Transferable:
    """transferable = max(0, min(cash - transferred_in, available)), with reasons."""
    cash = account.cash_balance
    own = account.own_cash
    available = account.available_balance
    blocks = source_blocks(account)
    amount = ZERO if blocks else _transferable_amount(account)
    reasons = list(blocks)
    if own < cash:
        reasons.append(
            reason(
                "transferred_in_funds",
                transferred_in=format_amount(account.transferred_in_balance),
                cash=format_amount(cash),
            )
        )
    if available < cash:
        reasons.append(
            reason(
                "uncleared_charges",
                uncleared=format_amount(account.uncleared_amount),
                available=format_amount(max(ZERO, available)),
            )
        )
    return Transferable(
        account=account,
        cash_balance=cash,
        transferred_in_balance=account.transferred_in_balance,
        own_funds=own,
        uncleared_amount=account.uncleared_amount,
        credit_limit=account.credit_limit,
        available_balance=available,
        transferable_amount=amount,
        reasons=reasons,
        blocked=bool(blocks),
    )


def transfer_refusals(
    source: Account, destination: Account, amount: Decimal
) -> list[Reason]:
    """Every rule of §3.2 (after permission) that refuses this transfer."""
    reasons: list[Reason] = []
    if source.pk == destination.pk:
        reasons.append(reason("same_account"))
    reasons += _active_reasons(
        *({source.pk: source, destination.pk: destination}.values())
    )
    reasons += currency_reasons(source, destination)
    reasons += _same_company_reasons(source, destination)
    reasons += _source_rules(source)
    transferable = _transferable_amount(source)
    if amount > transferable:
        reasons.append(
            reason(
                "exceeds_transferable",
                amount=format_amount(amount),
                transferable=format_amount(transferable),
                account=source.uid,
            )
        )
    return reasons


def transfer_blocks(source: Account) -> list[Reason]:
    """Why no transfer out of ``source`` can succeed now, whatever its
    destination and amount (the "Transfer funds" button is disabled with
    these): the rules of ``transfer_refusals`` that concern the source alone,
    or, when none holds, a transferable amount of 0.00."""
    blocks = source_blocks(source)
    if blocks:
        return blocks
    if _transferable_amount(source) <= 0:
        return [
            reason(
                "nothing_transferable",
                account=source.uid,
                own=format_amount(source.own_cash),
                available=format_amount(source.available_balance),
            )
        ]
    return []


def _same_company_reasons(source: Account, destination: Account) -> list[Reason]:
    reasons = []
    for account in {source.pk: source, destination.pk: destination}.values():
        reasons += _company_reasons(account)
    if reasons:
        return reasons
    if source.company_id != destination.company_id:
        reasons.append(
            reason("different_company", source=source.uid, destination=destination.uid)
        )
    return reasons


REVOCABLE_TERMS = ("unspent_transferred_in", "remaining_revocable", "available_balance")
_TERM_CODES = {
    "unspent_transferred_in": "exceeds_transferred_in_balance",
    "remaining_revocable": "exceeds_remaining_revocable",
    "available_balance": "would_cause_overdue",
}


@dataclass(frozen=True)
class Revocable:
    source: Account
    destination: Account
    unspent_transferred_in: Decimal
    remaining_revocable: Decimal
    available_balance: Decimal
    revocable_amount: Decimal
    binding: str
    has_prior_transfer: bool

    def terms(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in REVOCABLE_TERMS}


def revocable_from(
    source: Account, destination: Account, pair: TransferPair | None
) -> Revocable:
    """revocable = max(0, min(D.unspent_transferred_in, remaining(S, D),
    D.available)), naming the binding (smallest) term."""
    terms = {
        "unspent_transferred_in": destination.unspent_transferred_in,
        "remaining_revocable": pair.remaining_revocable if pair else ZERO,
        "available_balance": destination.available_balance,
    }
    # min() keeps the first of equal values: ties name the earlier term.
    binding = min(REVOCABLE_TERMS, key=lambda name: terms[name])
    return Revocable(
        source=source,
        destination=destination,
        revocable_amount=max(ZERO, terms[binding]),
        binding=binding,
        has_prior_transfer=pair is not None,
        **terms,
    )


def get_revocable(source: Account, destination: Account) -> Revocable:
    pair = TransferPair.objects.filter(source=source, destination=destination).first()
    return revocable_from(source, destination, pair)


def _pair_reasons(revocable: Revocable) -> list[Reason]:
    """§3.3's rules on the two accounts, whatever the amount: both valid, one
    verified company, and an earlier transfer from source to destination."""
    source, destination = revocable.source, revocable.destination
    reasons = _active_reasons(
        *({source.pk: source, destination.pk: destination}.values())
    )
    reasons += _same_company_reasons(source, destination)
    if not revocable.has_prior_transfer:
        reasons.append(
            reason("no_prior_transfer", source=source.uid, destination=destination.uid)
        )
    return reasons


def revocation_blocks(revocable: Revocable) -> list[Reason]:
    """Why nothing can be taken back from the destination now, whatever the
    amount (a pair's "Revoke" button is disabled with these): the rules of
    ``revocation_refusals`` on the two accounts, or, when none holds, a
    revocable amount of 0.00 and the term that makes it so."""
    reasons = _pair_reasons(revocable)
    if reasons or revocable.revocable_amount > 0:
        return reasons
    return [
        reason(
            "nothing_revocable",
            variant=revocable.binding,
            source=revocable.source.uid,
            destination=revocable.destination.uid,
            available=format_amount(revocable.available_balance),
        )
    ]


def revocation_refusals(revocable: Revocable, amount: Decimal) -> list[Reason]:
    """Every rule of §3.3 (after permission); exceeded terms binding-first."""
    source, destination = revocable.source, revocable.destination
    reasons = _pair_reasons(revocable)
    if not revocable.has_prior_transfer:
        return reasons
    terms = revocable.terms()
    exceeded = sorted(
        (name for name in REVOCABLE_TERMS if amount > max(ZERO, terms[name])),
        key=lambda name: (terms[name], REVOCABLE_TERMS.index(name)),
    )
    for name in exceeded:
        reasons.append(
            reason(
                _TERM_CODES[name],
                amount=format_amount(amount),
                limit=format_amount(max(ZERO, terms[name])),
                source=source.uid,
                destination=destination.uid,
            )
        )
    return reasons


#: Rows of each transfer panel on the account page (the rest is one click away).
PANEL_ROWS = 20


@dataclass
class TransferPairs:
    outgoing: list[Revocable]
    incoming: list[Revocable]
    more_outgoing: bool = False
    more_incoming: bool = False


def list_pairs(account: Account, direction: str) -> QuerySet[TransferPair]:
    """The account's pairs as sender (``out``) or receiver (``in``), the ones
    with the most still revocable first."""
    if direction == "out":
        pairs = TransferPair.objects.filter(source=account).select_related(
            "destination__company"
        )
    else:
        pairs = TransferPair.objects.filter(destination=account).select_related(
            "source__company"
        )
    return pairs.order_by("-remaining_revocable", "pk")


def revocable_rows(account: Account, pairs) -> list[Revocable]:
    """What each pair's sender may take back now, seen from ``account``."""
    return [
        revocable_from(account, pair.destination, pair)
        if pair.source_id == account.pk
        else revocable_from(pair.source, account, pair)
        for pair in pairs
    ]


def list_transfer_pairs(account: Account, *, limit: int = PANEL_ROWS) -> TransferPairs:
    """The account page's transfer panels: at most ``limit`` pairs each way
    (an account may have tens of thousands), and whether there are more."""
    outgoing = list(list_pairs(account, "out")[: limit + 1])
    incoming = list(list_pairs(account, "in")[: limit + 1])
    return TransferPairs(
        outgoing=revocable_rows(account, outgoing[:limit]),
        incoming=revocable_rows(account, incoming[:limit]),
        more_outgoing=len(outgoing) > limit,
        more_incoming=len(incoming) > limit,
    )


def list_transfer_targets(user, source: Account) -> QuerySet[Account]:
    """Destinations the portal offers for a transfer out of ``source``: the other
    accounts of its verified company that the user may name (uid and name)."""
    if source.company is None or not source.company.is_verified:
        return Account.objects.none()
    return (
        list_target_accounts(user)
        .filter(company=source.company_id)
        .exclude(pk=source.pk)
    )


def list_transfer_destinations(user, source: Account) -> QuerySet[Account]:
    """The destinations the portal's picker offers: the transfer targets in the
    source's currency (another could only be refused, ``currency_mismatch``;
    the form still accepts every target, so a forged one gets the whole
    refusal)."""
    return list_transfer_targets(user, source).filter(currency=source.currency)


@dataclass(frozen=True)
class MovementPreview:
    """A movement's effect before it is made: both accounts before and after."""

    reasons: list[Reason]
    source_before: Account
    source_after: Account
    destination_before: Account
    destination_after: Account
    amount: Decimal


def _after(account: Account, **deltas) -> Account:
    result = copy.copy(account)
    for name, delta in deltas.items():
        setattr(result, name, getattr(result, name) + delta)
    return result


def preview_transfer(source: Account, destination: Account, amount: Decimal):
    """The refusal reasons, or the balances a transfer would leave (§3.2)."""
    return MovementPreview(
        reasons=transfer_refusals(source, destination, amount),
        source_before=source,
        source_after=_after(source, own_cash=-amount),
        destination_before=destination,
        destination_after=_after(destination, transferred_in_balance=amount),
        amount=amount,
    )


def preview_revocation(source: Account, destination: Account, amount: Decimal):
    """The refusal reasons, or the balances a revocation would leave (§3.3)."""
    return MovementPreview(
        reasons=revocation_refusals(get_revocable(source, destination), amount),
        source_before=source,
        source_after=_after(source, own_cash=amount),
        destination_before=destination,
        destination_after=_after(destination, transferred_in_balance=-amount),
        amount=amount,
    )


def get_settleable_amount(account: Account) -> Decimal:
    """What a settlement pays now: the smaller of cash and uncleared charges."""
    return min(account.cash_balance, account.uncleared_amount)


@dataclass(frozen=True)
class TopUpPreview:
    amount: Decimal
    settles: Decimal
    cash_after: Decimal
    uncleared_after: Decimal


def preview_top_up(account: Account, amount: Decimal) -> TopUpPreview:
    """A top-up adds own funds, then settles what it can (§3.1)."""
    after = _after(account, own_cash=amount)
    settles = get_settleable_amount(after)
    return TopUpPreview(
        amount=amount,
        settles=settles,
        cash_after=after.cash_balance - settles,
        uncleared_after=after.uncleared_amount - settles,
    )


def list_revocation_destinations(source: Account) -> QuerySet[Account]:
    """Accounts ``source`` has transferred to (it may take funds back from them)."""
    return Account.objects.filter(
        pk__in=TransferPair.objects.filter(source=source).values("destination")
    )
