"""A usage record sent several times at once is priced exactly once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import Charge
from sharing.models import UsageRecord
from sharing.services import record_usage
from tests.factories import AccountFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_one_external_id_make_one_charge():
    account = AccountFactory()
    start = timezone.now() - timedelta(hours=2)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            record, created = record_usage(
                external_id="same-bill",
                account=account,
                product="ecs",
                bill_type="pay_as_you_go",
                usage_start=start,
                usage_end=start + timedelta(hours=1),
                amount=Decimal("7.25"),
                billed_at=start + timedelta(hours=1),
            )
            results.append((record.pk, created))
        except Exception as exc:  # collected: the test fails on any error
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 6
    assert sum(created for _pk, created in results) == 1
    assert len({pk for pk, _created in results}) == 1
    assert UsageRecord.objects.count() == 1
    assert Charge.objects.count() == 1
    account.refresh_from_db()
    assert account.uncleared_amount == Decimal("7.25")
