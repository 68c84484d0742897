"""Demo data of coupon credit pools, loaded by ``seed_demo`` through the
services only (no raw writes: ``check_ledger`` stays clean).

Acme's business manager (``cbm``) requested a pool for Acme Main, the
enterprise management account; an operator approved it; alice (owner of Acme
Main) issued coupons to two members, Acme Web and Acme Mobile; usage drew on
them; Acme Mobile's payment relationship was then terminated, so its next usage
was not deducted, and the remaining value of its own coupon was revoked back
to the pool. A coupon issued to both members still applies to Acme Web but no
longer to Acme Mobile. A second request waits for the operator; Globex has no
pool (its administrators see the empty state).

The story runs over the last three weeks (``clock``: seed_demo's, which runs
the services as if it were an earlier instant), so that the pool page's
utilisation chart has days to show.
"""

from contextlib import nullcontext
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Account, Company, FinancialRelationship
from sharing.services import record_usage

from .models import CreditPool, Product
from .services import (
    approve_pool,
    issue_coupons,
    request_pool,
    revoke_coupon,
    save_product,
)

ACME_REG = "91310000DEMO0001"
PRODUCTS = [
    ("ecs", "Elastic Compute Service"),
    ("oss", "Object Storage Service"),
    ("rds", "ApsaraDB RDS"),
    ("cdn", "Content Delivery Network"),
]
D = Decimal


def seed_pools(clock=nullcontext) -> None:
    """Load the pools' demo story once (nothing if Acme already has a pool);
    ``clock(at)`` runs the services as if it were ``at``."""
    acme = Company.objects.filter(registration_number=ACME_REG).first()
    if acme is None or CreditPool.objects.filter(company=acme).exists():
        return
    users = {
        u.username: u
        for u in get_user_model().objects.filter(
            username__in=["operator", "cbm", "alice", "bob", "carol"]
        )
    }
    op, cbm, alice = users["operator"], users["cbm"], users["alice"]
    for code, name in PRODUCTS:
        if not Product.objects.filter(code=code).exists():
            save_product(code=code, name=name, actor=op)

    main = acme.management_account
    if main is None:
        raise RuntimeError("seed_demo designates Acme's management account first")
    now = timezone.now()

    def ago(days):
        return now - timedelta(days=days)

    with clock(ago(21)):
        web, mobile = (
            _member(acme, main, uid, name, users)
            for uid, name in (
                ("1000000000000201", "Acme Web"),
                ("1000000000000202", "Acme Mobile"),
            )
        )
        pool = request_pool(
            company=acme,
            distribution_target=CreditPool.DISTRIBUTION_TARGET,
            management_account=main,
            products=["ecs", "oss", "cdn"],
            bill_types=["pay_as_you_go", "subscription"],
            valid_from=ago(21),
            valid_until=now + timedelta(days=180),
            amount=D("10000.00"),
            actor=cbm,
        )
    with clock(ago(20)):
        pool = approve_pool(pool=pool, actor=op)
    with clock(ago(16)):
        issue_coupons(
            pool=pool, accounts=[web], count=1, face_value=D("500.00"), actor=alice
        )
    with clock(ago(12)):
        (mobile_coupon,) = issue_coupons(
            pool=pool, accounts=[mobile], count=1, face_value=D("300.00"), actor=alice
        )
    with clock(ago(8)):
        issue_coupons(
            pool=pool,
            accounts=[web, mobile],
            count=1,
            face_value=D("200.00"),
            actor=alice,
        )
    with clock(ago(6)):
        _usage("demo-pool-usage-1", web, "ecs", "120.00", op)
        _usage("demo-pool-usage-2", mobile, "oss", "80.00", op)
    relationship = FinancialRelationship.objects.get(
        member_account=mobile, status=FinancialRelationship.Status.ACTIVE
    )
    with clock(ago(4)):
        accounts.terminate_relationship(relationship=relationship, actor=alice)
    # After the termination: the pool's coupons no longer deduct Acme Mobile.
    with clock(ago(3)):
        _usage("demo-pool-usage-3", mobile, "ecs", "50.00", op)
        for account in (web, mobile):
            accounts.settle_account(account=account, actor=op)
    with clock(ago(2)):
        revoke_coupon(coupon=mobile_coupon, actor=alice)

    request_pool(
        company=acme,
        distribution_target=CreditPool.DISTRIBUTION_TARGET,
        management_account=main,
        products=[],
        bill_types=["pay_as_you_go"],
        valid_from=now,
        valid_until=now + timedelta(days=365),
        amount=D("3000.00"),
        actor=cbm,
    )


def _member(company, main, uid, name, users) -> Account:
    """A CNY account of the company, administered like Acme's others, funded,
    and a financial management member of the management account."""
    op, alice = users["operator"], users["alice"]
    account = accounts.create_account(
        uid=uid,
        name=name,
        company=company,
        currency="CNY",
        mobile="+8613800138000",
        actor=op,
    )
    for username, permission in (
        ("alice", "owner"),
        ("bob", "manage"),
        ("carol", "use"),
    ):
        accounts.grant_access(
            account=account, user=users[username], permission=permission, actor=op
        )
    accounts.top_up(account=account, amount=D("500.00"), actor=op)
    relationship = accounts.invite_member(
        management_account=main,
        member_account=account,
        type="financial_management",
        permissions=["CHECK_TARGET_CONSUMPTION"],
        actor=alice,
    )
    accounts.confirm_relationship(relationship=relationship, actor=alice)
    return account


def _usage(external_id, account, product, amount, actor):
    now = timezone.now()
    record_usage(
        external_id=external_id,
        account=account,
        product=product,
        bill_type="pay_as_you_go",
        usage_start=now,
        usage_end=now,
        amount=D(amount),
        billed_at=now,
        actor=actor,
    )
