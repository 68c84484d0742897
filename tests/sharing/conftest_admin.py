"""The sharing admin's world, on top of the portal world of
tests/accounts/conftest_admin.py (imported explicitly by the tests that use it).

company A "Acme"                                  company B "Globex"
  a_main owns ``plan`` (savings plan, 10.00/h)       b1 owns ``b_plan`` (savings
    shared with a_dev and a_hidden since SHARED_AT      plan, 4.00/h) shared with
    and ``scu`` (SCU package 300.00, not shared)        b2 since SHARED_AT
  rule of a_main: new coupons → a_dev                rule of b1: coupons → b2
  usage of a_dev: ``usage`` (25.00 at HOUR+5m, 10.00 from the plan) and
  ``late`` (7.00 at SHARED_AT-1d, before the share began: nothing)
  usage of b2: ``b_usage`` (6.00 at HOUR+5m, 4.00 from b_plan)

``dev_admin`` manages a_hidden only: a recipient's administrator.
Services write everything; shares are made at SHARED_AT (the clock is moved,
as tests/accounts/conftest_admin.py does for a past top-up).
"""

from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

import pytest

from accounts.models import Account
from sharing import services
from sharing.models import Asset, Share, SharingRule, UsageRecord
from tests.accounts.conftest_admin import Portal
from tests.factories import AccountFactory, UserFactory
from tests.sharing.conftest import HOUR

SHARED_AT = HOUR - timedelta(days=1)


@dataclass
class SharingWorld:
    portal: Portal
    plan: Asset
    scu: Asset
    b_plan: Asset
    dev_share: Share
    hidden_share: Share
    b_share: Share
    rule: SharingRule
    b_rule: SharingRule
    usage: UsageRecord
    late: UsageRecord
    b_usage: UsageRecord
    dev_admin: object
    #: Acme's other CNY account, administered by ``owner``, receiving nothing:
    #: the one account the plan may still be shared with.
    spare: Account

    def user(self, role):
        if role == "dev_admin":
            return self.dev_admin
        return self.portal.user(role)


def at(instant):
    """Run services as if it were ``instant``."""
    return mock.patch("django.utils.timezone.now", return_value=instant)


@pytest.fixture(name="sharing_world")
def sharing_world_fixture(portal, provision, use, grant):
    p = portal
    plan = provision("savings_plan", p.a_main, commitment_per_hour="10.00")
    scu = provision("scu_package", p.a_main, capacity="300.00", products=["oss"])
    b_plan = provision("savings_plan", p.b1, commitment_per_hour="4.00")
    with at(SHARED_AT):
        dev_share, hidden_share = services.share_with_accounts(
            asset=plan, accounts=[p.a_dev, p.a_hidden], actor=p.owner
        )
        (b_share,) = services.share_with_accounts(
            asset=b_plan, accounts=[p.b2], actor=p.outsider
        )
    rule = services.create_sharing_rule(
        owner=p.a_main, asset_types=["coupon"], accounts=[p.a_dev], actor=p.owner
    )
    b_rule = services.create_sharing_rule(
        owner=p.b1, asset_types=["coupon"], accounts=[p.b2], actor=p.outsider
    )
    usage = use(p.a_dev, "25.00", external_id="dev-usage")
    late = use(
        p.a_dev,
        "7.00",
        at=SHARED_AT - timedelta(days=1),
        billed_at=HOUR,
        external_id="dev-late",
    )
    b_usage = use(p.b2, "6.00", external_id="globex-shared-usage")
    dev_admin = UserFactory(username="dev_admin")
    grant(dev_admin, p.a_hidden, "manage")
    spare = AccountFactory(
        uid="1000000000000105", name="Acme Spare", company=p.a_main.company
    )
    grant(p.owner, spare, "owner")
    return SharingWorld(
        portal=p.refresh(),
        plan=plan,
        scu=scu,
        b_plan=b_plan,
        dev_share=dev_share,
        hidden_share=hidden_share,
        b_share=b_share,
        rule=rule,
        b_rule=b_rule,
        usage=usage,
        late=late,
        b_usage=b_usage,
        dev_admin=dev_admin,
        spare=spare,
    )
