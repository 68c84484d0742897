"""A bill run with benefits in play against the same bill run without any.

    make bench BENCH=bill_run_benefits_bench.py
        BENCH_RECORDS=1000000  records per import
        BENCH_ROUNDS=3         rounds; each imports both files, order alternating
        BENCH_ACCOUNTS=10000   accounts in each of the two worlds
        BENCH_INVOLVED=0.2     share of world B's accounts owning or receiving
        BENCH_CHUNK=50000      records per chunk (transaction)
        BENCH_PROFILE=1        also print a cProfile of deduct_batch and the
                               statements of each world's last import by time

Two worlds of the same shape on one throwaway database: A has no asset at all,
B has benefits for BENCH_INVOLVED of its accounts (half of them own a savings
plan of 5.00 an hour shared with one account of the other half; three in ten
owners also own a reserved instance of 2, an SCU package, a coupon for
subscriptions). Both get the same file (same accounts by position, amounts,
times; a tenth of the records carry instance-hours of the reserved instances'
type, a fifth are subscriptions) through the real command path,
``sharing.bill_run.import_usage``. Round r bills month r, so every round finds
fresh savings-plan and reserved-instance hours and rounds are alike; within a
round the two imports alternate which goes first. Reported: the median of each,
their ratio (target: with benefits at most 2x without), where B's time goes
(deduct_batch vs charge_usage_batch vs the rest), and the checks: every
record priced, deductions plus charges equal the file's total, check_ledger
clean.
"""

import cProfile
import csv
import os
import platform
import pstats
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
os.environ.setdefault("TEST_DB_NAME", "bench_bill_run_benefits")

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
from sharing import bill_run  # noqa: E402
from sharing.models import Deduction, SharePeriod  # noqa: E402
from sharing.services import provision_asset, share_with_accounts  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "10000"))
INVOLVED = float(os.environ.get("BENCH_INVOLVED", "0.2"))
CHUNK = int(os.environ.get("BENCH_CHUNK", "50000"))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=31)
COLUMNS = [
    "external_id",
    "account",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
    "instance_type",
    "region",
    "quantity",
]
RI = ("ecs.g7.large", "cn-hangzhou")


def make_world(op, name: str, *, benefits: bool) -> list[int]:
    company = services.create_company(
        name=f"Bench {name}", registration_number=f"BENCH-{name}", actor=op
    )
    services.verify_company(company=company, actor=op)
    base = 7100000000000000 if benefits else 7000000000000000
    rows = [
        Account(
            uid=f"{base + i}",
            name=f"{name}{i}",
            company=company,
            currency="CNY",
            folder=company.folders.get(parent__isnull=True),
        )
        for i in range(ACCOUNTS)
    ]
    ids = [a.pk for a in Account.objects.bulk_create(rows)]
    # A tenth are trusteeship members of the first account, days 5 to 20 of
    # every month billed.
    FinancialRelationship.objects.bulk_create(
        FinancialRelationship(
            management_account_id=ids[0],
            member_account_id=pk,
            type=FinancialRelationship.Type.TRUSTEESHIP,
            status="terminated",
            start=T0 + r * MONTH + timedelta(days=5),
            end=T0 + r * MONTH + timedelta(days=20),
        )
        for r in range(ROUNDS + 1)
        for pk in ids[1 : ACCOUNTS // 10]
    )
    if benefits:
        provision_benefits(op, ids)
    return ids


def provision_benefits(op, ids: list[int]) -> None:
    rng = random.Random(11)
    involved = rng.sample(ids, int(len(ids) * INVOLVED) // 2 * 2)
    owners, recipients = involved[::2], involved[1::2]
    validity = {
        "valid_from": T0 - timedelta(days=1),
        "valid_until": T0 + (ROUNDS + 2) * MONTH,
    }
    accounts = Account.objects.in_bulk(involved)
    for n, (owner_id, recipient_id) in enumerate(zip(owners, recipients, strict=True)):
        owner = accounts[owner_id]
        plan = provision_asset(
            type="savings_plan",
            owner=owner,
            commitment_per_hour=Decimal("5.00"),
            actor=op,
            **validity,
        )
        share_with_accounts(asset=plan, accounts=[accounts[recipient_id]], actor=op)
        if n % 10 < 3:
            provision_asset(
                type="reserved_instance",
                owner=owner,
                instance_type=RI[0],
                region=RI[1],
                count=2,
                actor=op,
                **validity,
            )
        if 3 <= n % 10 < 6:
            provision_asset(
                type="scu_package",
                owner=owner,
                capacity=Decimal("9999999.00"),
                actor=op,
                **validity,
            )
        if 6 <= n % 10 < 9:
            provision_asset(
                type="coupon",
                owner=owner,
                capacity=Decimal("9999999.00"),
                bill_types=["subscription"],
                actor=op,
                **validity,
            )
    SharePeriod.objects.update(start=T0 - timedelta(days=1))


def write_file(path: Path, ids: list[int], month: int) -> Decimal:
    """The same records for both worlds (same seed): accounts by position."""
    rng = random.Random(7)
    total = Decimal(0)
    start_of_month = T0 + month * MONTH
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for n in range(RECORDS):
            start = start_of_month + timedelta(seconds=rng.randrange(30 * 86400))
            cents = rng.randrange(1, 100000)
            total += Decimal(cents) / 100
            kind = rng.random()
            instance = (*RI, str(rng.randrange(1, 5))) if kind < 0.1 else ("", "", "")
            writer.writerow(
                [
                    f"u-{n}",
                    ids[rng.randrange(len(ids))],
                    "ecs",
                    "subscription" if 0.1 <= kind < 0.3 else "pay_as_you_go",
                    start.isoformat(),
                    (start + timedelta(hours=1)).isoformat(),
                    f"{cents // 100}.{cents % 100:02d}",
                    (start_of_month + MONTH).isoformat(),
                    *instance,
                ]
            )
    return total


class Timed:
    """Wraps a function of the bill run and adds up the seconds spent in it."""

    def __init__(self, name: str, profile: cProfile.Profile | None = None):
        self.name = name
        self.real = getattr(bill_run, name)
        self.seconds = 0.0
        self.profile = profile
        setattr(bill_run, name, self)

    def __call__(self, **kwargs):
        start = time.perf_counter()
        if self.profile:
            self.profile.enable()
        try:
            return self.real(**kwargs)
        finally:
            if self.profile:
                self.profile.disable()
            self.seconds += time.perf_counter() - start

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


class Statements:
    """Seconds per statement (its first words) while installed on the connection."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:90]
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

    def print(self, title: str, top: int = 40) -> None:
        print(f"\n{title}: {sum(self.seconds.values()):.1f} s in statements")
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]
        for key, seconds in ranked:
            print(f"  {seconds:7.2f}  {key}")


def main() -> None:
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        op = get_user_model().objects.create_user("bench-op", password="x" * 12)
        op.groups.add(roles.ensure_groups()[roles.OPERATORS])
        started = time.perf_counter()
        plain = make_world(op, "A", benefits=False)
        benefits = make_world(op, "B", benefits=True)
        print(f"worlds set up in {time.perf_counter() - started:.0f} s", flush=True)
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        deduct = Timed("deduct_batch", profile)
        charge = Timed("charge_usage_batch")
        times: dict[str, list[float]] = {"A": [], "B": []}
        statements: dict[str, Statements] = {}
        parts: list[tuple[float, float]] = []
        file_total = Decimal(0)
        deductions = 0
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "usage.csv"
            for r in range(ROUNDS):
                order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
                for world in order:
                    total = write_file(path, plain if world == "A" else benefits, r)
                    file_total += total
                    before = Deduction.objects.count()
                    deduct.take(), charge.take()
                    statements[world] = Statements()
                    start = time.perf_counter()
                    with (
                        path.open() as stream,
                        connection.execute_wrapper(
                            statements[world] if profile else lambda e, *a: e(*a)
                        ),
                    ):
                        result = bill_run.import_usage(
                            stream,
                            fmt="csv",
                            source=f"bench-{world}-{r}",
                            actor=op,
                            chunk_size=CHUNK,
                        )
                    elapsed = time.perf_counter() - start
                    assert result.priced == RECORDS, result
                    times[world].append(elapsed)
                    made = Deduction.objects.count() - before
                    if world == "B":
                        parts.append((deduct.take(), charge.take()))
                        deductions += made
                    print(
                        f"round {r + 1} {world}: {elapsed:.1f} s ({made} deductions)",
                        flush=True,
                    )
        a, b = statistics.median(times["A"]), statistics.median(times["B"])
        d_part = statistics.median(p[0] for p in parts)
        c_part = statistics.median(p[1] for p in parts)
        charged = Account.objects.aggregate(s=Sum("uncleared_amount"))["s"]
        deducted = Deduction.objects.aggregate(s=Sum("amount"))["s"] or 0
        started = time.perf_counter()
        problems = find_discrepancies()
        checked = time.perf_counter() - started
        print(
            f"\n{datetime.now(UTC):%Y-%m-%d} {platform.machine()} {os.cpu_count()}"
            f" cores, Python {platform.python_version()}, PostgreSQL"
            f" {connection.pg_version}; {RECORDS} records per import, {ACCOUNTS}"
            f" accounts per world ({INVOLVED:.0%} of B's involved), chunks of"
            f" {CHUNK}, {ROUNDS} rounds\n"
        )
        print("| import | median s | each round s |")
        print("|---|---:|---|")
        for world, label in (("A", "without benefits"), ("B", "with benefits")):
            each = ", ".join(f"{t:.1f}" for t in times[world])
            median = a if world == "A" else b
            print(f"| {label} | {median:.1f} | {each} |")
        verdict = "met" if b <= 2 * a else "MISSED"
        print(f"\nratio with/without: {b / a:.2f} (target <= 2.0: {verdict})")
        print(
            f"with benefits, median per import: deduct_batch {d_part:.1f} s,"
            f" charge_usage_batch {c_part:.1f} s, the rest {b - d_part - c_part:.1f} s;"
            f" {deductions / ROUNDS:.0f} deductions per import"
        )
        print(
            f"charged {charged} + deducted {deducted} = {charged + deducted} for"
            f" files totalling {file_total}:"
            f" {'equal' if charged + deducted == file_total else 'DIFFERENT'};"
            f" check_ledger ({checked:.0f} s):"
            f" {'clean' if not problems else problems[:3]}"
        )
        if profile:
            statements["A"].print("without benefits, last import")
            statements["B"].print("with benefits, last import")
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    finally:
        connections.close_all()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
