"""Statements per money operation, pinned (SPEC non-negotiable: performance
is measured by bench/, and the number of statements each operation sends is
pinned here so a change that adds round trips is seen in review)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import transfer_balance
from sharing.services import record_usage, share_with_accounts
from tests.sharing.conftest import HOUR

pytestmark = pytest.mark.django_db


def statements(fn) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def price(account, n, *, amount="5.00"):
    return lambda: record_usage(
        external_id=f"q{n}",
        account=account,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=HOUR + timedelta(minutes=n),
        usage_end=HOUR + timedelta(minutes=n + 1),
        amount=Decimal(amount),
        billed_at=HOUR + timedelta(hours=1),
    )


def test_transfer_statements(make_account, fund, operator):
    source, destination = make_account(), make_account()
    fund(source, "100.00")
    sql = statements(
        lambda: transfer_balance(
            source=source,
            destination=destination,
            amount=Decimal("1.00"),
            actor=operator,
        )
    )
    # the operator's role, both accounts locked, the pair upserted, the
    # movement with its legs, the accounts' and the pair's cached balances
    assert len(sql) == 6, "\n".join(sql)


def test_usage_without_assets(make_account):
    account = make_account()
    sql = statements(price(account, 1))
    # re-send lookup, trusteeship payer, record insert, candidates, payer lock,
    # movement with legs, cached balances, overdue episode (read, opened),
    # charge, record update
    assert len(sql) == 11, "\n".join(sql)


def test_usage_with_an_own_scu_package_and_a_shared_savings_plan(
    make_account, owner, grant, provision
):
    a, b = make_account(), make_account()
    grant(owner, b, "owner")
    provision("scu_package", a, capacity="2.00")
    plan = provision("savings_plan", b, commitment_per_hour="1.00")
    share_with_accounts(asset=plan, accounts=[a], actor=owner)
    plan.periods.update(start=HOUR - timedelta(days=1))
    sql = statements(price(a, 2))
    # + the shared asset's periods and recipient rules, the payer lock first,
    # the asset locks, the candidates again under the locks (3), the hour
    # upsert, the assets' and hour's cached balances, the deduction log, the
    # exhausted status
    assert len(sql) == 23, "\n".join(sql)
