"""Fixtures of coupon credit pools, shared by tests/coupons and tests/api (a
plugin of tests/conftest.py): a company with a management account, two members
with active financial relationships, the company's CBM, pools."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import (
    confirm_relationship,
    invite_member,
    set_management_account,
)
from coupons.services import approve_pool, request_pool
from tests.credit_helpers import make_cbm

NOW = timezone.now()


@pytest.fixture
def company_cbm(company):
    """The CBM assigned to ``company``."""
    user = make_cbm("cbm-acme")
    company.business_manager = user
    company.save(update_fields=["business_manager"])
    return user


@pytest.fixture
def enterprise(company, make_account, owner, grant, operator):
    """(manager, member1, member2) with ``owner`` administering all three."""
    manager = make_account(name="Manager")
    members = [make_account(name="Member 1"), make_account(name="Member 2")]
    for account in (manager, *members):
        grant(owner, account, "owner")
    set_management_account(company=company, account=manager, actor=operator)
    for member in members:
        relate(manager, member, owner)
    return manager, *members


def relate(manager, member, actor, type="financial_management"):
    relationship = invite_member(
        management_account=manager,
        member_account=member,
        type=type,
        permissions=[],
        actor=actor,
    )
    return confirm_relationship(relationship=relationship, actor=actor)


@pytest.fixture
def make_pool(company, company_cbm, enterprise, operator):
    manager = enterprise[0]

    def make(amount="1000.00", approve=True, **scope):
        scope.setdefault("products", [])
        scope.setdefault("bill_types", ["pay_as_you_go", "subscription"])
        scope.setdefault("valid_from", NOW - timedelta(days=1))
        scope.setdefault("valid_until", NOW + timedelta(days=30))
        pool = request_pool(
            company=company,
            distribution_target="enterprise_management_account",
            management_account=manager,
            amount=Decimal(amount),
            actor=company_cbm,
            **scope,
        )
        if approve:
            pool = approve_pool(pool=pool, actor=operator)
        return pool

    return make
