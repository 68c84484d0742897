"""Issue 11's flow in a real browser: the CBM requests a coupon credit pool, an
operator approves it in Contracts, and the management account's administrator
issues coupons to two members from the Contracts view."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.ledger import find_discrepancies
from coupons.models import Coupon, CreditPool
from tests.e2e.test_portal_browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def switch_user(page, base, username):
    page.context.clear_cookies()
    log_in(page, base, username)


def test_cbm_requests_operator_approves_administrator_issues(
    live_server, page, company, operator, owner, request
):
    # The pools' fixtures (tests/coupon_fixtures.py).
    request.getfixturevalue("company_cbm")
    _manager, m1, m2 = request.getfixturevalue("enterprise")
    base = live_server.url

    log_in(page, base, "cbm-acme")
    page.goto(f"{base}/admin/accounts/contract/")
    page.locator("#pool-section").get_by_role(
        "link", name="Request a coupon credit pool"
    ).click()
    expect(page.locator("h1")).to_have_text("Request a coupon credit pool")
    expect(page.locator("#id_company")).to_contain_text("management account Manager")
    page.fill("#id_amount", "2000.00")
    page.get_by_role("button", name="Review the request").click()
    expect(page.locator("#request-summary")).to_contain_text("2000.00 CNY")
    page.get_by_role("button", name="Yes, send the request").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "waiting for an operator's approval"
    )
    pool = CreditPool.objects.get()
    assert pool.status == "requested"

    switch_user(page, base, "op")
    page.goto(f"{base}/admin/accounts/contract/")
    waiting = page.locator("#pools-waiting")
    expect(waiting).to_contain_text("2000.00 CNY")
    waiting.get_by_role("link", name="Approve").click()
    expect(page.locator("#content-main")).to_contain_text("Approve this pool?")
    page.get_by_role("button", name="Yes, approve the pool").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Pool #{pool.pk} approved: 2000.00 CNY can now be issued"
    )

    switch_user(page, base, "owner")
    page.goto(f"{base}/admin/accounts/contract/")
    granted = page.locator("#pools-granted")
    expect(granted).to_contain_text("2000.00")
    granted.get_by_role("link", name="Issue coupons").click()
    expect(page.locator("#scope-note")).to_have_text(
        "Set by your business manager; request another pool for another scope."
    )
    page.get_by_label(f"Member 1 ({m1.uid})").check()
    page.get_by_label(f"Member 2 ({m2.uid})").check()
    page.fill("#id_count", "2")
    page.fill("#id_face_value", "150.00")
    page.get_by_role("button", name="Review the coupons").click()
    expect(page.locator("#issue-summary")).to_contain_text("1700.00 CNY")
    page.get_by_role("button", name="Yes, issue the coupons").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Issued 2 coupons of 150.00 CNY each"
    )
    expect(page.locator("#coupons")).to_contain_text("2 coupons issued from this pool")

    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (
        Decimal("1700.00"),
        Decimal("300.00"),
    )
    assert Coupon.objects.count() == 2
    for coupon in Coupon.objects.all():
        assert set(coupon.accounts.all()) == {m1, m2}
    assert find_discrepancies() == []
