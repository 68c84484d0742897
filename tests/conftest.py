"""Shared fixtures. Every test runs on real PostgreSQL (embedded or DATABASE_URL)."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts import services
from accounts.ledger import find_discrepancies
from accounts.models import (
    Account,
    Charge,
    Movement,
    OverdueEpisode,
    Posting,
    SettlementAllocation,
    TransferPair,
)
from billing_portal import roles
from tests.factories import AccessFactory, AccountFactory, CompanyFactory, UserFactory

pytest_plugins = ["tests.coupon_fixtures"]

# Hypothesis: the full profile in CI, a quick one for development (override with
# HYPOTHESIS_PROFILE=ci locally to run what CI runs).
hypothesis_settings.register_profile(
    "ci", max_examples=200, stateful_step_count=40, print_blob=True
)
hypothesis_settings.register_profile("dev", max_examples=30, stateful_step_count=20)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def D(value) -> Decimal:
    return Decimal(value)


@pytest.fixture
def operator(db):
    user = UserFactory(username="op")
    user.groups.add(roles.ensure_groups()[roles.OPERATORS])
    return user


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="Globex")


@pytest.fixture
def make_account(db, company):
    def make(**kwargs):
        kwargs.setdefault("company", company)
        return AccountFactory(**kwargs)

    return make


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def grant(db):
    def do(user, account, permission="owner"):
        return AccessFactory(user=user, account=account, permission=permission)

    return do


@pytest.fixture
def fund(operator):
    """Top up an account through the service (the only way money arrives)."""

    def do(account, amount):
        services.top_up(account=account, amount=D(amount), actor=operator)
        account.refresh_from_db()
        return account

    return do


@pytest.fixture
def charge(operator):
    """Bill usage to an account (uncleared rises; nothing settles)."""
    counter = iter(range(1, 10**6))

    def do(account, amount, *, hours_ago=1):
        at = timezone.now() - timedelta(hours=hours_ago, seconds=next(counter))
        result = services.charge_usage(
            usage_account=account, amount=D(amount), effective_at=at, actor=operator
        )
        account.refresh_from_db()
        return result

    return do


@pytest.fixture
def transfer(operator):
    def do(source, destination, amount, actor=None):
        movement = services.transfer_balance(
            source=source,
            destination=destination,
            amount=D(amount),
            actor=actor or operator,
        )
        source.refresh_from_db()
        destination.refresh_from_db()
        return movement

    return do


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated as ``user`` with a token."""
    from rest_framework.authtoken.models import Token

    def make(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def assert_ledger_clean():
    def check():
        problems = find_discrepancies()
        assert problems == []

    return check


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: everything it needs is provided there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and session.exitstatus == 0:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; failing the run.", red=True
        )
        session.exitstatus = 1


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
