"""A bill run of RECORDS usage records against a plain COPY of the same file.

    make bench BENCH=bill_run_bench.py          (BENCH_RECORDS=1000000 by default)

Baseline: ``COPY`` of the same CSV into a plain table of text columns (no
index, no constraint) — the least any import must do. Measured before and
after the import; the ratio uses their median. The import is the real command
path (``sharing.bill_run.import_usage``): staging, validation, deduplication,
payers by join (a tenth of the accounts are trusteeship members), movements,
legs, charges, usage records and balances. Afterwards: check_ledger is clean
and the charged total equals the file's total; then the same file is imported
again (everything skipped) and timed too.
"""

import csv
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_bill_run")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)

from accounts import services  # noqa: E402
from accounts.ledger import find_discrepancies  # noqa: E402
from accounts.models import Account, FinancialRelationship  # noqa: E402
from billing_portal import roles  # noqa: E402
from sharing.bill_run import import_usage  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "1000000"))
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "10000"))
CHUNK = int(os.environ.get("BENCH_CHUNK", "50000"))
T0 = datetime(2026, 10, 1, tzinfo=UTC)
COLUMNS = [
    "external_id",
    "account",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
]


def make_accounts(op) -> list[int]:
    company = services.create_company(
        name="Bench", registration_number="BENCH-B", actor=op
    )
    services.verify_company(company=company, actor=op)
    rows = [
        Account(
            uid=f"{7000000000000000 + i}",
            name=f"B{i}",
            company=company,
            currency="CNY",
            folder=company.folders.get(parent__isnull=True),
        )
        for i in range(ACCOUNTS)
    ]
    ids = [a.pk for a in Account.objects.bulk_create(rows)]
    # A tenth are trusteeship members of the first account for days 5 to 20.
    FinancialRelationship.objects.bulk_create(
        FinancialRelationship(
            management_account_id=ids[0],
            member_account_id=pk,
            type=FinancialRelationship.Type.TRUSTEESHIP,
            status="terminated",
            start=T0 + timedelta(days=5),
            end=T0 + timedelta(days=20),
        )
        for pk in ids[1 : ACCOUNTS // 10]
    )
    return ids


def write_file(path: Path, ids: list[int]) -> Decimal:
    rng = random.Random(7)
    total = Decimal(0)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for n in range(RECORDS):
            start = T0 + timedelta(seconds=rng.randrange(30 * 86400))
            cents = rng.randrange(1, 100000)
            total += Decimal(cents) / 100
            writer.writerow(
                [
                    f"u-{n}",
                    ids[rng.randrange(len(ids))],
                    "ecs",
                    "pay_as_you_go",
                    start.isoformat(),
                    (start + timedelta(hours=1)).isoformat(),
                    f"{cents // 100}.{cents % 100:02d}",
                    (T0 + timedelta(days=31)).isoformat(),
                ]
            )
    return total


def copy_baseline(path: Path) -> float:
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS plain_copy")
        cur.execute(
            "CREATE TABLE plain_copy (" + ", ".join(f"{c} text" for c in COLUMNS) + ")"
        )
        start = time.perf_counter()
        with (
            path.open() as stream,
            cur.copy("COPY plain_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while block := stream.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - start
        cur.execute("DROP TABLE plain_copy")
    return elapsed


def main() -> None:
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        op = get_user_model().objects.create_user("bench-op", password="x" * 12)
        op.groups.add(roles.ensure_groups()[roles.OPERATORS])
        ids = make_accounts(op)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "usage.csv"
            total = write_file(path, ids)
            size = path.stat().st_size
            baselines = [copy_baseline(path)]
            start = time.perf_counter()
            with path.open() as stream:
                result = import_usage(
                    stream, fmt="csv", source="bench", actor=op, chunk_size=CHUNK
                )
            imported = time.perf_counter() - start
            baselines.append(copy_baseline(path))
            start = time.perf_counter()
            with path.open() as stream:
                again = import_usage(stream, fmt="csv", source="bench", actor=op)
            rerun = time.perf_counter() - start
            baselines.append(copy_baseline(path))
        base = statistics.median(baselines)
        charged = Account.objects.aggregate(s=Sum("uncleared_amount"))["s"]
        problems = find_discrepancies()
        print(
            f"{datetime.now(UTC):%Y-%m-%d} {platform.machine()} {os.cpu_count()}"
            f" cores, Python {platform.python_version()}, PostgreSQL"
            f" {connection.pg_version}; {RECORDS} records ({size / 1e6:.0f} MB),"
            f" {ACCOUNTS} accounts, chunks of {CHUNK}"
        )
        print("| step | seconds | ratio to COPY |")
        print("|---|---:|---:|")
        print(f"| COPY into a plain table (median of 3) | {base:.1f} | 1.0 |")
        print(f"| import_usage (priced {result.priced}) | {imported:.1f} |"
              f" {imported / base:.1f} |")  # fmt: skip
        print(f"| the same file again (skipped {again.skipped}) | {rerun:.1f} |"
              f" {rerun / base:.1f} |")  # fmt: skip
        print(
            f"\ncharged {charged} for a file total of {total}: "
            f"{'equal' if charged == total else 'DIFFERENT'};"
            f" check_ledger: {'clean' if not problems else problems[:3]}"
        )
    finally:
        connections.close_all()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
