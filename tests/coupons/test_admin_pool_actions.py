"""Coupon screens offer Issue and Revoke only when they can succeed: greyed
with the coupons services' own sentence otherwise (issue 12)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from billing_portal.errors import CouponPoolRefused
from coupons.models import CreditPool
from coupons.services import issue_coupons, revoke_coupon
from sharing.services import record_usage
from tests.accounts.conftest_admin import disabled_button, parse
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
D = Decimal


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def pool_page(client, user, pool, **headers):
    client.force_login(user)
    return client.get(url("coupons_creditpool_change", pool.pk), **headers)


def issue_refusal(pool, enterprise, owner):
    manager = enterprise[0]
    with pytest.raises(CouponPoolRefused) as refused:
        issue_coupons(
            pool=pool, accounts=[manager], count=1, face_value=D("1.00"), actor=owner
        )
    return refused.value.reasons[0]


def test_a_pool_with_nothing_left_offers_no_issue(client, make_pool, enterprise, owner):
    pool = make_pool("100.00")
    issue_coupons(
        pool=pool,
        accounts=[enterprise[0]],
        count=2,
        face_value=D("50.00"),
        actor=owner,
    )
    pool.refresh_from_db()

    page = pool_page(client, owner, pool)

    assert url("coupons_creditpool_issue", pool.pk) not in page.content.decode()
    greyed = disabled_button(parse(page).find(id="issue-action"), "Issue coupons")
    assert greyed["lead"] == "No coupons can be issued from this pool now:"
    assert greyed["reasons"] == [
        f"Nothing is left in coupon credit pool {pool.pk}: all of its 100.00 CNY "
        "has been issued."
    ]
    refusal = issue_refusal(pool, enterprise, owner)
    assert refusal.code == "exceeds_pool_remaining"
    # The issue page typed by hand says the same and offers no form.
    form = client.get(url("coupons_creditpool_issue", pool.pk))
    assert greyed["reasons"][0] in parse(form).text
    assert parse(form).find("input", name="count") is None


def test_a_pool_past_its_validity_offers_no_issue_and_says_the_services_reason(
    client, make_pool, enterprise, owner
):
    pool = make_pool("100.00")
    # Approved, but its window has ended (before the sweep marks it expired).
    CreditPool.objects.filter(pk=pool.pk).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    pool.refresh_from_db()

    page = pool_page(client, owner, pool)

    refusal = issue_refusal(pool, enterprise, owner)
    assert refusal.code == "pool_not_active"
    greyed = disabled_button(parse(page).find(id="issue-action"), "Issue coupons")
    assert greyed["reasons"] == [refusal.message]
    tools = parse(page).with_class("object-tools")[0]
    assert disabled_button(tools, "Issue coupons")["title"] == (
        f"No coupons can be issued from this pool now: {refusal.message}"
    )
    # And in the Contracts view's pool section.
    client.force_login(owner)
    contracts = client.get(url("accounts_contract_changelist"))
    section = parse(contracts).find("table", id="pools-granted")
    assert disabled_button(section, "Issue coupons")["reasons"] == [refusal.message]


def test_the_issue_button_speaks_chinese(client, make_pool, enterprise, owner):
    pool = make_pool("100.00")
    CreditPool.objects.filter(pk=pool.pk).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )

    with translation.override("en"):  # not left active for later tests
        page = pool_page(client, owner, pool, HTTP_ACCEPT_LANGUAGE="zh-hans")

    greyed = disabled_button(parse(page).find(id="issue-action"), "发放代金券")
    assert greyed["lead"] == "该额度池当前不能发放代金券："
    assert greyed["reasons"][0].startswith(f"代金券额度池 {pool.pk} 当前未获批准")


def test_a_read_only_user_is_told_who_issues(client, make_pool, enterprise, grant):
    pool = make_pool("100.00")
    viewer = UserFactory(username="viewer")
    grant(viewer, enterprise[0], "use")

    page = pool_page(client, viewer, pool)

    assert "Issue coupons" not in page.content.decode()
    note = parse(page).find("p", id="issue-note")
    assert note.text == (
        "Only the owner or manage administrators of Manager, the enterprise "
        "management account, issue coupons from this pool; your access here is "
        "read-only."
    )


def test_a_used_up_coupon_offers_no_revoke(client, make_pool, enterprise, owner):
    manager = enterprise[0]
    pool = make_pool("100.00")
    (coupon,) = issue_coupons(
        pool=pool, accounts=[manager], count=1, face_value=D("5.00"), actor=owner
    )
    now = timezone.now()
    record_usage(
        external_id="all-of-it",
        account=manager,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=now,
        usage_end=now + timedelta(minutes=5),
        amount=D("5.00"),
        billed_at=now + timedelta(hours=1),
    )
    coupon.asset.refresh_from_db()
    assert coupon.asset.remaining == D("0.00")
    client.force_login(owner)

    page = client.get(url("coupons_coupon_change", coupon.pk))

    revoke = url("coupons_coupon_revoke", coupon.pk)
    assert revoke not in page.content.decode()
    with pytest.raises(CouponPoolRefused) as refused:
        revoke_coupon(coupon=coupon, actor=owner)
    sentence = refused.value.reasons[0].message
    assert sentence == (
        f"Coupon {coupon.pk} has no remaining value to revoke: its face value was "
        "all deducted."
    )
    why = parse(page).find("div", id="revoke-why")
    assert [li.text for li in why.find_all("li")] == [sentence]
    tools = parse(page).with_class("object-tools")[0]
    assert disabled_button(tools, "Revoke the remaining value")["title"] == sentence
