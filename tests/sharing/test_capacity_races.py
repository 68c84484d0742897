"""Capacity under concurrent usage posts (threads on PostgreSQL): an SCU
package never goes below zero, a hot savings-plan hour is never over-drawn,
and the deduction log always matches the ledger."""

import itertools
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections

from accounts.ledger import find_discrepancies
from sharing.models import AssetHour, Deduction
from sharing.services import record_usage, share_with_accounts
from tests.sharing.conftest import HOUR

THREADS = 8
EACH = 5


def post_concurrently(accounts, amount, *, at, prefix):
    barrier = threading.Barrier(THREADS)
    errors = []

    def worker(n):
        try:
            barrier.wait(timeout=20)
            for i in range(EACH):
                record_usage(
                    external_id=f"{prefix}-{n}-{i}",
                    account=accounts[n % len(accounts)],
                    product="ecs",
                    bill_type="pay_as_you_go",
                    usage_start=at + timedelta(seconds=n),
                    usage_end=at + timedelta(minutes=30),
                    amount=Decimal(amount),
                    billed_at=at + timedelta(hours=1),
                )
        except Exception as exc:  # collected: the test fails on any error
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_a_shared_scu_package_is_never_overdrawn(make_account, owner, grant, provision):
    a, b, c = make_account(), make_account(), make_account()
    grant(owner, a, "owner")
    scu = provision("scu_package", a, capacity="100.00")
    share_with_accounts(asset=scu, accounts=[b, c], actor=owner)
    from sharing.models import SharePeriod

    SharePeriod.objects.filter(asset=scu).update(start=HOUR - timedelta(days=1))
    # 40 records of 3.00 = 120.00 of usage against 100.00 of capacity.
    post_concurrently([a, b, c], "3.00", at=HOUR, prefix="scu")
    scu.refresh_from_db()
    assert scu.remaining == Decimal("0.00")
    assert scu.status == "exhausted"
    total = sum(d.amount for d in Deduction.objects.filter(asset=scu))
    assert total == Decimal("100.00")
    # Every record's deduction is what was left when it was priced: the log's
    # capacities form one unbroken chain from 100.00 down to 0.00.
    chain = sorted(
        Deduction.objects.filter(asset=scu).values_list(
            "capacity_before", "capacity_after"
        ),
        reverse=True,
    )
    assert chain[0][0] == Decimal("100.00")
    assert chain[-1][1] == Decimal("0.00")
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(chain))
    assert find_discrepancies() == []


@pytest.mark.django_db(transaction=True)
def test_a_hot_savings_plan_hour_is_never_overdrawn(
    make_account, owner, grant, provision
):
    a, b = make_account(), make_account()
    grant(owner, a, "owner")
    plan = provision("savings_plan", a, commitment_per_hour="50.00")
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    from sharing.models import SharePeriod

    SharePeriod.objects.filter(asset=plan).update(start=HOUR - timedelta(days=1))
    post_concurrently([a, b], "2.50", at=HOUR, prefix="sp")  # 100.00 in one hour
    hour = AssetHour.objects.get(asset=plan, hour=HOUR)
    assert hour.drawn == Decimal("50.00")
    assert sum(d.amount for d in Deduction.objects.filter(hour=hour)) == Decimal(
        "50.00"
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.uncleared_amount + b.uncleared_amount == Decimal("50.00")
    assert find_discrepancies() == []
