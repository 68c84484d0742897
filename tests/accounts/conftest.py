"""Fixtures for the fund-ledger service tests (tests/accounts/)."""

from decimal import Decimal

import pytest

from accounts import services
from accounts.models import (
    Company,
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
