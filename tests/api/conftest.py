"""Fixtures for the API contract tests (tests/api/)."""

from decimal import Decimal

import pytest

from accounts import services
from accounts.models import (
    Account,
    AccountAccess,
    Charge,
    Company,
    Movement,
    Posting,
    SettlementAllocation,
    TransferPair,
)
from billing_portal import roles
from billing_portal.models import AuditEvent, IdempotencyRecord
from sharing.models import UsageRecord
from tests.factories import CompanyFactory, UserFactory


@pytest.fixture
def cbm(db):
    user = UserFactory(username="cbm")
    user.groups.add(roles.ensure_groups()[roles.CBM])
    return user


@pytest.fixture
def unverified_company(db):
    return CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )


@pytest.fixture
def db_state():
    """Everything a refused request must leave untouched, as comparable values."""

    def snapshot() -> dict:
        return {
            "movements": Movement.objects.count(),
            "postings": Posting.objects.count(),
            "charges": list(
                Charge.objects.order_by("pk").values_list("pk", "outstanding")
            ),
            "allocations": SettlementAllocation.objects.count(),
            "usage": UsageRecord.objects.count(),
            "pairs": list(
                TransferPair.objects.order_by("pk").values_list(
                    "pk", "remaining_revocable"
                )
            ),
            "accounts": list(
                Account.objects.order_by("pk").values_list(
                    "pk",
                    "name",
                    "status",
                    "mobile",
                    "partner_name",
                    "partner_mode",
                    "own_cash",
                    "transferred_in_balance",
                    "uncleared_amount",
                    "credit_limit",
                )
            ),
            "companies": list(
                Company.objects.order_by("pk").values_list(
                    "pk", "verification_status", "verified_by"
                )
            ),
            "access": list(
                AccountAccess.objects.order_by("pk").values_list(
                    "pk", "user", "account", "permission"
                )
            ),
            "idempotency": IdempotencyRecord.objects.count(),
            "audit": AuditEvent.objects.count(),
        }

    return snapshot


@pytest.fixture
def set_status(operator):
    def do(account, status):
        services.update_account(account=account, actor=operator, status=status)
        account.refresh_from_db()
        return account

    return do


@pytest.fixture
def revoke(operator):
    def do(source, destination, amount, actor=None):
        movement = services.revoke_transfer(
            source=source,
            destination=destination,
            amount=Decimal(amount),
            actor=actor or operator,
        )
        source.refresh_from_db()
        destination.refresh_from_db()
        return movement

    return do
