"""Coupon credit pools (SPEC §5): request, decision, issuance, deduction tied
to the payment relationship, revocation, and the sums."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from accounts.ledger import find_discrepancies
from accounts.models import FinancialRelationship
from accounts.services import terminate_relationship
from billing_portal.errors import ActionForbidden, CouponPoolRefused
from coupons.models import CreditPool
from coupons.services import (
    expire_pools,
    issue_coupons,
    reject_pool,
    request_pool,
    revoke_coupon,
)
from sharing.models import Asset, Deduction
from sharing.services import record_usage
from tests.coupon_fixtures import NOW, relate
from tests.credit_helpers import make_cbm

pytestmark = pytest.mark.django_db
D = Decimal


def codes(excinfo):
    return [r.code for r in excinfo.value.reasons]


def usage(account, amount, *, at=None, product="ecs", bill_type="pay_as_you_go", n=[0]):  # noqa: B006
    n[0] += 1
    at = at or timezone.now()  # after the coupons were issued (and shared)
    record, _ = record_usage(
        external_id=f"c{n[0]}-{account.pk}-{at.timestamp()}",
        account=account,
        product=product,
        bill_type=bill_type,
        usage_start=at,
        usage_end=at + timedelta(minutes=10),
        amount=D(amount),
        billed_at=at + timedelta(hours=1),
    )
    return record


def test_only_the_companys_cbm_requests_and_only_for_the_management_account(
    company, cbm, enterprise, owner, other_company
):
    manager, member, _ = enterprise
    args = {
        "company": company,
        "distribution_target": "enterprise_management_account",
        "management_account": manager,
        "products": [],
        "bill_types": ["subscription"],
        "valid_from": NOW,
        "valid_until": NOW + timedelta(days=1),
        "amount": D("10.00"),
    }
    with pytest.raises(ActionForbidden) as excinfo:
        request_pool(actor=owner, **args)
    assert codes(excinfo) == ["not_cbm"]
    other_cbm = make_cbm("cbm-globex")
    other_company.business_manager = other_cbm
    other_company.save()
    with pytest.raises(ActionForbidden) as excinfo:
        request_pool(actor=other_cbm, **args)
    assert codes(excinfo) == ["not_cbm"]
    with pytest.raises(CouponPoolRefused) as excinfo:
        request_pool(actor=cbm, **{**args, "distribution_target": "member_accounts"})
    assert codes(excinfo) == ["invalid_distribution_target"]
    with pytest.raises(CouponPoolRefused) as excinfo:
        request_pool(actor=cbm, **{**args, "management_account": member})
    assert codes(excinfo) == ["invalid_distribution_target"]
    assert CreditPool.objects.count() == 0
    pool = request_pool(actor=cbm, **args)
    assert (pool.status, pool.remaining, pool.currency) == ("requested", D("0"), "CNY")


def test_approval_funds_the_pool_rejection_keeps_the_reason_expiry(
    make_pool, operator, enterprise, owner
):
    pool = make_pool("500.00")
    assert (pool.status, pool.remaining) == ("approved", D("500.00"))
    rejected = make_pool(approve=False)
    rejected = reject_pool(pool=rejected, reason_text="Budget closed", actor=operator)
    assert (rejected.status, rejected.rejection_reason) == ("rejected", "Budget closed")
    with pytest.raises(CouponPoolRefused) as excinfo:
        issue_coupons(
            pool=rejected,
            accounts=[enterprise[0]],
            count=1,
            face_value=D("1"),
            actor=owner,
        )
    assert codes(excinfo) == ["pool_not_active"]
    CreditPool.objects.filter(pk=pool.pk).update(valid_until=timezone.now())
    assert expire_pools() == 1
    pool.refresh_from_db()
    assert pool.status == "expired"
    assert find_discrepancies() == []


def test_issuance_limits_and_eligibility(make_pool, enterprise, owner, make_account):
    manager, m1, m2 = enterprise
    pool = make_pool("100.00")
    outsider = make_account(name="Not a member")
    with pytest.raises(CouponPoolRefused) as excinfo:
        issue_coupons(
            pool=pool,
            accounts=[m1, outsider],
            count=3,
            face_value=D("40.00"),
            actor=owner,
        )
    assert codes(excinfo) == ["account_not_eligible", "exceeds_pool_remaining"]
    coupons = issue_coupons(
        pool=pool, accounts=[manager, m1], count=2, face_value=D("50.00"), actor=owner
    )
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("0.00"), D("100.00"))
    for coupon in coupons:
        asset = coupon.asset
        assert (asset.type, asset.owner_id, asset.remaining) == (
            "coupon",
            manager.pk,
            D("50.00"),
        )
        assert (asset.valid_from, asset.valid_until) == (
            pool.valid_from,
            pool.valid_until,
        )
        assert set(coupon.accounts.values_list("pk", flat=True)) == {manager.pk, m1.pk}
        assert list(asset.periods.values_list("recipient", flat=True)) == [m1.pk]
    with pytest.raises(CouponPoolRefused) as excinfo:
        issue_coupons(
            pool=pool, accounts=[m2], count=1, face_value=D("0.01"), actor=owner
        )
    assert codes(excinfo) == ["exceeds_pool_remaining"]
    assert find_discrepancies() == []


def test_deduction_in_scope_only_and_only_for_listed_accounts(
    make_pool, enterprise, owner
):
    manager, m1, m2 = enterprise
    pool = make_pool("100.00", products=["oss"], bill_types=["subscription"])
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("30.00"), actor=owner
    )
    out_of_scope = usage(m1, "5.00", product="ecs", bill_type="subscription")
    wrong_bill = usage(m1, "5.00", product="oss", bill_type="pay_as_you_go")
    not_listed = usage(manager, "5.00", product="oss", bill_type="subscription")
    other = usage(m2, "5.00", product="oss", bill_type="subscription")
    in_scope = usage(m1, "5.00", product="oss", bill_type="subscription")
    assert [
        r.charged_amount
        for r in (out_of_scope, wrong_bill, not_listed, other, in_scope)
    ] == [
        D("5.00"),
        D("5.00"),
        D("5.00"),
        D("5.00"),
        D("0.00"),
    ]
    assert out_of_scope.skipped == [
        {"asset": coupon.asset_id, "reason": "product_not_covered"}
    ]
    assert wrong_bill.skipped == [
        {"asset": coupon.asset_id, "reason": "bill_type_not_covered"}
    ]
    assert not_listed.skipped == [
        {"asset": coupon.asset_id, "reason": "account_not_applicable"}
    ]
    assert other.skipped == []  # not a candidate at all: never shared with m2
    coupon.asset.refresh_from_db()
    assert coupon.asset.remaining == D("25.00")


def test_relationship_ended_then_re_established_exact_boundaries(
    make_pool, enterprise, owner
):
    manager, m1, _m2 = enterprise
    pool = make_pool("100.00")
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("50.00"), actor=owner
    )
    shared_at = coupon.asset.periods.get().start
    relationship = FinancialRelationship.objects.get(member_account=m1, status="active")
    ended = terminate_relationship(relationship=relationship, actor=owner)
    before_end = usage(m1, "1.00", at=ended.end - timedelta(microseconds=1))
    at_end = usage(m1, "1.00", at=ended.end)
    assert before_end.charged_amount == D("0.00")
    assert at_end.charged_amount == D("1.00")
    assert at_end.skipped == [
        {"asset": coupon.asset_id, "reason": "payment_relationship_inactive"}
    ]
    coupon.asset.refresh_from_db()
    assert coupon.asset.status == Asset.Status.ACTIVE  # still valid, not expired
    again = relate(manager, m1, owner)
    before_start = usage(m1, "1.00", at=again.start - timedelta(microseconds=1))
    at_start = usage(m1, "1.00", at=again.start)
    assert before_start.charged_amount == D("1.00")
    assert at_start.charged_amount == D("0.00")
    assert shared_at < ended.end
    assert find_discrepancies() == []


def test_previous_administrator_revokes_after_termination(make_pool, enterprise, owner):
    _manager, m1, _m2 = enterprise
    pool = make_pool("100.00")
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("40.00"), actor=owner
    )
    usage(m1, "15.00")
    relationship = FinancialRelationship.objects.get(member_account=m1, status="active")
    terminate_relationship(relationship=relationship, actor=owner)
    coupon = revoke_coupon(coupon=coupon, actor=owner)
    assert (coupon.revoked_amount, coupon.revoked_to_pool) == (D("25.00"), True)
    coupon.asset.refresh_from_db()
    assert (coupon.asset.status, coupon.asset.remaining) == ("revoked", D("0.00"))
    pool.refresh_from_db()
    # total = remaining + issued - revoked back
    assert (pool.remaining, pool.issued_amount, pool.revoked_amount) == (
        D("85.00"),
        D("40.00"),
        D("25.00"),
    )
    assert pool.amount == pool.remaining + pool.issued_amount - pool.revoked_amount
    deducted = sum(d.amount for d in Deduction.objects.filter(asset=coupon.asset))
    assert (
        coupon.face_value == coupon.asset.remaining + deducted + coupon.revoked_amount
    )
    with pytest.raises(CouponPoolRefused):
        revoke_coupon(coupon=coupon, actor=owner)
    assert find_discrepancies() == []


def test_revoking_after_the_pool_expired_records_it_as_expired(
    make_pool, enterprise, owner, stranger
):
    _manager, m1, _m2 = enterprise
    pool = make_pool("100.00")
    (coupon,) = issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("40.00"), actor=owner
    )
    with pytest.raises(ActionForbidden):
        revoke_coupon(coupon=coupon, actor=stranger)
    CreditPool.objects.filter(pk=pool.pk).update(status="expired")
    coupon = revoke_coupon(coupon=coupon, actor=owner)
    assert (coupon.revoked_amount, coupon.revoked_to_pool) == (D("40.00"), False)
    pool.refresh_from_db()
    assert (pool.remaining, pool.revoked_amount) == (D("60.00"), D("0.00"))
    assert find_discrepancies() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuance_never_overdraws_the_pool(make_pool, enterprise, owner):
    _manager, m1, _m2 = enterprise
    pool = make_pool("100.00")
    barrier = threading.Barrier(6)
    results, errors = [], []

    def issue():
        try:
            barrier.wait(timeout=20)
            issue_coupons(
                pool=pool, accounts=[m1], count=1, face_value=D("30.00"), actor=owner
            )
            results.append("issued")
        except CouponPoolRefused as exc:
            results.append(exc.code)
        except Exception as exc:  # collected: the test fails on any other error
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == ["exceeds_pool_remaining"] * 3 + ["issued"] * 3
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("10.00"), D("90.00"))
    assert find_discrepancies() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_usage_never_overdraws_a_coupon(make_pool, enterprise, owner):
    manager, m1, m2 = enterprise
    pool = make_pool("100.00")
    (coupon,) = issue_coupons(
        pool=pool,
        accounts=[manager, m1, m2],
        count=1,
        face_value=D("20.00"),
        actor=owner,
    )
    barrier = threading.Barrier(6)
    errors = []
    at = timezone.now()

    def post(n):
        try:
            barrier.wait(timeout=20)
            for i in range(4):
                record_usage(
                    external_id=f"race-{n}-{i}",
                    account=(manager, m1, m2)[n % 3],
                    product="ecs",
                    bill_type="pay_as_you_go",
                    usage_start=at,
                    usage_end=at,
                    amount=D("1.50"),
                    billed_at=at,
                )
        except Exception as exc:  # collected
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    coupon.asset.refresh_from_db()
    assert coupon.asset.remaining == D("0.00")  # 24 x 1.50 = 36.00 > 20.00
    assert sum(d.amount for d in Deduction.objects.filter(asset=coupon.asset)) == D(
        "20.00"
    )
    assert find_discrepancies() == []


def test_issuance_is_set_wise_whatever_the_count(make_pool, enterprise, owner):
    """Issuing 2 or 200 coupons sends the same number of statements; each
    coupon is funded, shared with both members and tied to its accounts."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    manager, m1, m2 = enterprise
    pool = make_pool("1000.00")

    def issue(count):
        with CaptureQueriesContext(connection) as queries:
            coupons = issue_coupons(
                pool=pool,
                accounts=[manager, m1, m2],
                count=count,
                face_value=D("2.00"),
                actor=owner,
            )
        return coupons, len(queries.captured_queries)

    issue(1)  # the user's groups are read once and cached on it
    _few, few_statements = issue(2)
    many, many_statements = issue(200)
    assert many_statements == few_statements
    assert len(many) == 200
    last = many[-1]
    last.asset.refresh_from_db()
    assert (last.asset.remaining, last.asset.status) == (D("2.00"), "active")
    assert sorted(last.asset.periods.values_list("recipient", flat=True)) == sorted(
        [m1.pk, m2.pk]
    )
    assert set(last.accounts.values_list("pk", flat=True)) == {
        manager.pk,
        m1.pk,
        m2.pk,
    }
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("594.00"), D("406.00"))
    assert find_discrepancies() == []
