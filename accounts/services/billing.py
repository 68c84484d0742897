"""Set-wise usage charges for bill runs: the batch twin of ``charge_usage``.

One statement per step over a whole batch instead of a dozen per record: payers
by join, movements, legs and charges by ``INSERT … SELECT``, balances by one
aggregated ``UPDATE``. The result is the same as ``charge_usage`` record by
record in the batch's order (tests compare them): the same payer (SPEC §3.6,
decided at the usage start), one movement per record with the gross amount as
revenue, each deduction leg (a benefit's book), and the net to the payer's
uncleared amount, ``balance_after`` running in that order on every book, a
``Charge`` of the net, an overdue episode opened for a payer whose available
balance goes below zero.

The caller fills a temporary table (see ``BATCH_COLUMNS``) and calls
``assign_payers`` (fills ``payer_id`` and reserves ``movement_id`` and
``charge_id``) and then ``charge_usage_batch`` inside its transaction. A caller
that deducts (bill runs: ``sharing.services.deduct_batch``) locks the payers
first (``lock_payers``), then its own holders in the global order, decides,
and passes its legs in a second table (see ``DEDUCTION_COLUMNS``).
"""

from typing import cast

from django.db import connection, models

from billing_portal.errors import BalanceOutOfRange, reason
from billing_portal.money import AMOUNT_LIMIT, format_amount

from .. import ledger
from ..ledger import LedgerError

#: Columns of the caller's batch table. ``row_id`` orders the batch (as if
#: charged one by one in that order); ``net`` is what remains to the payer after
#: deductions: the caller writes ``amount`` and ``charge_usage_batch`` lowers
#: it by the row's deduction legs (it refuses a row whose legs do not balance).
BATCH_COLUMNS = """
    row_id bigint PRIMARY KEY,
    usage_account_id bigint NOT NULL,
    currency varchar(3) NOT NULL,
    amount numeric(15, 2) NOT NULL,
    net numeric(15, 2) NOT NULL,
    effective_at timestamptz NOT NULL,
    memo varchar(255) NOT NULL,
    payer_id bigint,
    movement_id bigint,
    charge_id bigint
"""

#: Columns of a batch's deduction legs (``charge_usage_batch(deductions=…)``):
#: the legs of row ``row_id``'s movement before its uncleared and revenue legs,
#: in ``position`` order, each as ``ledger.Leg`` has it: a registered holder
#: (type and id), one of its books, and the change of the book's natural
#: balance (``decrease(asset, "remaining", 5)`` is ``-5``).
DEDUCTION_COLUMNS = """
    row_id bigint NOT NULL,
    position integer NOT NULL,
    holder_type varchar(32) NOT NULL,
    holder_id bigint NOT NULL,
    book varchar(32) NOT NULL,
    delta numeric(15, 2) NOT NULL,
    PRIMARY KEY (row_id, position)
"""


def create_batch_table(name: str) -> None:
    """A temporary batch table of this connection (dropped when it closes)."""
    with connection.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({BATCH_COLUMNS})")
        cur.execute(f"TRUNCATE {name}")


def create_deductions_table(name: str) -> None:
    """A temporary table of deduction legs (see ``DEDUCTION_COLUMNS``), empty."""
    with connection.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({DEDUCTION_COLUMNS})")
        cur.execute(f"TRUNCATE {name}")


def assign_payers(*, table: str) -> int:
    """Fill ``payer_id`` (SPEC §3.6, by join) and reserve the ids of each row's
    movement and charge, so the caller can write rows that refer to them (e.g.
    usage records) before ``charge_usage_batch``; return the count."""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            UPDATE {table} SET payer_id = usage_account_id,
              movement_id = nextval(pg_get_serial_sequence(
                  'accounts_movement', 'id')),
              charge_id = nextval(pg_get_serial_sequence('accounts_charge', 'id'))
            """
        )
        count = cur.rowcount
        # Then, by one join, the management account of a trusteeship active at
        # the usage start (start <= t < end): few rows, one hash join.
        cur.execute(
            f"""
            UPDATE {table} b SET payer_id = r.management_account_id
              FROM accounts_financialrelationship r
             WHERE r.member_account_id = b.usage_account_id
               AND r.type = 'trusteeship'
               AND r.start <= b.effective_at
               AND (r."end" IS NULL OR b.effective_at < r."end")
            """
        )
        cur.execute(f"ANALYZE {table}")
        return count


def lock_payers(*, table: str) -> dict[int, tuple]:
    """Lock the payers of a batch in the global order (accounts by primary key);
    return {id: (uncleared, currency, uid, cash + credit limit)}.

    ``charge_usage_batch`` calls it; a caller that locks holders ranked after
    accounts (assets, their hours) calls it first, so that the charge's own
    lock of the payers is a no-op and never waits behind those holders.
    """
    if not connection.in_atomic_block:
        raise LedgerError("lock payers inside a transaction")
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT a.id, a.uncleared_amount, a.currency, a.uid,
                   a.own_cash + a.transferred_in_balance + a.credit_limit
              FROM accounts_account a
             WHERE a.id IN (SELECT DISTINCT payer_id FROM {table})
             ORDER BY a.id
               FOR NO KEY UPDATE OF a
            """
        )
        return {row[0]: row[1:] for row in cur}


def charge_usage_batch(*, table: str, actor=None, deductions: str | None = None) -> int:
    """Charge every row of ``table`` (see the module docstring; payers assigned
    by ``assign_payers``); return the count.

    ``deductions`` names a table of deduction legs (``DEDUCTION_COLUMNS``): they
    join their row's movement, its ``net`` becomes the amount less what they
    deduct (between 0 and the amount, or ``LedgerError``), their holders'
    cached books move by one aggregated update per book.

    Must run inside the caller's transaction: the payers, then the deduction
    holders (by holder type's rank, then primary key: the global order) are
    locked before anything is written.
    """
    if not connection.in_atomic_block:
        raise LedgerError("charge a batch inside a transaction")
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE payer_id IS NULL")
        if cur.fetchone()[0]:
            raise LedgerError("assign the payers of a batch before charging it")
        cur.execute(f"SELECT count(*) FROM {table}")
        count = cur.fetchone()[0]
        if not count:
            return 0
        payers = lock_payers(table=table)
        books = _deduction_books(table, deductions) if deductions else []
        _check_nets(table, deductions, books)
        cur.execute(
            f"""
            SELECT b.payer_id, b.currency, sum(b.net)
              FROM {table} b GROUP BY b.payer_id, b.currency
            """
        )
        reasons = []
        for payer_id, currency, total in cur.fetchall():
            uncleared, payer_currency, uid, funds = payers[payer_id]
            if currency != payer_currency:
                raise LedgerError(f"mixed currencies for payer {payer_id}")
            # SPEC §2: no balance at 10^13 or more, as ledger.post refuses it
            # (here the uncleared amount grows and the available balance falls).
            worst = max(uncleared + total, abs(funds - uncleared - total))
            if worst >= AMOUNT_LIMIT:
                reasons.append(
                    reason(
                        "balance_out_of_range",
                        variant="account",
                        account=uid,
                        balance=format_amount(worst),
                    )
                )
        reasons += _deduction_range_reasons(deductions, books)
        if reasons:
            raise BalanceOutOfRange(reasons)

        cur.execute(
            f"""
            INSERT INTO accounts_movement (id, kind, account_id, counterparty_id,
                amount, currency, effective_at, posted_at, actor_id, memo)
            SELECT movement_id, 'usage_charge', payer_id,
                   NULLIF(usage_account_id, payer_id), amount, currency,
                   effective_at, now(), %s, memo
              FROM {table} ORDER BY row_id
            """,
            [actor_id],
        )
        # Legs in the batch's order, so ids and balance_after run together:
        # each movement's deduction legs (in position order), the payer's
        # uncleared (debit-normal, + net; none when net is 0) and the
        # provider's revenue (credit-normal, - gross), as ``charge_usage``.
        deduction_legs, params = _deduction_legs_sql(table, deductions, books)
        cur.execute(
            f"""
            INSERT INTO accounts_posting (movement_id, holder_type, holder_id,
                book, currency, amount, balance_after)
            SELECT movement_id, holder_type, holder_id, book, currency, signed,
                   after
              FROM (
                SELECT b.row_id, 1 AS leg, 0 AS position, b.movement_id,
                       'account'::varchar AS holder_type, b.payer_id AS holder_id,
                       'uncleared'::varchar AS book, b.currency,
                       b.net AS signed,
                       a.uncleared_amount + sum(b.net) OVER (
                           PARTITION BY b.payer_id ORDER BY b.row_id) AS after
                  FROM {table} b JOIN accounts_account a ON a.id = b.payer_id
                 WHERE b.net <> 0
                UNION ALL
                SELECT b.row_id, 2, 0, b.movement_id, 'provider', 0, 'revenue',
                       b.currency, -b.amount, NULL
                  FROM {table} b
                {deduction_legs}
              ) legs
             ORDER BY row_id, leg, position
            """,
            params,
        )
        cur.execute(
            f"""
            INSERT INTO accounts_charge (id, movement_id, usage_account_id,
                payer_account_id, amount, currency, effective_at, outstanding)
            SELECT charge_id, movement_id, usage_account_id, payer_id, net,
                   currency, effective_at, net
              FROM {table} ORDER BY row_id
            """
        )
        cur.execute(
            f"""
            UPDATE accounts_account a
               SET uncleared_amount = a.uncleared_amount + t.total
              FROM (SELECT payer_id, sum(net) AS total FROM {table}
                     GROUP BY payer_id) t
             WHERE a.id = t.payer_id AND t.total <> 0
            """
        )
        _write_deduction_balances(deductions, books)
        # Charges only lower the available balance: an episode can open, never
        # close (SPEC §3.5: overdue while available < 0).
        cur.execute(
            f"""
            INSERT INTO accounts_overdueepisode (account_id, start)
            SELECT a.id, now() FROM accounts_account a
             WHERE a.id IN (SELECT DISTINCT payer_id FROM {table})
               AND a.own_cash + a.transferred_in_balance + a.credit_limit
                   - a.uncleared_amount < 0
               AND NOT EXISTS (SELECT 1 FROM accounts_overdueepisode e
                                WHERE e.account_id = a.id AND e."end" IS NULL)
            """
        )
    return count


# --- deduction legs of a batch ------------------------------------------------------


def _deduction_books(table: str, deductions: str) -> list[tuple]:
    """The (holder type, book) pairs of the legs, checked against the registry,
    their holders locked (by rank, then primary key) and their currencies
    checked against their rows'; [(holder type, book, table, pk column,
    cached column or None)]."""
    quote = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT count(*) FROM {deductions} d
             WHERE NOT EXISTS (SELECT 1 FROM {table} b WHERE b.row_id = d.row_id)
            """
        )
        if cur.fetchone()[0]:
            raise LedgerError("deduction legs of rows that are not in the batch")
        cur.execute(f"SELECT DISTINCT holder_type, book FROM {deductions}")
        pairs = cur.fetchall()
        books = []
        for type_name, book_name in pairs:
            try:
                holder_type = ledger.get_holder_type(type_name)
                book = holder_type.books[book_name]
            except KeyError:
                raise LedgerError(
                    f"deduction leg on an unknown book {type_name}.{book_name}"
                ) from None
            if holder_type.model is None or holder_type.after_post is not None:
                raise LedgerError(f"{type_name} cannot take deduction legs in a batch")
            meta = holder_type.row_model._meta
            column = None
            if book.field is not None:
                field = cast(models.Field, meta.get_field(book.field))
                column = quote(str(field.column))
            books.append(
                (holder_type, book, quote(meta.db_table), quote(str(meta.pk.column)),
                 column)
            )  # fmt: skip
        books.sort(key=lambda b: (b[0].lock_rank, b[0].name, b[1].name))
        locked = set()
        for holder_type, _book, db_table, pk, _column in books:
            if holder_type.name in locked:
                continue
            locked.add(holder_type.name)
            cur.execute(
                f"""
                SELECT h.{pk} FROM {db_table} h
                 WHERE h.{pk} IN (SELECT holder_id FROM {deductions}
                                   WHERE holder_type = %s)
                 ORDER BY h.{pk} FOR NO KEY UPDATE OF h
                """,
                [holder_type.name],
            )
            found = cur.rowcount
            cur.execute(
                f"SELECT count(DISTINCT holder_id) FROM {deductions}"
                " WHERE holder_type = %s",
                [holder_type.name],
            )
            if cur.fetchone()[0] != found:
                raise LedgerError(f"deduction legs on missing {holder_type.name} rows")
            fields = holder_type.row_model._meta.concrete_fields
            if any(f.name == "currency" for f in fields):
                cur.execute(
                    f"""
                    SELECT count(*) FROM {deductions} d
                      JOIN {table} b ON b.row_id = d.row_id
                      JOIN {db_table} h ON h.{pk} = d.holder_id
                     WHERE d.holder_type = %s AND h.currency <> b.currency
                    """,
                    [holder_type.name],
                )
                if cur.fetchone()[0]:
                    raise LedgerError(
                        f"mixed currencies in one movement ({holder_type.name})"
                    )
    return books


def _signed_case(books: list[tuple]) -> tuple[str, list]:
    """SQL of a leg's debit-positive amount (``Leg.signed``) from its delta."""
    if not books:
        return "0", []
    whens = " ".join("WHEN d.holder_type = %s AND d.book = %s THEN %s" for _b in books)
    params = [x for b in books for x in (b[0].name, b[1].name, b[1].normal)]
    return f"d.delta * CASE {whens} END", params


def _check_nets(table: str, deductions: str | None, books: list[tuple]) -> None:
    """``net`` = amount less the row's deductions, which are between 0 and the
    amount: every movement's legs then sum to zero (as ``charge_usage``)."""
    with connection.cursor() as cur:
        unbalanced = "b.net <> b.amount"
        if deductions:
            signed, params = _signed_case(books)
            cur.execute(
                f"""
                UPDATE {table} b SET net = b.amount - t.deducted
                  FROM (SELECT d.row_id, sum({signed}) AS deducted
                          FROM {deductions} d GROUP BY d.row_id) t
                 WHERE t.row_id = b.row_id
                """,
                params,
            )
            unbalanced = f"""
                b.net < 0 OR b.net > b.amount OR (b.net <> b.amount
                AND NOT EXISTS (SELECT 1 FROM {deductions} d
                                 WHERE d.row_id = b.row_id))
            """
        cur.execute(f"SELECT count(*) FROM {table} b WHERE {unbalanced}")
        if cur.fetchone()[0]:
            raise LedgerError(
                "a batch row's net is not its amount less its deductions, or"
                " its deductions are outside 0 and its amount"
            )


def _deduction_range_reasons(deductions: str | None, books: list[tuple]) -> list:
    """SPEC §2 for the deduction holders' cached books (as ``ledger.post``)."""
    reasons = []
    with connection.cursor() as cur:
        for holder_type, book, db_table, pk, column in books:
            if column is None:
                continue
            cur.execute(
                f"""
                SELECT h.{column} + t.total
                  FROM (SELECT holder_id, sum(delta) AS total FROM {deductions}
                         WHERE holder_type = %s AND book = %s GROUP BY holder_id) t
                  JOIN {db_table} h ON h.{pk} = t.holder_id
                 WHERE abs(h.{column} + t.total) >= %s
                """,
                [holder_type.name, book.name, AMOUNT_LIMIT],
            )
            reasons += [
                reason("balance_out_of_range", balance=format_amount(value))
                for (value,) in cur.fetchall()
            ]
    return reasons


def _deduction_legs_sql(
    table: str, deductions: str | None, books: list[tuple]
) -> tuple[str, list]:
    """``UNION ALL`` branches of the legs statement: one per book, each leg's
    ``balance_after`` running over its holder in the batch's order."""
    parts, params = [], []
    for holder_type, book, db_table, pk, column in books:
        if column is None:
            after, join = "NULL", ""
        else:
            after = (
                f"h.{column} + sum(d.delta) OVER (PARTITION BY d.holder_id"
                " ORDER BY d.row_id, d.position)"
            )
            join = f"JOIN {db_table} h ON h.{pk} = d.holder_id"
        parts.append(
            f"""
            UNION ALL
            SELECT d.row_id, 0, d.position, b.movement_id, d.holder_type,
                   d.holder_id, d.book, b.currency, d.delta * %s, {after}
              FROM {deductions} d JOIN {table} b ON b.row_id = d.row_id {join}
             WHERE d.holder_type = %s AND d.book = %s AND d.delta <> 0
            """
        )
        params += [book.normal, holder_type.name, book.name]
    return "".join(parts), params


def _write_deduction_balances(deductions: str | None, books: list[tuple]) -> None:
    """Each deduction holder's cached book by one aggregated update per book."""
    with connection.cursor() as cur:
        for holder_type, book, db_table, pk, column in books:
            if column is None:
                continue
            cur.execute(
                f"""
                UPDATE {db_table} h SET {column} = h.{column} + t.total
                  FROM (SELECT holder_id, sum(delta) AS total FROM {deductions}
                         WHERE holder_type = %s AND book = %s GROUP BY holder_id) t
                 WHERE h.{pk} = t.holder_id AND t.total <> 0
                """,
                [holder_type.name, book.name],
            )


def top_up_batch(*, table: str, actor=None) -> int:
    """Top up every row of ``table`` (``row_id, account_id, amount``) set-wise:
    one movement each (own cash +, provider funding +), balances by one update.

    For loading data at scale (``seed_scale``): unlike ``top_up`` it does not
    settle, so it refuses accounts that owe anything.
    """
    if not connection.in_atomic_block:
        raise LedgerError("top up a batch inside a transaction")
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT a.id, a.uncleared_amount FROM accounts_account a
             WHERE a.id IN (SELECT account_id FROM {table})
             ORDER BY a.id FOR NO KEY UPDATE OF a
            """
        )
        if any(uncleared for _pk, uncleared in cur.fetchall()):
            raise LedgerError("top_up_batch does not settle: use top_up")
        cur.execute(
            f"""
            CREATE TEMP TABLE top_up_ids ON COMMIT DROP AS
            SELECT b.row_id, b.account_id, b.amount, a.currency,
                   a.own_cash + sum(b.amount) OVER (
                       PARTITION BY b.account_id ORDER BY b.row_id) AS after,
                   nextval(pg_get_serial_sequence('accounts_movement', 'id'))
                       AS movement_id
              FROM {table} b JOIN accounts_account a ON a.id = b.account_id
            """
        )
        count = cur.rowcount
        cur.execute(
            """
            INSERT INTO accounts_movement (id, kind, account_id, amount, currency,
                effective_at, posted_at, actor_id, memo)
            SELECT movement_id, 'top_up', account_id, amount, currency, now(),
                   now(), %s, '' FROM top_up_ids ORDER BY row_id
            """,
            [actor_id],
        )
        cur.execute(
            """
            INSERT INTO accounts_posting (movement_id, holder_type, holder_id,
                book, currency, amount, balance_after)
            SELECT movement_id, holder_type, holder_id, book, currency, signed,
                   after
              FROM (SELECT row_id, 1 AS leg, movement_id, 'account' AS holder_type,
                           account_id AS holder_id, 'own_cash' AS book, currency,
                           -amount AS signed, after FROM top_up_ids
                    UNION ALL
                    SELECT row_id, 2, movement_id, 'provider', 0, 'funding',
                           currency, amount, NULL FROM top_up_ids) legs
             ORDER BY row_id, leg
            """
        )
        cur.execute(
            f"""
            UPDATE accounts_account a SET own_cash = a.own_cash + t.total
              FROM (SELECT account_id, sum(amount) AS total FROM {table}
                     GROUP BY account_id) t
             WHERE a.id = t.account_id
            """
        )
    return count


def settle_batch(*, after_id: int = 0, size: int = 1000, actor=None) -> tuple[int, int]:
    """Settle, set-wise, the next ``size`` accounts after ``after_id`` that hold
    cash and owe charges; return (accounts settled, last account id looked at).

    The same result as ``settle_account`` account by account: each pays the
    smaller of its cash and its uncleared amount, oldest charge first (usage
    start, then id), transferred-in funds before own funds; one settlement
    movement each with its legs and allocations. Accounts, then their charges,
    are locked in primary-key order (the global order). Settlement leaves the
    available balance unchanged, so no overdue episode opens or closes.
    """
    if not connection.in_atomic_block:
        raise LedgerError("settle a batch inside a transaction")
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT id FROM accounts_account
             WHERE id > %s AND uncleared_amount > 0
               AND own_cash + transferred_in_balance > 0
             ORDER BY id LIMIT %s FOR NO KEY UPDATE
            """,
            [after_id, size],
        )
        ids = [row[0] for row in cur.fetchall()]
        if not ids:
            return 0, after_id
        cur.execute(
            """
            SELECT id FROM accounts_charge
             WHERE payer_account_id = ANY(%s) AND outstanding > 0
             ORDER BY id FOR UPDATE
            """,
            [ids],
        )
        cur.execute(
            """
            CREATE TEMP TABLE settle_accounts ON COMMIT DROP AS
            SELECT id, currency, own_cash, transferred_in_balance AS received,
                   uncleared_amount AS uncleared,
                   least(own_cash + transferred_in_balance, uncleared_amount)
                       AS payable,
                   nextval(pg_get_serial_sequence('accounts_movement', 'id'))
                       AS movement_id
              FROM accounts_account WHERE id = ANY(%s)
            """,
            [ids],
        )
        # Oldest charge first: what each pays of the payable amount, then how
        # much of that comes out of the transferred-in pool (spent first).
        cur.execute(
            """
            CREATE TEMP TABLE settle_allocations ON COMMIT DROP AS
            WITH ordered AS (
                SELECT c.id AS charge_id, c.payer_account_id AS account_id,
                       c.effective_at, c.outstanding, s.payable, s.received,
                       s.movement_id,
                       sum(c.outstanding) OVER (PARTITION BY c.payer_account_id
                           ORDER BY c.effective_at, c.id) AS through
                  FROM accounts_charge c JOIN settle_accounts s
                    ON s.id = c.payer_account_id
                 WHERE c.outstanding > 0),
            paid AS (
                SELECT *, greatest(0, least(outstanding,
                           payable - (through - outstanding))) AS paid
                  FROM ordered),
            split AS (
                SELECT *, sum(paid) OVER (PARTITION BY account_id
                           ORDER BY effective_at, charge_id) AS paid_through
                  FROM paid)
            SELECT charge_id, account_id, movement_id, effective_at, paid,
                   greatest(0, least(paid, received - (paid_through - paid)))
                       AS from_received
              FROM split WHERE paid > 0
            """
        )
        cur.execute(
            """
            CREATE TEMP TABLE settle_totals ON COMMIT DROP AS
            SELECT s.id, s.currency, s.movement_id, s.own_cash, s.received,
                   s.uncleared, sum(a.paid) AS paid,
                   sum(a.from_received) AS from_received,
                   sum(a.paid - a.from_received) AS from_own
              FROM settle_accounts s JOIN settle_allocations a ON a.account_id = s.id
             GROUP BY s.id, s.currency, s.movement_id, s.own_cash, s.received,
                      s.uncleared
            """
        )
        cur.execute(
            """
            INSERT INTO accounts_movement (id, kind, account_id, amount, currency,
                effective_at, posted_at, actor_id, memo)
            SELECT movement_id, 'settlement', id, paid, currency, now(), now(),
                   %s, '' FROM settle_totals ORDER BY id
            """,
            [actor_id],
        )
        # The legs in the order settle_account writes them: transferred-in,
        # own cash (both credit-normal, decreased: + amounts), uncleared
        # (debit-normal, decreased: - amount); a zero leg is not written.
        cur.execute(
            """
            INSERT INTO accounts_posting (movement_id, holder_type, holder_id,
                book, currency, amount, balance_after)
            SELECT movement_id, 'account', id, book, currency, signed, after
              FROM (
                SELECT id, 1 AS leg, movement_id, 'transferred_in' AS book,
                       currency, from_received AS signed,
                       received - from_received AS after
                  FROM settle_totals WHERE from_received <> 0
                UNION ALL
                SELECT id, 2, movement_id, 'own_cash', currency, from_own,
                       own_cash - from_own FROM settle_totals WHERE from_own <> 0
                UNION ALL
                SELECT id, 3, movement_id, 'uncleared', currency, -paid,
                       uncleared - paid FROM settle_totals
              ) legs
             ORDER BY id, leg
            """
        )
        cur.execute(
            """
            INSERT INTO accounts_settlementallocation (movement_id, charge_id,
                from_transferred_in, from_own)
            SELECT movement_id, charge_id, from_received, paid - from_received
              FROM settle_allocations ORDER BY account_id, effective_at, charge_id
            """
        )
        cur.execute(
            """
            UPDATE accounts_charge c SET outstanding = c.outstanding - a.paid
              FROM settle_allocations a WHERE a.charge_id = c.id
            """
        )
        cur.execute(
            """
            UPDATE accounts_account a
               SET own_cash = a.own_cash - t.from_own,
                   transferred_in_balance = a.transferred_in_balance
                       - t.from_received,
                   uncleared_amount = a.uncleared_amount - t.paid
              FROM settle_totals t WHERE a.id = t.id
            """
        )
        cur.execute("SELECT count(*) FROM settle_totals")
        settled = cur.fetchone()[0]
        cur.execute("DROP TABLE settle_accounts, settle_allocations, settle_totals")
    return settled, ids[-1]
