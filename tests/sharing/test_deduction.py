"""The deduction engine (SPEC §4.4): order, tie-breaks, hourly capacity,
reserved-instance coverage, the late-bill rule, and one movement per record."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import FinancialRelationship, Movement
from sharing.models import Asset, AssetHour, SharePeriod
from sharing.services import share_with_accounts, stop_share
from tests.factories import UserFactory
from tests.sharing.conftest import HOUR, deducted

pytestmark = pytest.mark.django_db

SP, RI, SCU, COUPON = (
    "savings_plan",
    "reserved_instance",
    "scu_package",
    "coupon",
)


@pytest.fixture
def pair(make_account, owner, grant):
    """An owner account A (administered by ``owner``) and another account B."""
    a = make_account(name="A")
    b = make_account(name="B")
    grant(owner, a, "owner")
    return a, b


def test_no_assets_charges_the_whole_amount(pair, use, assert_ledger_clean):
    a, _b = pair
    record = use(a, "10.00")
    assert record.charged_amount == Decimal("10.00")
    assert deducted(record) == []
    a.refresh_from_db()
    assert a.uncleared_amount == Decimal("10.00")
    assert_ledger_clean()


def test_order_by_type_then_own_then_expiry_then_id(
    pair, owner, provision, use, assert_ledger_clean
):
    a, _b = pair
    late_scu = provision(SCU, a, capacity="3.00", valid_until=HOUR + timedelta(days=30))
    early_scu = provision(SCU, a, capacity="3.00", valid_until=HOUR + timedelta(days=5))
    tie_scu = provision(SCU, a, capacity="3.00", valid_until=HOUR + timedelta(days=5))
    coupon = provision(COUPON, a, capacity="100.00")
    plan = provision(SP, a, commitment_per_hour="2.00")
    record = use(a, "20.00")
    # SCU packages (earliest expiry, then id), then the savings plan, then the coupon.
    assert deducted(record) == [
        (early_scu.pk, "3.00"),
        (tie_scu.pk, "3.00"),
        (late_scu.pk, "3.00"),
        (plan.pk, "2.00"),
        (coupon.pk, "9.00"),
    ]
    assert record.charged_amount == Decimal("0.00")
    movement = record.charge.movement
    assert movement.kind == Movement.Kind.USAGE_CHARGE
    assert movement.amount == Decimal("20.00")
    # One movement: revenue, five deduction legs, no uncleared leg at net 0.
    assert movement.postings.count() == 6
    coupon.refresh_from_db()
    assert coupon.remaining == Decimal("91.00")
    early_scu.refresh_from_db()
    assert early_scu.remaining == Decimal("0.00")
    assert early_scu.status == Asset.Status.EXHAUSTED
    assert_ledger_clean()


def test_own_assets_before_shared_ones(
    pair, provision, use, grant, assert_ledger_clean
):
    a, b = pair
    # b's administrator shares b's package with a; a has its own too.
    b_owner = UserFactory()
    grant(b_owner, b, "owner")
    shared = provision(SCU, b, capacity="5.00", valid_until=HOUR + timedelta(days=1))
    own = provision(SCU, a, capacity="5.00", valid_until=HOUR + timedelta(days=9))
    share_with_accounts(asset=shared, accounts=[a], actor=b_owner)
    SharePeriod.objects.filter(asset=shared).update(start=HOUR - timedelta(days=1))
    record = use(a, "7.00")
    assert deducted(record) == [(own.pk, "5.00"), (shared.pk, "2.00")]
    d = record.deductions.get(asset=shared)
    assert (d.owner_id, d.beneficiary_id) == (b.pk, a.pk)
    assert (d.capacity_before, d.capacity_after) == (Decimal("5.00"), Decimal("3.00"))
    assert_ledger_clean()


def test_late_bill_before_the_share_began_gets_nothing_exact_boundary(
    pair, owner, provision, use, assert_ledger_clean
):
    a, b = pair
    plan = provision(SCU, a, capacity="50.00")
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    start = SharePeriod.objects.get(asset=plan, recipient=b).start
    before = use(b, "4.00", at=start - timedelta(microseconds=1))
    assert deducted(before) == []
    assert before.charged_amount == Decimal("4.00")
    assert before.skipped == [{"asset": plan.pk, "reason": "before_share_start"}]
    at_start = use(b, "4.00", at=start)
    assert deducted(at_start) == [(plan.pk, "4.00")]
    assert at_start.charged_amount == Decimal("0.00")
    assert_ledger_clean()


def test_stopped_share_does_not_deduct_usage_after_its_end(
    pair, owner, provision, use, assert_ledger_clean
):
    a, b = pair
    plan = provision(SCU, a, capacity="50.00")
    share_with_accounts(asset=plan, accounts=[b], actor=owner)
    period = stop_share(asset=plan, account=b, actor=owner)
    during = use(b, "1.00", at=period.start)
    after = use(b, "1.00", at=period.end)
    assert deducted(during) == [(plan.pk, "1.00")]
    assert deducted(after) == []
    assert after.skipped == [{"asset": plan.pk, "reason": "share_ended"}]
    assert_ledger_clean()


def test_savings_plan_draws_on_the_hour_of_the_usage_start(
    pair, provision, use, assert_ledger_clean
):
    a, _b = pair
    plan = provision(SP, a, commitment_per_hour="10.00")
    first = use(a, "6.00", at=HOUR + timedelta(minutes=1))
    second = use(a, "6.00", at=HOUR + timedelta(minutes=59, seconds=59))
    next_hour = use(a, "6.00", at=HOUR + timedelta(hours=1))
    assert deducted(first) == [(plan.pk, "6.00")]
    assert deducted(second) == [(plan.pk, "4.00")]
    assert second.charged_amount == Decimal("2.00")
    assert deducted(next_hour) == [(plan.pk, "6.00")]
    hour = AssetHour.objects.get(asset=plan, hour=HOUR)
    assert hour.drawn == Decimal("10.00")
    third = use(a, "1.00", at=HOUR + timedelta(minutes=30))
    assert third.skipped == [{"asset": plan.pk, "reason": "hour_used_up"}]
    assert_ledger_clean()


def test_reserved_instance_covers_matching_instance_hours(
    pair, provision, use, assert_ledger_clean
):
    a, _b = pair
    ri = provision(RI, a, instance_type="ecs.g7.large", region="cn-hangzhou", count=2)
    match = {"instance_type": "ecs.g7.large", "region": "cn-hangzhou"}
    # 3 instance-hours, 2 covered: two thirds of 9.00.
    record = use(a, "9.00", quantity=Decimal("3"), **match)
    assert deducted(record) == [(ri.pk, "6.00")]
    assert record.charged_amount == Decimal("3.00")
    # The hour is used up now.
    again = use(a, "3.00", quantity=Decimal("1"), **match)
    assert again.skipped == [{"asset": ri.pk, "reason": "hour_used_up"}]
    other = use(
        a, "3.00", quantity=Decimal("1"), instance_type="ecs.c7", region="cn-hangzhou"
    )
    assert other.skipped == [{"asset": ri.pk, "reason": "instance_not_matching"}]
    hour = AssetHour.objects.get(asset=ri)
    assert hour.units_used == Decimal("2")
    assert_ledger_clean()


def test_scope_reasons_products_bill_types_validity(
    pair, provision, use, assert_ledger_clean
):
    a, _b = pair
    scu = provision(SCU, a, capacity="10.00", products=["oss"])
    coupon = provision(COUPON, a, capacity="10.00", bill_types=["subscription"])
    old = provision(
        SCU,
        a,
        capacity="10.00",
        valid_from=HOUR - timedelta(days=30),
        valid_until=HOUR - timedelta(days=1),
    )
    record = use(a, "5.00", product="ecs", bill_type="pay_as_you_go")
    assert deducted(record) == []
    assert sorted((s["asset"], s["reason"]) for s in record.skipped) == sorted(
        [
            (scu.pk, "product_not_covered"),
            (old.pk, "out_of_validity"),
            (coupon.pk, "bill_type_not_covered"),
        ]
    )
    covered = use(a, "5.00", product="oss", bill_type="subscription")
    assert deducted(covered) == [(scu.pk, "5.00")]
    assert covered.skipped == [
        {"asset": old.pk, "reason": "out_of_validity"},
        {"asset": coupon.pk, "reason": "nothing_left"},
    ]
    assert_ledger_clean()


def test_under_trusteeship_assets_deduct_first_and_the_rest_goes_to_the_payer(
    company, make_account, provision, use, assert_ledger_clean
):
    manager = make_account(name="Manager")
    member = make_account(name="Member")
    company.management_account = manager
    company.save()
    FinancialRelationship.objects.create(
        management_account=manager,
        member_account=member,
        type=FinancialRelationship.Type.TRUSTEESHIP,
        status=FinancialRelationship.Status.ACTIVE,
        start=HOUR - timedelta(days=1),
    )
    scu = provision(SCU, member, capacity="4.00")
    record = use(member, "10.00")
    assert deducted(record) == [(scu.pk, "4.00")]
    assert record.payer_id == manager.pk
    assert record.charged_amount == Decimal("6.00")
    manager.refresh_from_db()
    member.refresh_from_db()
    assert manager.uncleared_amount == Decimal("6.00")
    assert member.uncleared_amount == Decimal("0.00")
    assert_ledger_clean()


def test_a_resend_does_not_consume_benefits_twice(pair, provision, use):
    a, _b = pair
    scu = provision(SCU, a, capacity="10.00")
    first = use(a, "4.00", external_id="same")
    again = use(a, "4.00", external_id="same")
    assert again.pk == first.pk
    scu.refresh_from_db()
    assert scu.remaining == Decimal("6.00")


def test_provisioning_grants_capacity_by_a_movement(
    pair, provision, assert_ledger_clean
):
    a, _b = pair
    scu = provision(SCU, a, capacity="123.45")
    assert scu.remaining == Decimal("123.45")
    movement = Movement.objects.get(kind=Movement.Kind.ASSET_PROVISION)
    assert movement.amount == Decimal("123.45")
    plan = provision(SP, a, commitment_per_hour="1.00")
    assert plan.remaining == Decimal("0")
    assert Movement.objects.filter(kind=Movement.Kind.ASSET_PROVISION).count() == 1
    assert timezone.now() > scu.created_at
    assert_ledger_clean()
