"""Issue 5's promise in a real browser, in English and in Chinese: an owner
sets a first credit limit, sees it pending, confirms the contract in
Contracts, and the limit is active with exactly one SMS, sent after commit."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts import services
from billing_portal.models import Notification
from billing_portal.sms import MemorySender
from tests.e2e.browser import LANGUAGES, check_page, log_in, say, switch_user
from tests.e2e.test_portal_browser import open_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_first_limit_is_pending_until_the_owner_confirms_the_contract(
    live_server, page, portal, lang
):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=Decimal("5000.00"),
        actor=portal.operator,
    )
    MemorySender.outbox.clear()
    base = live_server.url
    log_in(page, base, "owner", lang)
    open_account(page, base, "Acme Main")
    set_limit = say(lang, "Set credit limit", "设置信用额度")
    page.locator("#credit").get_by_role("link", name=set_limit).click()
    expect(page.locator("h1")).to_have_text(set_limit)
    check_page(page, lang)
    page.fill("#id_amount", "1200.00")
    page.get_by_role("button", name=say(lang, "Review", "核对")).click()
    expect(page.locator("h1")).to_have_text(
        say(lang, "Confirm credit limit", "确认信用额度")
    )
    check_page(page, lang)
    page.get_by_role(
        "button", name=say(lang, "Yes, set the limit", "是的，设置额度")
    ).click()

    expect(page.locator(".messagelist")).to_contain_text(
        say(lang, "is pending", "1200.00 CNY 的额度待生效")
    )
    check_page(page, lang)
    credit = page.locator("#credit")
    expect(credit).to_contain_text(
        say(lang, "Pending credit limit", "待生效的信用额度")
    )
    expect(credit).to_contain_text("1200.00")
    portal.a_main.refresh_from_db()
    assert portal.a_main.credit_limit == Decimal("0.00")
    assert not Notification.objects.filter(channel="sms").exists()

    page.goto(f"{base}/admin/accounts/contract/")
    expect(page.locator("h1")).to_have_text(say(lang, "Contracts", "合同"))
    check_page(page, lang)
    pending = page.locator("#result_list tbody tr")
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text(say(lang, "Pending", "等待中"))
    pending.locator("a").first.click()
    check_page(page, lang)
    page.get_by_role("link", name=say(lang, "Confirm contract", "确认合同")).click()
    expect(page.locator("h1")).to_have_text(say(lang, "Confirm contract", "确认合同"))
    check_page(page, lang)
    expect(page.locator(".portal-compare")).to_contain_text("1200.00 CNY")
    page.get_by_role(
        "button",
        name=say(lang, "Yes, I confirm the contract", "是的，我确认此合同"),
    ).click()
    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            "Contract confirmed: the credit limit of 1200.00 CNY is in effect.",
            "合同已确认：1200.00 CNY 的信用额度已生效。",
        )
    )
    check_page(page, lang)
    expect(page.locator("#result_list tbody tr")).to_contain_text(
        say(lang, "Confirmed", "已确认")
    )

    portal.a_main.refresh_from_db()
    assert portal.a_main.credit_limit == Decimal("1200.00")
    sms = Notification.objects.filter(channel="sms")
    assert list(sms.values_list("to", "template", "status")) == [
        (portal.a_main.mobile, "credit_limit_changed", "sent")
    ]
    assert [m["params"]["limit"] for m in MemorySender.outbox] == ["1200.00"]

    # The provider's operator sees the SMS in the outbox, sent.
    switch_user(page, base, "op", lang)
    page.goto(f"{base}/admin/billing_portal/notification/?channel__exact=sms")
    check_page(page, lang)
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    cells = row.locator("td").all_inner_texts()
    assert cells[:2] == [say(lang, "SMS", "短信"), portal.a_main.mobile]
    assert say(lang, "Sent", "已发送") in cells
    expect(row).to_contain_text("1200.00 CNY")
