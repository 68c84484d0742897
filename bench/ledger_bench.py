"""Benchmark the money paths against a baseline measured in the same run.

Run with `make bench` (starts the embedded PostgreSQL unless DATABASE_URL is
set). It creates a throwaway test database, so it never touches demo data.

Baseline: one transaction that locks one account row and updates it (the least
any movement must do). Each path is reported as a ratio to it, so results from
different machines can be compared.
"""

import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_billing_portal")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

N = int(os.environ.get("BENCH_N", "300"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def timed(fn, n=N):
    """Median seconds per call over ROUNDS rounds of n calls."""
    per_call = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        per_call.append((time.perf_counter() - start) / n)
    return statistics.median(per_call)


def main():
    from django.contrib.auth import get_user_model

    from accounts import services
    from accounts.models import Account, Company
    from accounts.selectors import get_transferable
    from billing_portal import roles

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        op = get_user_model().objects.create_user("bench-op", password="x" * 12)
        op.groups.add(roles.ensure_groups()[roles.OPERATORS])
        company = Company.objects.create(
            name="Bench", registration_number="BENCH", verification_status="verified"
        )
        accounts = [
            Account.objects.create(
                uid=f"{9000000000000000 + i}",
                name=f"B{i}",
                company=company,
                currency="CNY",
            )
            for i in range(4)
        ]
        for a in accounts:
            services.top_up(account=a, amount=Decimal("1000000.00"), actor=op)
        a, b = accounts[0], accounts[1]

        def baseline(i):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    "SELECT own_cash FROM accounts_account WHERE id = %s FOR UPDATE",
                    [a.pk],
                )
                cur.execute(
                    "UPDATE accounts_account SET name = name WHERE id = %s", [a.pk]
                )

        def transfer(i):
            services.transfer_balance(
                source=a, destination=b, amount=Decimal("1.00"), actor=op
            )

        def revoke(i):
            services.revoke_transfer(
                source=a, destination=b, amount=Decimal("0.50"), actor=op
            )

        now = timezone.now()

        def charge(i):
            services.charge_usage(
                usage_account=accounts[2],
                amount=Decimal("0.10"),
                effective_at=now,
                actor=op,
            )

        def settle(i):
            services.charge_usage(
                usage_account=accounts[3],
                amount=Decimal("0.10"),
                effective_at=now,
                actor=op,
            )
            services.settle_account(account=accounts[3], actor=op)

        def transferable(i):
            get_transferable(Account.objects.select_related("company").get(pk=a.pk))

        client = APIClient()
        client.force_authenticate(op)

        def api_transfer(i):
            r = client.post(
                "/api/v1/transfers/",
                {"source": a.pk, "destination": b.pk, "amount": "1.00"},
                format="json",
            )
            assert r.status_code == 201, r.content

        def api_transfer_keyed(i):
            r = client.post(
                "/api/v1/transfers/",
                {"source": a.pk, "destination": b.pk, "amount": "1.00"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"k-{time.time_ns()}",
            )
            assert r.status_code == 201, r.content

        listed = [
            Account(
                uid=f"{9100000000000000 + i}",
                name=f"L{i}",
                company=company,
                currency="CNY",
            )
            for i in range(196)
        ]
        Account.objects.bulk_create(listed)

        def api_list(i):
            r = client.get("/api/v1/accounts/?page_size=200")
            assert r.status_code == 200, r.content
            assert r.json()["count"] == 200

        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            api_list(0)
        list_queries = len(queries.captured_queries)

        cases = [
            ("baseline: lock + update one row", baseline),
            ("service: transfer_balance", transfer),
            ("service: revoke_transfer", revoke),
            ("service: charge_usage", charge),
            ("service: charge_usage + settle_account", settle),
            ("selector: get_transferable", transferable),
            ("API: POST /transfers/", api_transfer),
            ("API: POST /transfers/ with Idempotency-Key", api_transfer_keyed),
            (f"API: GET /accounts/ (200 accounts, {list_queries} queries)", api_list),
        ]
        results = [
            (name, timed(fn, n=max(5, N // 20) if "GET" in name else N))
            for name, fn in cases
        ]
        base = results[0][1]
        print(
            f"date: {timezone.now():%Y-%m-%d %H:%M} UTC; machine: {platform.node()} "
            f"({os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}); PostgreSQL "
            f"{connection.cursor().connection.info.server_version}; "
            f"N={N} x {ROUNDS} rounds (median)"
        )
        print("| path | ms per call | ratio to baseline |\n|---|---:|---:|")
        for name, seconds in results:
            print(f"| {name} | {seconds * 1000:.2f} | {seconds / base:.1f}x |")
        from accounts.ledger import find_discrepancies

        assert find_discrepancies() == []
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
