"""The posting engine: one balanced movement on any book of any holder.

A leg is written in natural terms (``increase``/``decrease`` a book); the
engine turns it into a signed, debit-positive amount, checks that the legs of a
movement sum to zero and share one currency, applies each leg to its holder's
cached balance and records ``balance_after``.

The engine is open: each app registers its holder types and their books with
``register_holder`` from its ``AppConfig.ready()`` (the accounts app registers
the ones below in ``accounts.apps``); ``lock``, ``post``, ``reverse`` and
``find_discrepancies`` read the registry, so a new app never edits this module.

Books of the accounts app:

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

Lock order (global, for every service): holder types by ``lock_rank``, then
primary key; rows that are not holders (charges) after the holders of their
app. ``lock`` (and ``lock_pair`` for the one pair a transfer or revocation
touches, after both its accounts) is the only way to lock holders; ``post``
refuses a holder that this transaction has not locked through them.

The hot statements of every movement (the lock, the header with its legs, the
cached balances) are SQL built from the registry and the models' metadata, not
compiled by the ORM each time: they were two thirds of a transfer's CPU
(docs/benchmarks.md). Everything else here goes through the ORM.
"""

import copy
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.db import connection, models
from django.db.models import Count, Sum
from django.utils import timezone

from billing_portal.errors import BalanceOutOfRange, reason
from billing_portal.money import AMOUNT_LIMIT, ZERO, format_amount

from .models import (
    Account,
    Movement,
    OverdueEpisode,
    Posting,
    TransferPair,
)

DEBIT, CREDIT = 1, -1
H = TypeVar("H", bound=models.Model)


@dataclass(frozen=True)
class Book:
    name: str
    normal: int  # DEBIT or CREDIT: the side on which the book's balance grows
    field: str | None  # the holder's cached column, or None (not cached)


@dataclass(eq=False)
class HolderType:
    """A kind of ledger holder: a model whose rows own books (None: the provider)."""

    name: str
    model: type[models.Model] | None
    books: dict[str, Book]
    lock_rank: int
    #: Foreign keys read along with a locked row (not locked themselves).
    related: tuple[str, ...] = ()
    #: Called with each holder after a movement changed its cached books.
    after_post: Callable | None = None
    #: Balances derived from the cached books ({name: value}) that must stay in
    #: range too (an account's cash is two books; its available balance adds
    #: the credit limit).
    derived: Callable[[models.Model], dict[str, Decimal]] | None = None
    cached_fields: list[str] = field(default_factory=list)

    @property
    def row_model(self) -> type[models.Model]:
        """The model of a type that has rows (every type but the provider)."""
        if self.model is None:
            raise LedgerError(f"{self.name} has no rows")
        return self.model


_TYPES: dict[str, HolderType] = {}
_BY_MODEL: dict[type, HolderType] = {}
#: Extra consistency checks of the apps' sub-ledgers: () -> list of problems.
_CHECKS: list[Callable[[], list[str]]] = []


def register_holder(
    model: type[models.Model] | None,
    name: str,
    *,
    books: dict[str, tuple[str | None, int]],
    lock_rank: int,
    related: tuple[str, ...] = (),
    after_post: Callable | None = None,
    derived: Callable[[models.Model], dict[str, Decimal]] | None = None,
) -> HolderType:
    """Make ``model``'s rows holders of ``books`` ({book: (cached field, normal)}).

    ``lock_rank`` places the type in the global lock order (lower locks first).
    Registering the same name again replaces it (tests define their own types).
    """
    holder_type = HolderType(
        name=name,
        model=model,
        books={b: Book(b, normal, f) for b, (f, normal) in books.items()},
        lock_rank=lock_rank,
        related=related,
        after_post=after_post,
        derived=derived,
        cached_fields=[f for f, _n in books.values() if f],
    )
    previous = _TYPES.get(name)
    if previous is not None and previous.model is not None:
        _BY_MODEL.pop(previous.model, None)
    _TYPES[name] = holder_type
    _LOCK_STATEMENTS.pop(name, None)
    if model is not None:
        _BY_MODEL[model] = holder_type
    return holder_type


def register_books(name: str, books: dict[str, tuple[str | None, int]]) -> None:
    """Add books to a registered holder type (e.g. another app's provider books)."""
    holder_type = _TYPES[name]
    for book, (cached_field, normal) in books.items():
        holder_type.books[book] = Book(book, normal, cached_field)
        if cached_field and cached_field not in holder_type.cached_fields:
            holder_type.cached_fields.append(cached_field)


#: What a person reads for a book: {(holder type, book): label}. The codes stay
#: in the data, the API and CSV exports; screens show these (translated).
_BOOK_LABELS: dict[tuple[str, str], str] = {}


def register_book_labels(name: str, labels: dict[str, str]) -> None:
    """Name the books of a holder type for screens (lazy translations)."""
    for book, label in labels.items():
        _BOOK_LABELS[(name, book)] = label


def book_label(holder_type: str, book: str) -> str:
    """The book as a person reads it; the code when no label was registered."""
    return str(_BOOK_LABELS.get((holder_type, book), book))


def unregister_holder(name: str) -> None:
    holder_type = _TYPES.pop(name)
    if holder_type.model is not None:
        _BY_MODEL.pop(holder_type.model, None)


def register_check(check: Callable[[], list[str]]) -> None:
    """Add a sub-ledger consistency check to ``find_discrepancies``."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def holder_types() -> list[HolderType]:
    return sorted(_TYPES.values(), key=lambda t: (t.lock_rank, t.name))


def get_holder_type(name: str) -> HolderType:
    """A registered holder type by name (KeyError if none)."""
    return _TYPES[name]


def holder_type_of(holder) -> HolderType:
    return _TYPES["provider"] if holder is None else _BY_MODEL[type(holder)]


def holder_type_of_name(name: str) -> HolderType:
    return _TYPES[name]


def get_book(holder_type: str, book: str) -> Book:
    return _TYPES[holder_type].books[book]


def account_books() -> list[str]:
    """The books of the account holder type, in registration order."""
    return list(_TYPES["account"].books)


def natural_change(posting: Posting) -> Decimal:
    """A leg as the holder reads it: + when it adds to the book's balance."""
    return posting.amount * get_book(posting.holder_type, posting.book).normal


def natural_change_expression(holder_type: str) -> models.Expression:
    """``natural_change`` in SQL, for annotating a holder's ledger lines."""
    credit_books = [
        b.name for b in _TYPES[holder_type].books.values() if b.normal == CREDIT
    ]
    return models.Case(
        models.When(book__in=credit_books, then=-models.F("amount")),
        default=models.F("amount"),
        output_field=models.DecimalField(max_digits=15, decimal_places=2),
    )


# --- locking -------------------------------------------------------------------

#: Holder instances that ``lock`` returned, by identity. Kept outside the model
#: instances; an entry dies with its instance.
_LOCKED: "weakref.WeakValueDictionary[int, models.Model]" = (
    weakref.WeakValueDictionary()
)


def lock(*holders: models.Model) -> list:
    """Lock holder rows ``SELECT … FOR NO KEY UPDATE`` in the global order and return
    fresh locked instances, in the order given (a repeated holder gives the same
    instance). Must run inside a transaction."""
    if not connection.in_atomic_block:
        raise LedgerError("lock holders inside a transaction")
    wanted: dict[HolderType, set[int]] = defaultdict(set)
    for holder in holders:
        wanted[holder_type_of(holder)].add(holder.pk)
    fresh: dict[tuple[str, int], models.Model] = {}
    for holder_type in sorted(wanted, key=lambda t: (t.lock_rank, t.name)):
        sql, build = _lock_statement(holder_type)
        with connection.cursor() as cursor:
            cursor.execute(sql, [sorted(wanted[holder_type])])
            rows = cursor.fetchall()
        for row in rows:
            holder = build(row)
            _LOCKED[id(holder)] = holder
            fresh[(holder_type.name, holder.pk)] = holder
    return [fresh[(holder_type_of(h).name, h.pk)] for h in holders]


_LOCK_STATEMENTS: dict[str, tuple[str, Callable]] = {}


def _lock_statement(holder_type: HolderType) -> tuple[str, Callable]:
    """The lock of a holder type as SQL built once (the hottest statement of
    every movement, so not compiled by the ORM each time), and the function
    that makes a model instance (with its ``related`` rows) of a result row.
    Only the holder's own rows are locked (``FOR NO KEY UPDATE OF``): writers
    exclude each other, but a row that merely refers to a locked holder by a
    foreign key (a deduction naming an asset's owner account, whose payer lock
    another transaction holds) does not wait for it, which would invert the
    global order and deadlock."""
    if holder_type.name in _LOCK_STATEMENTS:
        return _LOCK_STATEMENTS[holder_type.name]
    model = holder_type.row_model
    quote = connection.ops.quote_name
    meta = model._meta
    fields = list(meta.concrete_fields)
    select = [f"h.{quote(str(f.column))}" for f in fields]
    joins = []
    related = []
    for n, name in enumerate(holder_type.related):
        key = cast(models.ForeignKey, meta.get_field(name))
        other = cast(type[models.Model], key.related_model)
        other_fields = list(other._meta.concrete_fields)
        select += [f"r{n}.{quote(str(f.column))}" for f in other_fields]
        joins.append(
            f"LEFT JOIN {quote(other._meta.db_table)} r{n}"
            f" ON r{n}.{quote(str(other._meta.pk.column))}"
            f" = h.{quote(str(key.column))}"
        )
        related.append((name, other, other_fields))
    sql = (
        f"SELECT {', '.join(select)} FROM {quote(meta.db_table)} h {' '.join(joins)}"
        f" WHERE h.{quote(str(meta.pk.column))} = ANY(%s)"
        f" ORDER BY h.{quote(str(meta.pk.column))} FOR NO KEY UPDATE OF h"
    )
    names = [f.attname for f in fields]
    database = connection.alias

    def convert(model_fields, values):
        # The fields' own conversions (e.g. JSON), as the ORM's iterator applies.
        return [
            field.from_db_value(value, None, connection)
            if hasattr(field, "from_db_value")
            else value
            for field, value in zip(model_fields, values, strict=True)
        ]

    def build(row):
        holder = model.from_db(database, names, convert(fields, row[: len(fields)]))
        start = len(fields)
        for name, other, other_fields in related:
            values = row[start : start + len(other_fields)]
            start += len(other_fields)
            # What select_related would have cached (None for a null key).
            holder._state.fields_cache[name] = (
                other.from_db(
                    database,
                    [f.attname for f in other_fields],
                    convert(other_fields, values),
                )
                if values[0] is not None
                else None
            )
        return holder

    _LOCK_STATEMENTS[holder_type.name] = (sql, build)
    return sql, build


def adopt_locked(holder: H) -> H:
    """Mark a holder row as locked: one created in this transaction (invisible
    to others until commit) or one its owner locked with ``SELECT … FOR
    UPDATE`` in the global order."""
    _LOCKED[id(holder)] = holder
    return holder


def is_locked(holder) -> bool:
    return holder is None or _LOCKED.get(id(holder)) is holder


def lock_accounts(*ids: int) -> dict[int, Account]:
    """Lock accounts in primary-key order and return them by primary key."""
    unique_ids = sorted(set(ids))
    return {a.pk: a for a in lock(*(Account(pk=pk) for pk in unique_ids))}


def lock_pair(
    source: Account, destination: Account, *, create: bool
) -> TransferPair | None:
    """Lock the (source, destination) pair; both accounts must be locked already.

    Creating it under both account locks is race-free: every writer of a pair
    holds both of its accounts' locks first.
    """
    if not (is_locked(source) and is_locked(destination)):
        raise LedgerError("lock both accounts before their pair")
    # One statement, locking or creating: an upsert whose no-op update takes
    # the row lock. Services lock at most one pair, after both its accounts
    # (which rank lower), so pairs need no order among themselves.
    params: list[Any]
    if create:
        sql = (
            "INSERT INTO accounts_transferpair (source_id, destination_id, currency,"
            " remaining_revocable) VALUES (%s, %s, %s, 0)"
            " ON CONFLICT (source_id, destination_id) DO UPDATE SET"
            " remaining_revocable = accounts_transferpair.remaining_revocable"
            " RETURNING id, remaining_revocable"
        )
        params = [source.pk, destination.pk, source.currency]
    else:
        sql = (
            "SELECT id, remaining_revocable FROM accounts_transferpair"
            " WHERE source_id = %s AND destination_id = %s FOR UPDATE"
        )
        params = [source.pk, destination.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pair = TransferPair(
        id=row[0],
        source=source,
        destination=destination,
        currency=source.currency,
        remaining_revocable=row[1],
    )
    pair._state.adding = False
    return adopt_locked(pair)


# --- posting -------------------------------------------------------------------

#: The provider itself: one holder, its books are never cached or locked.
PROVIDER = None


@dataclass(frozen=True)
class Leg:
    holder: models.Model | None  # None is the provider
    book: str
    delta: Decimal  # change of the book's natural balance

    @property
    def holder_type(self) -> str:
        return holder_type_of(self.holder).name

    @property
    def signed(self) -> Decimal:
        """The leg's debit-positive amount."""
        return self.delta * get_book(self.holder_type, self.book).normal


def increase(holder, book: str, amount: Decimal) -> Leg:
    return Leg(holder, book, amount)


def decrease(holder, book: str, amount: Decimal) -> Leg:
    return Leg(holder, book, -amount)


class LedgerError(AssertionError):
    """A programming error: an unbalanced or mixed-currency movement."""


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
        holder_type_of(leg.holder).books[leg.book]  # an unknown book is a KeyError
        if leg.holder is not None:
            if getattr(leg.holder, "currency", currency) != currency:
                raise LedgerError(f"mixed currencies in one movement: {leg}")
            if not is_locked(leg.holder):
                raise LedgerError(f"holder not locked before posting: {leg}")
        total += leg.signed
    if total != 0:
        raise LedgerError(f"unbalanced movement: legs sum to {total}")

    # Compute every cached balance first and refuse before anything is written.
    planned = _plan_balances(legs)
    _ensure_in_range(planned)

    now = timezone.now()
    movement = Movement(
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
    running = {key: dict(before) for key, (_h, _t, before, _a) in planned.items()}
    postings = []
    for leg in legs:
        if leg.delta == 0:
            continue
        holder_type = holder_type_of(leg.holder)
        book = holder_type.books[leg.book]
        balance_after = None
        if book.field is not None:
            balances = running[id(leg.holder)]
            balances[book.field] += leg.delta
            balance_after = balances[book.field]
        postings.append(
            (
                holder_type.name,
                0 if leg.holder is None else leg.holder.pk,
                leg.book,
                leg.signed,
                balance_after,
            )
        )
    _insert_movement(movement, postings)
    _write_cached(planned)
    for holder, holder_type, before, after in planned.values():
        for name, value in after.items():
            setattr(holder, name, value)
        if holder_type.after_post is not None:
            holder_type.after_post(holder, before=before, at=now)
    return movement


def _insert_movement(movement: Movement, postings: list[tuple]) -> None:
    """The header and its legs in one statement (one round trip, no ORM
    compilation on the hottest path); ``movement`` gets its id."""
    if len(postings) < 2:
        raise LedgerError("a movement has at least two non-zero legs")
    header = [
        "kind",
        "account_id",
        "counterparty_id",
        "amount",
        "currency",
        "effective_at",
        "posted_at",
        "actor_id",
        "memo",
        "reverses_id",
    ]
    leg_row = "(%s::varchar, %s::bigint, %s::varchar, %s::numeric, %s::numeric)"
    sql = (
        f"WITH m AS (INSERT INTO accounts_movement ({', '.join(header)})"
        f" VALUES ({', '.join(['%s'] * len(header))}) RETURNING id)"
        " INSERT INTO accounts_posting (movement_id, holder_type, holder_id, book,"
        " currency, amount, balance_after)"
        " SELECT m.id, v.holder_type, v.holder_id, v.book, %s, v.amount, v.after"
        f" FROM m, (VALUES {', '.join([leg_row] * len(postings))})"
        " AS v(holder_type, holder_id, book, amount, after)"
        " RETURNING movement_id"
    )
    params: list[Any] = [getattr(movement, column) for column in header]
    params.append(movement.currency)
    for row in postings:
        params += row
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        movement.pk = cursor.fetchone()[0]
    movement._state.adding = False


def _write_cached(planned: dict[int, tuple]) -> None:
    """One ``UPDATE … FROM (VALUES …)`` per holder type for every changed row
    (a transfer's two accounts in one statement, not a ``save()`` each)."""
    by_type: dict[str, list] = defaultdict(list)
    for holder, holder_type, _before, after in planned.values():
        by_type[holder_type.name].append((holder, holder_type, after))
    for rows in by_type.values():
        holder_type = rows[0][1]
        meta = holder_type.row_model._meta
        quote = connection.ops.quote_name
        columns = [meta.get_field(f).column for f in holder_type.cached_fields]
        row_sql = "(%s" + ", %s::numeric" * len(columns) + ")"
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET "
            + ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
            + " FROM (VALUES "
            + ", ".join([row_sql] * len(rows))
            + f") AS v(id, {', '.join(quote(c) for c in columns)})"
            + f" WHERE t.{quote(meta.pk.column)} = v.id"
        )
        params: list[Any] = []
        for holder, _type, after in rows:
            params.append(holder.pk)
            params += [after[f] for f in holder_type.cached_fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _plan_balances(legs: list[Leg]) -> dict[int, tuple]:
    """{id(holder): (holder, type, cached before, cached after)} for every holder
    whose cached books the legs change; the holders themselves are untouched."""
    planned: dict[int, tuple] = {}
    for leg in legs:
        if leg.delta == 0:
            continue
        holder_type = holder_type_of(leg.holder)
        book = holder_type.books[leg.book]
        if book.field is None:
            continue
        if id(leg.holder) not in planned:
            before = {f: getattr(leg.holder, f) for f in holder_type.cached_fields}
            planned[id(leg.holder)] = (leg.holder, holder_type, before, dict(before))
        after = planned[id(leg.holder)][3]
        after[book.field] += leg.delta
    return planned


def _ensure_in_range(planned: dict[int, tuple]) -> None:
    """SPEC §2: a movement that would leave any balance at 10^13 or more (either
    sign) is refused with ``balance_out_of_range``; the columns could not hold
    it anyway (a numeric overflow, a 500, instead of an answer)."""
    reasons = []
    for holder, holder_type, _before, after in planned.values():
        balances = dict(after)
        if holder_type.derived is not None:
            projected = copy.copy(holder)
            for name, value in after.items():
                setattr(projected, name, value)
            balances.update(holder_type.derived(projected))
        worst = max(balances.values(), key=abs)
        if abs(worst) >= AMOUNT_LIMIT:
            reasons.append(_range_reason(holder, worst))
    if reasons:
        raise BalanceOutOfRange(reasons)


def _range_reason(holder, balance: Decimal):
    value = format_amount(balance)
    if isinstance(holder, Account):
        return reason(
            "balance_out_of_range", variant="account", account=holder.uid, balance=value
        )
    if isinstance(holder, TransferPair):
        return reason(
            "balance_out_of_range",
            variant="pair",
            source=holder.source.uid,
            destination=holder.destination.uid,
            balance=value,
        )
    return reason("balance_out_of_range", balance=value)


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
    postings = list(movement.postings.all())
    stand_ins = [
        _TYPES[p.holder_type].row_model(pk=p.holder_id)
        for p in postings
        if p.holder_type != "provider"
    ]
    locked = {
        (holder_type_of(h).name, h.pk): h
        for h in lock(Account(pk=movement.account_id), *stand_ins)
    }
    legs = [
        Leg(
            locked.get((p.holder_type, p.holder_id)),
            p.book,
            -natural_change(p),
        )
        for p in postings
    ]
    return post(
        kind=Movement.Kind.REVERSAL,
        account=locked[("account", movement.account_id)],
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


def account_after_post(account: Account, *, before: dict, at) -> None:
    """An episode is open exactly while available < 0, so only a balance that is
    or was negative can open or close one."""
    available_before = (
        before["own_cash"]
        + before["transferred_in_balance"]
        + account.credit_limit
        - before["uncleared_amount"]
    )
    if min(available_before, account.available_balance) < 0:
        track_overdue(account, at=at)


# --- checking --------------------------------------------------------------------


def book_balance(holder_type: str, holder_id: int, book: str) -> Decimal:
    """The natural balance of a book, summed from its legs."""
    total = Posting.objects.filter(
        holder_type=holder_type, holder_id=holder_id, book=book
    ).aggregate(s=Sum("amount"))["s"]
    return (total or ZERO) * get_book(holder_type, book).normal


def find_discrepancies() -> list[str]:
    """Recompute every cached balance from the legs; describe each difference.

    Checks: every movement's legs sum to zero in one currency; each registered
    holder's cached books equal the sums of their legs and their last
    ``balance_after``; then each app's registered sub-ledger checks.
    """
    problems = []
    unbalanced = (
        Posting.objects.values("movement")
        .annotate(total=Sum("amount"), currencies=Count("currency", distinct=True))
        .exclude(total=0, currencies=1)
        .order_by()
    )
    problems += [
        f"movement {row['movement']}: legs sum to {row['total']}" for row in unbalanced
    ]
    legless = Movement.objects.annotate(n=Count("postings")).filter(n__lt=2)
    problems += [f"movement {m.pk}: fewer than two legs" for m in legless]

    for holder_type in holder_types():
        if holder_type.model is None or not holder_type.cached_fields:
            continue
        problems += _check_holder_type(holder_type)
    for check in _CHECKS:
        problems += check()
    return problems


def _check_holder_type(holder_type: HolderType) -> list[str]:
    """One pass in SQL per holder type, returning only the differences (flat
    memory at any size): each cached book against the sum of its legs and its
    last ``balance_after``."""
    table = connection.ops.quote_name(holder_type.row_model._meta.db_table)
    cached_books = [b for b in holder_type.books.values() if b.field]
    cached = " UNION ALL ".join(
        f"SELECT id, %s AS book, {connection.ops.quote_name(str(b.field))} AS value"
        f" FROM {table}"
        for b in cached_books
    )
    normal = "CASE " + " ".join("WHEN book = %s THEN %s" for _b in cached_books)
    sql = f"""
        WITH legs AS (
            SELECT holder_id, book, sum(amount) * ({normal} ELSE 1 END) AS total,
                   (array_agg(balance_after ORDER BY id DESC))[1] AS last_after
              FROM accounts_posting WHERE holder_type = %s
             GROUP BY holder_id, book)
        SELECT c.id, c.book, c.value, coalesce(l.total, 0), l.last_after
          FROM ({cached}) c
          LEFT JOIN legs l ON l.holder_id = c.id AND l.book = c.book
         WHERE c.value <> coalesce(l.total, 0)
            OR (l.holder_id IS NOT NULL AND l.last_after IS DISTINCT FROM c.value)
         ORDER BY c.id, c.book
    """
    params = [x for b in cached_books for x in (b.name, b.normal)]
    params += [holder_type.name, *(b.name for b in cached_books)]
    problems = []
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for pk, book, value, legs_sum, last_after in cur:
            if value != legs_sum:
                problems.append(
                    f"{holder_type.name} {pk} {book}: cached {value}, "
                    f"legs sum to {legs_sum}"
                )
            if last_after is not None and last_after != value:
                problems.append(
                    f"{holder_type.name} {pk} {book}: cached {value}, "
                    f"last balance_after {last_after}"
                )
    return problems


def check_charges() -> list[str]:
    """Each charge's outstanding is its amount less its allocations, and each
    payer's uncleared amount is its charges' outstanding (in SQL, differences
    only)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.id, c.outstanding, c.amount - coalesce(sum(
                   s.from_transferred_in + s.from_own), 0)
              FROM accounts_charge c
              LEFT JOIN accounts_settlementallocation s ON s.charge_id = c.id
             GROUP BY c.id
            HAVING c.outstanding <> c.amount - coalesce(sum(
                   s.from_transferred_in + s.from_own), 0)
             ORDER BY c.id
            """
        )
        problems = [
            f"charge {pk}: outstanding {outstanding}, amount less paid {unpaid}"
            for pk, outstanding, unpaid in cur
        ]
        cur.execute(
            """
            SELECT a.id, a.uncleared_amount, coalesce(o.total, 0)
              FROM accounts_account a
              LEFT JOIN (SELECT payer_account_id, sum(outstanding) AS total
                           FROM accounts_charge GROUP BY payer_account_id) o
                ON o.payer_account_id = a.id
             WHERE a.uncleared_amount <> coalesce(o.total, 0)
             ORDER BY a.id
            """
        )
        problems += [
            f"account {pk}: uncleared {uncleared}, charges outstanding {owed}"
            for pk, uncleared, owed in cur
        ]
    return problems
