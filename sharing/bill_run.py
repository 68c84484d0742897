"""Bill runs: import a file of usage records and price them set-wise.

The pipeline (SPEC §9 "bill runs are set-wise"), all in PostgreSQL:

1. **Stage**: the file's rows go into a temporary table by ``COPY`` (CSV
   straight through; JSON Lines converted row by row), each with its line
   number.
2. **Validate** in SQL, the same rules as ``POST /usage/``: every rejected line
   is reported with its number and the reason; nothing of it is written.
3. **Deduplicate** on ``(source, external_id)``: a record already priced (from
   an earlier run, the API, or earlier in the same file) with the same content
   is skipped; with different content it is a conflict (reported, not priced).
4. **Price** in chunks, one transaction each, in usage-start order (ties in
   the file's order), as ``POST /usage/`` would price the records sent one by
   one in that order: usage records (the unique index makes a concurrent
   sender of the same id wait for us or win, never both), then the records'
   deductions (``sharing.services.deduct_batch``: the deduction engine's
   ``decide`` record by record, with capacities carried from one record to
   the next; everything it writes set-wise) and
   ``accounts.services.charge_usage_batch`` (payers by join, movements with
   their deduction legs, charges by ``INSERT … SELECT``, balances by
   aggregated updates). A chunk in which no account has a candidate asset
   takes the pure-SQL path.

The order does not depend on the chunk size nor on how the file is sorted, so
a crash loses at most the chunk in flight (rolled back) and running the same
file again skips what was committed and prices the rest exactly as an
uninterrupted run would have.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from accounts.services import assign_payers, charge_usage_batch, create_batch_table

from .services import deduct_batch

#: Columns a file may carry (a header row in CSV, keys in JSON Lines). The
#: account is named by ``account`` (its id, as in the API) or ``account_uid``.
COLUMNS = (
    "external_id",
    "account",
    "account_uid",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
    "instance_type",
    "region",
    "quantity",
)
REQUIRED = (
    "external_id",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
)

_AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
_QUANTITY = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
# ISO 8601 with a time zone (Z or an offset): a bill never has a naive time.
# The pattern bounds every field; whether the calendar date exists (30 February)
# is checked once per distinct date (``invalid_dates``), not once per row.
_INSTANT = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)$"
)


class ImportFileError(ValueError):
    """The file itself cannot be read (unknown format, header, or columns)."""


@dataclass
class ImportResult:
    read: int = 0
    priced: int = 0
    skipped: int = 0  # already priced with the same content
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (line, id)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


def import_usage(
    stream: io.TextIOBase | Iterable[str],
    *,
    fmt: str,
    source: str,
    actor=None,
    chunk_size: int = 50_000,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Price every new usage record of a CSV or JSON Lines file (see module)."""
    result = ImportResult()
    _create_staging()
    result.read = _stage(stream, fmt)
    # Lines are reported as a text editor numbers them (a CSV header is line 1).
    offset = 1 if fmt == "csv" else 0
    result.rejected = [(line + offset, why) for line, why in _validate()]
    conflicts, result.skipped = _deduplicate(source)
    result.conflicts = [(line + offset, eid) for line, eid in conflicts]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM usage_import WHERE status = 'new'")
        total = cur.fetchone()[0]
    done = after = 0
    while done < total:
        chunk = _price_chunk(source=source, actor=actor, size=chunk_size, after=after)
        if chunk is None:
            break
        result.priced += chunk.priced
        result.skipped += chunk.lost
        done += chunk.priced + chunk.lost
        after = chunk.last
        if progress:
            progress(done, total)
    return result


def _create_staging() -> None:
    text_columns = ", ".join(f"{c} text" for c in COLUMNS)
    with connection.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS usage_import_raw; DROP TABLE IF EXISTS usage_import"
        )
        cur.execute(
            f"CREATE TEMP TABLE usage_import_raw (line bigserial, {text_columns})"
        )
        cur.execute(
            """
            CREATE TEMP TABLE usage_import (
                line bigint PRIMARY KEY,
                seq bigint NOT NULL,
                external_id varchar(128) NOT NULL,
                account_id bigint NOT NULL,
                currency varchar(3) NOT NULL,
                product varchar(64) NOT NULL,
                bill_type varchar(16) NOT NULL,
                usage_start timestamptz NOT NULL,
                usage_end timestamptz NOT NULL,
                amount numeric(15, 2) NOT NULL,
                billed_at timestamptz NOT NULL,
                instance_type varchar(64) NOT NULL,
                region varchar(64) NOT NULL,
                quantity numeric(18, 6),
                status varchar(8) NOT NULL DEFAULT 'new'
            )
            """
        )
        # A safe cast: NULL instead of an error for an impossible date.
        cur.execute(
            """
            CREATE OR REPLACE FUNCTION pg_temp.try_date(value text)
            RETURNS date AS $$
            BEGIN
                RETURN value::date;
            EXCEPTION WHEN others THEN
                RETURN NULL;
            END $$ LANGUAGE plpgsql
            """
        )


def _stage(stream, fmt: str) -> int:
    lines = iter(stream)
    with connection.cursor() as cur:
        if fmt == "csv":
            header = next(csv.reader([next(lines, "")]), [])
            columns = _columns(header)
            sql = (
                f"COPY usage_import_raw ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
            )
            with cur.copy(sql) as copy:
                for line in lines:
                    copy.write(line if line.endswith("\n") else line + "\n")
        elif fmt == "jsonl":
            sql = f"COPY usage_import_raw ({', '.join(COLUMNS)}) FROM STDIN"
            with cur.copy(sql) as copy:
                for line in lines:
                    copy.write_row(_json_row(line))
        else:
            raise ImportFileError(f"unknown format {fmt!r}: use csv or jsonl")
        # Temporary tables are never analysed automatically: without statistics
        # the planner would choose nested loops over a million rows.
        cur.execute("ANALYZE usage_import_raw")
        cur.execute("SELECT count(*) FROM usage_import_raw")
        return cur.fetchone()[0]


def _columns(header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    unknown = sorted(set(names) - set(COLUMNS))
    missing = sorted(set(REQUIRED) - set(names))
    if unknown or missing or not ({"account", "account_uid"} & set(names)):
        raise ImportFileError(
            f"header: unknown columns {unknown}, missing {missing}; the account is "
            "named by 'account' (id) or 'account_uid'"
        )
    if len(set(names)) != len(names):
        raise ImportFileError("header: a column is named twice")
    return names


def _json_row(line: str) -> list:
    """One JSON object as a row of text values (None for a missing key)."""
    row = [None] * len(COLUMNS)
    try:
        data = json.loads(line, parse_float=str, parse_int=str)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Staged as an empty row: validation rejects it with its line number.
        return row
    for index, name in enumerate(COLUMNS):
        value = data.get(name)
        row[index] = None if value is None else str(value)
    return row


#: (reason, SQL condition that holds for a bad row), checked in this order.
_CHECKS = [
    ("external_id: required, at most 128 characters",
     "coalesce(length(r.external_id), 0) NOT BETWEEN 1 AND 128"),
    ("account: no such account", "a.id IS NULL"),
    ("product: required, at most 64 characters",
     "coalesce(length(r.product), 0) NOT BETWEEN 1 AND 64"),
    ("bill_type: subscription or pay_as_you_go",
     "r.bill_type IS NULL OR r.bill_type NOT IN ('subscription', 'pay_as_you_go')"),
    ("amount: a positive plain decimal with at most 2 decimal places",
     f"r.amount IS NULL OR r.amount !~ '{_AMOUNT}' OR r.amount::numeric <= 0"),
    ("usage_start: an ISO 8601 time with a time zone",
     f"r.usage_start IS NULL OR r.usage_start !~ '{_INSTANT}'"
     " OR left(r.usage_start, 10) IN (SELECT day FROM invalid_dates)"),
    ("usage_end: an ISO 8601 time with a time zone",
     f"r.usage_end IS NULL OR r.usage_end !~ '{_INSTANT}'"
     " OR left(r.usage_end, 10) IN (SELECT day FROM invalid_dates)"),
    # Cast only once both times passed the checks above (CASE keeps the order).
    ("usage_end: not before the usage start",
     "r.usage_end::timestamptz < r.usage_start::timestamptz"),
    ("billed_at: an ISO 8601 time with a time zone",
     f"r.billed_at IS NULL OR r.billed_at !~ '{_INSTANT}'"
     " OR left(r.billed_at, 10) IN (SELECT day FROM invalid_dates)"),
    ("instance_type, region: at most 64 characters",
     "length(r.instance_type) > 64 OR length(r.region) > 64"),
    ("quantity: a number of at most 6 decimal places",
     f"r.quantity IS NOT NULL AND r.quantity <> '' AND r.quantity !~ '{_QUANTITY}'"),
]  # fmt: skip


def _validate() -> list[tuple[int, str]]:
    """Move valid rows to ``usage_import``; return the rejected (line, reason)."""
    # Two equality joins (hash joins), never an OR: an id must be all ASCII
    # digits before it is cast; a uid is used only when no id is given.
    account_join = """
        LEFT JOIN accounts_account by_id ON by_id.id = CASE
            WHEN r.account ~ '^[0-9]{1,18}$' THEN r.account::bigint END
        LEFT JOIN accounts_account by_uid ON r.account IS NULL
            AND by_uid.uid = r.account_uid
        CROSS JOIN LATERAL (SELECT coalesce(by_id.id, by_uid.id) AS id,
            coalesce(by_id.currency, by_uid.currency) AS currency) a
    """
    reason = "CASE " + " ".join(f"WHEN {cond} THEN %s" for _r, cond in _CHECKS)
    reason += " END"
    params = [r for r, _cond in _CHECKS]
    with connection.cursor() as cur:
        cur.execute(
            """
            CREATE TEMP TABLE invalid_dates AS
            SELECT day FROM (
                SELECT left(usage_start, 10) AS day FROM usage_import_raw
                UNION SELECT left(usage_end, 10) FROM usage_import_raw
                UNION SELECT left(billed_at, 10) FROM usage_import_raw) days
             WHERE day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
               AND pg_temp.try_date(day) IS NULL
            """
        )
        cur.execute(
            f"""
            CREATE TEMP TABLE usage_import_checked AS
            SELECT r.*, a.id AS account_id, a.currency, {reason} AS reason
              FROM usage_import_raw r {account_join}
            """,
            params,
        )
        # ``seq``: the pricing order, usage start then line; the rows are
        # written in that order, so a chunk reads its rows sequentially.
        cur.execute(
            """
            INSERT INTO usage_import (line, seq, external_id, account_id,
                currency, product, bill_type, usage_start, usage_end, amount,
                billed_at, instance_type, region, quantity)
            SELECT line, row_number() OVER (ORDER BY usage_start, line),
                   external_id, account_id, currency, product, bill_type,
                   usage_start, usage_end, amount, billed_at, instance_type,
                   region, quantity
              FROM (
                SELECT line, external_id, account_id, currency, product,
                       bill_type, usage_start::timestamptz AS usage_start,
                       usage_end::timestamptz AS usage_end,
                       amount::numeric AS amount,
                       billed_at::timestamptz AS billed_at,
                       coalesce(instance_type, '') AS instance_type,
                       coalesce(region, '') AS region,
                       nullif(quantity, '')::numeric AS quantity
                  FROM usage_import_checked WHERE reason IS NULL) valid
             ORDER BY 2
            """
        )
        cur.execute("CREATE INDEX ON usage_import (external_id, line)")
        cur.execute("CREATE UNIQUE INDEX ON usage_import (seq)")
        cur.execute("ANALYZE usage_import")
        cur.execute(
            "SELECT line, reason FROM usage_import_checked"
            " WHERE reason IS NOT NULL ORDER BY line"
        )
        rejected = list(cur.fetchall())
        cur.execute("DROP TABLE usage_import_checked, invalid_dates")
    return rejected


_SAME_CONTENT = """
    u.account_id = i.account_id AND u.product = i.product
    AND u.bill_type = i.bill_type AND u.usage_start = i.usage_start
    AND u.usage_end = i.usage_end AND u.amount = i.amount
    AND u.billed_at = i.billed_at AND u.instance_type = i.instance_type
    AND u.region = i.region AND u.quantity IS NOT DISTINCT FROM i.quantity
"""


def _deduplicate(source: str) -> tuple[list[tuple[int, str]], int]:
    """Mark rows already priced ('skip') or contradicting a priced one
    ('conflict'), in the database or earlier in the file."""
    with connection.cursor() as cur:
        # A later line repeating an external id of the file: the first wins.
        cur.execute(
            f"""
            UPDATE usage_import i SET status = CASE WHEN {_SAME_CONTENT}
                   THEN 'skip' ELSE 'conflict' END
              FROM (SELECT DISTINCT ON (external_id) * FROM usage_import
                     ORDER BY external_id, line) u
             WHERE u.external_id = i.external_id AND u.line < i.line
            """
        )
        cur.execute(
            f"""
            UPDATE usage_import i SET status = CASE WHEN {_SAME_CONTENT}
                   THEN 'skip' ELSE 'conflict' END
              FROM sharing_usagerecord u
             WHERE u.source = %s AND u.external_id = i.external_id
               AND i.status = 'new'
            """,
            [source],
        )
        cur.execute(
            "SELECT line, external_id FROM usage_import WHERE status = 'conflict'"
            " ORDER BY line"
        )
        conflicts = list(cur.fetchall())
        cur.execute("SELECT count(*) FROM usage_import WHERE status = 'skip'")
        skipped = cur.fetchone()[0]
    return conflicts, skipped


@dataclass
class _Chunk:
    priced: int
    lost: int  # sent concurrently by another writer between dedupe and pricing
    last: int  # the last ``seq`` of the chunk


@transaction.atomic
def _price_chunk(*, source: str, actor, size: int, after: int) -> _Chunk | None:
    """Price the next ``size`` new rows after ``seq`` ``after`` in one
    transaction; ``row_id`` of the batch is the ``seq`` of the row."""
    create_batch_table("usage_batch")
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO usage_batch (row_id, usage_account_id, currency, amount,
                net, effective_at, memo)
            SELECT seq, account_id, currency, amount, amount, usage_start,
                   left('usage ' || %s || ':' || external_id, 255)
              FROM usage_import WHERE status = 'new' AND seq > %s
             ORDER BY seq LIMIT %s
            """,
            [source, after, size],
        )
        if not cur.rowcount:
            return None
        cur.execute("SELECT max(row_id) FROM usage_batch")
        last = cur.fetchone()[0]
        assign_payers(table="usage_batch")
        # Usage records first: the unique index serializes us with any other
        # sender of the same external id (it waits for our commit, or we for
        # its); a row another sender won is not charged here.
        cur.execute(
            """
            INSERT INTO sharing_usagerecord (source, external_id, account_id,
                product, bill_type, usage_start, usage_end, amount, currency,
                billed_at, instance_type, region, quantity, charged_amount,
                charge_id, payer_id, received_at, skipped)
            SELECT %s, i.external_id, i.account_id, i.product, i.bill_type,
                   i.usage_start, i.usage_end, i.amount, i.currency, i.billed_at,
                   i.instance_type, i.region, i.quantity, b.net, b.charge_id,
                   b.payer_id, now(), '[]'::jsonb
              FROM usage_batch b JOIN usage_import i ON i.seq = b.row_id
             ORDER BY b.row_id
            ON CONFLICT (source, external_id) DO NOTHING
            RETURNING external_id
            """,
            [source],
        )
        inserted = cur.rowcount
        cur.execute(
            """
            DELETE FROM usage_batch b USING usage_import i
             WHERE i.seq = b.row_id AND NOT EXISTS (
                SELECT 1 FROM sharing_usagerecord u
                 WHERE u.source = %s AND u.external_id = i.external_id
                   AND u.charge_id = b.charge_id)
            """,
            [source],
        )
        lost = cur.rowcount
        # Deductions decided under the locks of the payers, assets and hours,
        # then the charge with their legs: one movement per record.
        deductions = deduct_batch(table="usage_batch")
        charge_usage_batch(table="usage_batch", actor=actor, deductions=deductions)
    return _Chunk(priced=inserted, lost=lost, last=last)
