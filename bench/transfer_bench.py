"""Transfers through the service against a raw-SQL transfer, in the same run.

    make bench BENCH=transfer_bench.py        (or: python -m billing_portal.launcher
                                               bench transfer_bench.py)

The baseline does what any transfer must: one transaction that locks both
accounts in primary-key order, locks or creates the pair row (one upsert),
writes the movement header and its four legs, and updates both accounts and the
pair. The service additionally checks permission and every rule (SPEC §3.2)
under the locks, and tracks balances after each leg.

Two workloads: *spread* (random pairs among ACCOUNTS accounts) and *hot* (one
pair, every transfer contends for the same rows), each with 1 and PROCS
processes. Rounds alternate baseline and service (this machine is shared and
noisy); each figure is the median of ROUNDS rounds, in transfers per second.
After the run: money is conserved and check_ledger finds nothing.
"""

import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_transfers")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from django.utils import timezone  # noqa: E402

from accounts import services  # noqa: E402
from accounts.ledger import find_discrepancies  # noqa: E402
from accounts.models import Account, Movement  # noqa: E402
from billing_portal import roles  # noqa: E402

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000"))
N = int(os.environ.get("BENCH_N", "300"))  # transfers per process per round
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PROCS = int(os.environ.get("BENCH_PROCS", "4"))
AMOUNT = Decimal("0.01")

RAW_TRANSFER = [
    (
        "SELECT id, own_cash, transferred_in_balance FROM accounts_account"
        " WHERE id IN (%s, %s) "
        "ORDER BY id FOR UPDATE"
    ),
    (
        "INSERT INTO accounts_transferpair (source_id, destination_id, currency,"
        " remaining_revocable) VALUES (%s, %s, 'CNY', 0) ON CONFLICT"
        " (source_id, destination_id) DO UPDATE SET remaining_revocable ="
        " accounts_transferpair.remaining_revocable RETURNING id,"
        " remaining_revocable"
    ),
    (
        "INSERT INTO accounts_movement (kind, account_id, counterparty_id, amount,"
        " currency, effective_at, posted_at, memo) VALUES ('transfer', %s, %s, %s,"
        " 'CNY', now(), now(), '') RETURNING id"
    ),
    (
        "INSERT INTO accounts_posting (movement_id, holder_type, holder_id, book,"
        " currency, amount, balance_after) VALUES"
        " (%s, 'account', %s, 'own_cash', 'CNY', %s, %s),"
        " (%s, 'account', %s, 'transferred_in', 'CNY', %s, %s),"
        " (%s, 'pair', %s, 'remaining_revocable', 'CNY', %s, %s),"
        " (%s, 'provider', 0, 'revocable_control', 'CNY', %s, NULL)"
    ),
    "UPDATE accounts_account SET own_cash = own_cash - %s WHERE id = %s",
    (
        "UPDATE accounts_account SET transferred_in_balance ="
        " transferred_in_balance + %s WHERE id = %s"
    ),
    (
        "UPDATE accounts_transferpair SET remaining_revocable ="
        " remaining_revocable + %s WHERE id = %s"
    ),
]


def raw_transfer(source: int, destination: int) -> None:
    lock, pair_sql, header, legs, debit, credit, pair_update = RAW_TRANSFER
    a = AMOUNT
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(lock, [source, destination])
        balances = {row[0]: row[1:] for row in cur.fetchall()}
        own, received = balances[source][0], balances[destination][1]
        cur.execute(pair_sql, [source, destination])
        pair_id, remaining = cur.fetchone()
        cur.execute(header, [source, destination, a])
        (movement,) = cur.fetchone()
        cur.execute(
            legs,
            [
                *(movement, source, a, own - a),
                *(movement, destination, -a, received + a),
                *(movement, pair_id, -a, remaining + a),
                *(movement, a),
            ],
        )
        cur.execute(debit, [a, source])
        cur.execute(credit, [a, destination])
        cur.execute(pair_update, [a, pair_id])


def service_transfer(source: int, destination: int, actor) -> None:
    services.transfer_balance(
        source=Account(pk=source),
        destination=Account(pk=destination),
        amount=AMOUNT,
        actor=actor,
    )


def pairs_for(workload: str, ids: list[int], seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    if workload == "hot":
        return [(ids[0], ids[1])] * N
    return [tuple(rng.sample(ids, 2)) for _ in range(N)]


def worker(path: str, workload: str, ids, seed, actor_pk, results) -> None:
    connections.close_all()  # a forked child opens its own connection
    actor = get_user_model().objects.get(pk=actor_pk)
    pairs = pairs_for(workload, ids, seed)
    start = time.perf_counter()
    for source, destination in pairs:
        if path == "raw":
            raw_transfer(source, destination)
        else:
            service_transfer(source, destination, actor)
    results.put(time.perf_counter() - start)
    connections.close_all()


def throughput(path, workload, procs, ids, actor_pk, round_no) -> float:
    """Transfers per second of ``procs`` processes running N transfers each."""
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    children = [
        ctx.Process(
            target=worker,
            args=(path, workload, ids, 1000 * round_no + i, actor_pk, results),
        )
        for i in range(procs)
    ]
    start = time.perf_counter()
    for child in children:
        child.start()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - start
    if any(child.exitcode for child in children):
        raise SystemExit(f"a {path} worker failed")
    return procs * N / elapsed


def main() -> None:
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        op = get_user_model().objects.create_user("bench-op", password="x" * 12)
        op.groups.add(roles.ensure_groups()[roles.OPERATORS])
        company = services.create_company(
            name="Bench", registration_number="BENCH-T", actor=op
        )
        services.verify_company(company=company, actor=op)
        ids = []
        for i in range(ACCOUNTS):
            account = services.create_account(
                uid=f"{8000000000000000 + i}",
                name=f"T{i}",
                company=company,
                currency="CNY",
                actor=op,
            )
            services.top_up(account=account, amount=Decimal("1000000.00"), actor=op)
            ids.append(account.pk)
        total_before = Account.objects.aggregate(s=Sum("own_cash"))["s"]

        print(
            f"{timezone.now():%Y-%m-%d} {platform.machine()} {os.cpu_count()} cores,"
            f" Python {platform.python_version()}, {connection.vendor}"
            f" {connection.pg_version}; ACCOUNTS={ACCOUNTS} N={N} ROUNDS={ROUNDS}"
        )
        print("| workload | processes | raw SQL /s | service /s | ratio |")
        print("|---|---:|---:|---:|---:|")
        for workload in ("spread", "hot"):
            for procs in (1, PROCS):
                raw, svc = [], []
                for r in range(ROUNDS):
                    # Alternate which path goes first in each round.
                    order = ("raw", "service") if r % 2 == 0 else ("service", "raw")
                    for path in order:
                        rate = throughput(path, workload, procs, ids, op.pk, r)
                        (raw if path == "raw" else svc).append(rate)
                r_med, s_med = statistics.median(raw), statistics.median(svc)
                print(
                    f"| {workload} | {procs} | {r_med:.0f} | {s_med:.0f} |"
                    f" {s_med / r_med:.2f} |",
                    flush=True,
                )
        connections.close_all()
        total_after = (
            Account.objects.aggregate(s=Sum("own_cash"))["s"]
            + (Account.objects.aggregate(s=Sum("transferred_in_balance"))["s"])
        )
        problems = find_discrepancies()
        print(
            f"\nmoney conserved: {total_after == total_before}"
            f" ({total_before} -> {total_after});"
            f" movements: {Movement.objects.filter(kind='transfer').count()};"
            f" check_ledger: {'clean' if not problems else problems[:3]}"
        )
    finally:
        connections.close_all()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
