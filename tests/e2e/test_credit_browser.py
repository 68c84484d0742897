"""Issue 5's promise in a real browser: an owner sets a first credit limit, sees
it pending, confirms the contract in Contracts, and the limit is active with
exactly one SMS, sent after commit."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts import services
from billing_portal.models import Notification
from billing_portal.sms import MemorySender
from tests.e2e.test_portal_browser import log_in, open_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_limit_is_pending_until_the_owner_confirms_the_contract(
    live_server, page, portal
):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=Decimal("5000.00"),
        actor=portal.operator,
    )
    MemorySender.outbox.clear()
    base = live_server.url
    log_in(page, base, "owner")
    open_account(page, base, "Acme Main")
    page.locator("#credit").get_by_role("link", name="Set credit limit").click()
    expect(page.locator("h1")).to_have_text("Set credit limit")
    page.fill("#id_amount", "1200.00")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("h1")).to_have_text("Confirm credit limit")
    page.get_by_role("button", name="Yes, set the limit").click()

    expect(page.locator(".messagelist")).to_contain_text("is pending")
    credit = page.locator("#credit")
    expect(credit).to_contain_text("Pending credit limit")
    expect(credit).to_contain_text("1200.00")
    portal.a_main.refresh_from_db()
    assert portal.a_main.credit_limit == Decimal("0.00")
    assert not Notification.objects.filter(channel="sms").exists()

    page.goto(f"{base}/admin/accounts/contract/")
    expect(page.locator("h1")).to_have_text("Contracts")
    page.locator("#result_list tbody a").first.click()
    page.get_by_role("link", name="Confirm contract").click()
    expect(page.locator(".portal-compare")).to_contain_text("1200.00 CNY")
    page.get_by_role("button", name="Yes, I confirm the contract").click()
    expect(page.locator(".messagelist")).to_contain_text("is in effect")

    portal.a_main.refresh_from_db()
    assert portal.a_main.credit_limit == Decimal("1200.00")
    sms = Notification.objects.filter(channel="sms")
    assert list(sms.values_list("to", "template", "status")) == [
        (portal.a_main.mobile, "credit_limit_changed", "sent")
    ]
    assert [m["params"]["limit"] for m in MemorySender.outbox] == ["1200.00"]
