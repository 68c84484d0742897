"""The posting engine: one balanced movement on any book of any holder.

A leg is written in natural terms (``increase``/``decrease`` a book); the
engine turns it into a signed, debit-positive amount, checks that the legs of a
movement sum to zero and share one currency, applies each leg to its holder's
cached balance and records ``balance_after``.

Books, by holder:

============  =====================  ======  ===================================
holder        book                   normal  cached in
============  =====================  ======  ===================================
account       own_cash               credit  Account.own_cash
account       transferred_in         credit  Account.transferred_in_balance
account       uncleared              debit   Account.uncleared_amount
pair          remaining_revocable    credit  TransferPair.remaining_revocable
provider      funding                debit   (not cached: money received)
provider      revenue                credit  (not cached: usage billed)
provider      revocable_control      debit   (not cached: contra of pair memos)
============  =====================  ======  ===================================

Lock order (global, for every service): accounts by primary key, then transfer
pairs by primary key, then charges by primary key. Holders passed to ``post``
must have been locked through ``lock_accounts``/``lock_pair``.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing_portal.money import ZERO

from .models import Account, Movement, OverdueEpisode, Posting, TransferPair

DEBIT, CREDIT = 1, -1

#: (holder type, book) -> (cached field or None, normal side)
BOOKS: dict[tuple[str, str], tuple[str | None, int]] = {
    ("account", "own_cash"): ("own_cash", CREDIT),
    ("account", "transferred_in"): ("transferred_in_balance", CREDIT),
    ("account", "uncleared"): ("uncleared_amount", DEBIT),
    ("pair", "remaining_revocable"): ("remaining_revocable", CREDIT),
    ("provider", "funding"): (None, DEBIT),
    ("provider", "revenue"): (None, CREDIT),
    ("provider", "revocable_control"): (None, DEBIT),
}

HOLDER_TYPES = {Account: "account", TransferPair: "pair"}

#: The provider itself: one holder, its books are never cached or locked.
PROVIDER = None


@dataclass(frozen=True)
class Leg:
    holder: Account | TransferPair | None  # None is the provider
    book: str
    delta: Decimal  # change of the book's natural balance

    @property
    def holder_type(self) -> str:
        return "provider" if self.holder is None else HOLDER_TYPES[type(self.holder)]


def increase(holder, book: str, amount: Decimal) -> Leg:
    return Leg(holder, book, amount)


def decrease(holder, book: str, amount: Decimal) -> Leg:
    return Leg(holder, book, -amount)


class LedgerError(AssertionError):
    """A programming error: an unbalanced or mixed-currency movement."""


def lock_accounts(*ids: int) -> dict[int, Account]:
    """Lock accounts in primary-key order (the global lock order) and return them."""
    unique_ids = sorted(set(ids))
    # The company comes along for the rules (verified? same company?); only the
    # account rows are locked (``of=("self",)``), never the company row.
    accounts = {
        a.pk: a
        for a in Account.objects.select_for_update(of=("self",))
        .select_related("company")
        .filter(pk__in=unique_ids)
        .order_by("pk")
    }
    for account in accounts.values():
        account._locked = True
    return accounts


def lock_pair(
    source: Account, destination: Account, *, create: bool
) -> TransferPair | None:
    """Lock the (source, destination) pair; both accounts must be locked already.

    Creating it under both account locks is race-free: every writer of a pair
    holds both of its accounts' locks first.
    """
    if not (
        getattr(source, "_locked", False) and getattr(destination, "_locked", False)
    ):
        raise LedgerError("lock both accounts before their pair")
    qs = TransferPair.objects.select_for_update()
    pair = qs.filter(source=source, destination=destination).first()
    if pair is None and create:
        pair = TransferPair.objects.create(
            source=source, destination=destination, currency=source.currency
        )
    if pair is not None:
        pair._locked = True
    return pair


def post(
    *,
    kind: str,
    account: Account,
    amount: Decimal,
    legs: list[Leg],
    actor=None,
    counterparty: Account | None = None,
    effective_at=None,
    memo: str = "",
    reverses: Movement | None = None,
) -> Movement:
    """Write one balanced movement and apply it to the holders' cached balances."""
    currency = account.currency
    total = Decimal(0)
    for leg in legs:
        field, normal = BOOKS[(leg.holder_type, leg.book)]
        if leg.holder is not None:
            if getattr(leg.holder, "currency", currency) != currency:
                raise LedgerError(f"mixed currencies in one movement: {leg}")
            if not getattr(leg.holder, "_locked", False):
                raise LedgerError(f"holder not locked before posting: {leg}")
        total += leg.delta * normal
    if total != 0:
        raise LedgerError(f"unbalanced movement: legs sum to {total}")

    now = timezone.now()
    movement = Movement.objects.create(
        kind=kind,
        account=account,
        counterparty=counterparty,
        amount=amount,
        currency=currency,
        effective_at=effective_at or now,
        posted_at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        memo=memo,
        reverses=reverses,
    )
    postings = []
    touched: dict[int, object] = {}
    for leg in legs:
        if leg.delta == 0:
            continue
        field, normal = BOOKS[(leg.holder_type, leg.book)]
        balance_after = None
        if field is not None:
            if id(leg.holder) not in touched and isinstance(leg.holder, Account):
                leg.holder._available_before = leg.holder.available_balance
            balance_after = getattr(leg.holder, field) + leg.delta
            setattr(leg.holder, field, balance_after)
            touched[id(leg.holder)] = leg.holder
        postings.append(
            Posting(
                movement=movement,
                holder_type=leg.holder_type,
                holder_id=0 if leg.holder is None else leg.holder.pk,
                book=leg.book,
                currency=currency,
                amount=leg.delta * normal,
                balance_after=balance_after,
            )
        )
    Posting.objects.bulk_create(postings)
    for holder in touched.values():
        fields = [
            f
            for (htype, _b), (f, _n) in BOOKS.items()
            if f and htype == HOLDER_TYPES[type(holder)]
        ]
        holder.save(update_fields=fields)
        # An episode is open exactly while available < 0, so only a balance
        # that is or was negative can open or close one.
        if (
            isinstance(holder, Account)
            and min(holder._available_before, holder.available_balance) < 0
        ):
            track_overdue(holder, at=now)
    return movement


def reverse(movement: Movement, *, actor=None, memo: str = "") -> Movement:
    """Post the exact opposite of ``movement`` (the only way to correct one).

    Movements with a sub-ledger of their own (charges and their settlements,
    transfers and revocations with their pair) are corrected by their own
    services instead, so that the sub-ledger stays consistent.
    """
    if movement.kind != Movement.Kind.TOP_UP:
        raise LedgerError(
            f"{movement.kind} movements are corrected by their own service"
        )
    by_type = defaultdict(set)
    for p in movement.postings.all():
        by_type[p.holder_type].add(p.holder_id)
    accounts = lock_accounts(*by_type["account"])
    pairs = {
        p.pk: p
        for p in TransferPair.objects.select_for_update()
        .filter(pk__in=sorted(by_type["pair"]))
        .order_by("pk")
    }
    for pair in pairs.values():
        pair._locked = True
    holders = {"account": accounts, "pair": pairs}
    legs = []
    for p in movement.postings.all():
        _field, normal = BOOKS[(p.holder_type, p.book)]
        holder = (
            None if p.holder_type == "provider" else holders[p.holder_type][p.holder_id]
        )
        legs.append(Leg(holder, p.book, -p.amount * normal))
    return post(
        kind=Movement.Kind.REVERSAL,
        account=accounts[movement.account_id],
        counterparty=movement.counterparty,
        amount=movement.amount,
        legs=legs,
        actor=actor,
        effective_at=movement.effective_at,
        memo=memo or f"Reversal of movement {movement.pk}",
        reverses=movement,
    )


def track_overdue(account: Account, *, at) -> None:
    """Open or close the account's overdue episode as its available balance moved."""
    open_episode = OverdueEpisode.objects.open().filter(account=account).first()
    if account.has_overdue and open_episode is None:
        OverdueEpisode.objects.create(account=account, start=at)
    elif not account.has_overdue and open_episode is not None:
        open_episode.end = at
        open_episode.save(update_fields=["end"])


def book_balance(holder_type: str, holder_id: int, book: str) -> Decimal:
    """The natural balance of a book, summed from its legs."""
    _field, normal = BOOKS[(holder_type, book)]
    total = Posting.objects.filter(
        holder_type=holder_type, holder_id=holder_id, book=book
    ).aggregate(s=Sum("amount"))["s"]
    return (total or ZERO) * normal


def find_discrepancies() -> list[str]:
    """Recompute every cached balance from the legs; describe each difference.

    Checks: every movement's legs sum to zero in one currency; each account's
    own cash, transferred-in and uncleared books and each pair's remaining
    revocable equal the sums of their legs and their last ``balance_after``;
    each charge's outstanding equals its amount less its allocations, and an
    account's uncleared amount equals its charges' outstanding.
    """
    from django.db.models import Count, F, OuterRef, Subquery

    from .models import Charge

    problems = []
    unbalanced = (
        Posting.objects.values("movement")
        .annotate(
            total=Sum("amount"),
            legs=Count("id"),
            currencies=Count("currency", distinct=True),
        )
        .exclude(total=0, currencies=1)
        .order_by()
    )
    problems += [
        f"movement {row['movement']}: legs sum to {row['total']}" for row in unbalanced
    ]
    legless = Movement.objects.annotate(n=Count("postings")).filter(n__lt=2)
    problems += [f"movement {m.pk}: fewer than two legs" for m in legless]

    sums = defaultdict(lambda: ZERO)
    for row in (
        Posting.objects.exclude(holder_type="provider")
        .values("holder_type", "holder_id", "book")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        _field, normal = BOOKS[(row["holder_type"], row["book"])]
        sums[(row["holder_type"], row["holder_id"], row["book"])] = (
            row["total"] * normal
        )
    last_after = {}
    latest = (
        Posting.objects.filter(
            holder_type=OuterRef("holder_type"),
            holder_id=OuterRef("holder_id"),
            book=OuterRef("book"),
        )
        .order_by("-id")
        .values("id")[:1]
    )
    for row in (
        Posting.objects.exclude(holder_type="provider")
        .filter(id=Subquery(latest))
        .values("holder_type", "holder_id", "book", "balance_after")
    ):
        last_after[(row["holder_type"], row["holder_id"], row["book"])] = row[
            "balance_after"
        ]

    holders = {"account": Account.objects.all(), "pair": TransferPair.objects.all()}
    for htype, queryset in holders.items():
        books = [(b, f) for (t, b), (f, _n) in BOOKS.items() if t == htype]
        for holder in queryset.iterator():
            for book, field in books:
                cached = getattr(holder, field)
                key = (htype, holder.pk, book)
                if cached != sums[key]:
                    problems.append(
                        f"{htype} {holder.pk} {book}: cached {cached}, "
                        f"legs sum to {sums[key]}"
                    )
                if key in last_after and last_after[key] != cached:
                    problems.append(
                        f"{htype} {holder.pk} {book}: cached {cached}, "
                        f"last balance_after {last_after[key]}"
                    )

    allocated = Charge.objects.annotate(
        paid=Coalesce(
            Sum(F("allocations__from_transferred_in") + F("allocations__from_own")),
            ZERO,
        )
    ).exclude(outstanding=F("amount") - F("paid"))
    problems += [
        f"charge {c.pk}: outstanding {c.outstanding}, "
        f"amount less paid {c.amount - c.paid}"
        for c in allocated
    ]
    owed = dict(
        Charge.objects.values("payer_account")
        .annotate(total=Sum("outstanding"))
        .values_list("payer_account", "total")
        .order_by()
    )
    for account in Account.objects.filter(
        Q(uncleared_amount__gt=0) | Q(pk__in=list(owed))
    ):
        if account.uncleared_amount != owed.get(account.pk, ZERO):
            problems.append(
                f"account {account.pk}: uncleared {account.uncleared_amount}, charges "
                f"outstanding {owed.get(account.pk, ZERO)}"
            )
    return problems
