"""Fixtures of the coupon pool tests; the shared ones (``enterprise``,
``make_pool``, ``company_cbm``) are in tests/coupon_fixtures.py."""

import pytest

from tests.factories import UserFactory


@pytest.fixture
def cbm(company_cbm):
    return company_cbm


@pytest.fixture
def stranger():
    return UserFactory(username="stranger")
