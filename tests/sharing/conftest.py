"""Fixtures of equity asset sharing: assets provisioned and usage priced
through the services (the only writers)."""

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from sharing.services import provision_asset, record_usage

#: A fixed clock hour in the past, so hour buckets are predictable.
HOUR = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def provision(operator):
    """Provision an asset (valid a month around HOUR unless told)."""

    def make(type, owner, **fields):
        fields.setdefault("valid_from", HOUR - timedelta(days=10))
        fields.setdefault("valid_until", HOUR + timedelta(days=20))
        for name in ("commitment_per_hour", "capacity"):
            if name in fields:
                fields[name] = Decimal(fields[name])
        return provision_asset(type=type, owner=owner, actor=operator, **fields)

    return make


@pytest.fixture
def use(operator):
    """Price a usage record of ``account`` (ids are unique per test)."""
    ids = count(1)

    def send(account, amount, *, at=None, product="ecs", **fields):
        at = at or HOUR + timedelta(minutes=5)
        fields.setdefault("bill_type", "pay_as_you_go")
        record, _created = record_usage(
            external_id=fields.pop("external_id", f"u{next(ids)}"),
            account=account,
            product=product,
            usage_start=at,
            usage_end=at + timedelta(minutes=30),
            amount=Decimal(amount),
            billed_at=fields.pop("billed_at", at + timedelta(hours=1)),
            actor=operator,
            **fields,
        )
        return record

    return send


def deducted(record) -> list[tuple[int, str]]:
    """(asset id, amount) of a record's deductions, in order."""
    return [(d.asset_id, str(d.amount)) for d in record.deductions.order_by("position")]
