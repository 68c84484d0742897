"""Fixtures for the fund-ledger service tests (tests/accounts/)."""

from decimal import Decimal

import pytest

from accounts import services
from accounts.models import (
    Account,
    Charge,
    Company,
    Movement,
    OverdueEpisode,
    Posting,
    SettlementAllocation,
    TransferPair,
)
from tests.factories import CompanyFactory


@pytest.fixture
def unverified_company(db):
    return CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )


@pytest.fixture
def revoke(operator):
    """Take back through the service; refresh both accounts afterwards."""

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


@pytest.fixture
def set_status(operator):
    """Freeze or close an account through the service."""

    def do(account, status):
        services.update_account(account=account, actor=operator, status=status)
        account.refresh_from_db()
        return account

    return do


@pytest.fixture
def remaining():
    """The pair's remaining revocable amount (None when no pair row exists)."""

    def get(source, destination):
        pair = TransferPair.objects.filter(
            source=source, destination=destination
        ).first()
        return None if pair is None else pair.remaining_revocable

    return get


@pytest.fixture
def ledger_snapshot():
    """Everything a money service can write, to compare before and after."""

    def take():
        return {
            "accounts": list(
                Account.objects.order_by("pk").values_list(
                    "pk", "own_cash", "transferred_in_balance", "uncleared_amount"
                )
            ),
            "pairs": list(
                TransferPair.objects.order_by("pk").values_list(
                    "pk", "source", "destination", "remaining_revocable"
                )
            ),
            "charges": list(
                Charge.objects.order_by("pk").values_list("pk", "outstanding")
            ),
            "episodes": list(
                OverdueEpisode.objects.order_by("pk").values_list(
                    "pk", "account", "start", "end"
                )
            ),
            "movements": Movement.objects.count(),
            "postings": Posting.objects.count(),
            "allocations": SettlementAllocation.objects.count(),
        }

    return take
