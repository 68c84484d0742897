"""The enterprise administrator in a real browser, in English and in Chinese:
login, the account page, a transfer through its review page (select2 picker),
then its revocation through the revocation's review page, the balances shown
after each; a refused transfer.

The same ``portal`` world as the admin tests (tests/accounts/conftest_admin.py);
committed rows (``transaction=True``) so that the live server's thread sees them.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Movement, Posting, TransferPair
from tests.e2e.browser import (
    LANGUAGES,
    check_page,
    log_in,
    no_results,
    pick,
    say,
)

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def open_account(page, base, name):
    page.goto(f"{base}/admin/accounts/account/")
    page.locator("#result_list").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#balances")).to_be_visible()


def cells(page, selector):
    return page.locator(selector).all_inner_texts()


def compare_rows(page):
    """The review page's before/after table: the cells of its four rows."""
    expect(page.locator(".portal-compare tbody tr")).to_have_count(4)
    return [
        cells(page, f".portal-compare tbody tr:nth-child({i}) td") for i in (1, 2, 3, 4)
    ]


def balances(page):
    """The account page's balances panel: label → amount."""
    rows = page.locator("#balances tr")
    return {
        row.locator("td").first.inner_text().strip(): row.locator("td.num").inner_text()
        for row in rows.all()
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_owner_transfers_then_revokes_through_the_review_pages(
    live_server, page, portal, lang
):
    base = live_server.url
    log_in(page, base, "owner", lang)

    open_account(page, base, "Acme Dev")
    check_page(page, lang)
    expect(page.locator("#balances tr").first).to_contain_text("350.00")
    transferable = page.locator("#transferable")
    expect(transferable.locator("h2")).to_have_text(say(lang, "Transferable", "可划拨"))
    expect(transferable.locator(".portal-big")).to_have_text("50.00 CNY")
    expect(transferable).to_contain_text(
        say(
            lang,
            "300.00 of your 350.00 arrived by transfer and can only be spent",
            "您的 350.00 中有 300.00 来自划拨，只能消费",
        )
    )
    expect(transferable).to_contain_text(
        say(
            lang,
            "Billed charges of 20.00 not yet paid lower the available balance "
            "to 330.00.",
            "已出账未结清的费用 20.00 使可用余额降至 330.00。",
        )
    )

    transferable.get_by_role(
        "link", name=say(lang, "Transfer funds", "划拨资金")
    ).click()
    expect(page.locator("h1")).to_have_text(say(lang, "Transfer funds", "划拨资金"))
    check_page(page, lang)
    pick(page, "Acme Main")
    # Another company's accounts are never offered.
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Globex")
    expect(page.locator(".select2-results__option")).to_have_text([no_results(lang)])
    page.keyboard.press("Escape")
    expect(page.locator(".select2-selection__rendered")).to_contain_text("Acme Main")
    page.fill("#id_amount", "30.00")
    page.get_by_role("button", name=say(lang, "Review transfer", "核对划拨")).click()

    expect(page.locator("h1")).to_have_text(say(lang, "Confirm transfer", "确认划拨"))
    check_page(page, lang)
    assert compare_rows(page) == [
        ["Acme Dev (1000000000000102)", "350.00", "300.00", "20.00", "330.00"],
        ["Acme Dev (1000000000000102)", "320.00", "300.00", "20.00", "300.00"],
        ["Acme Main (1000000000000101)", "600.00", "0.00", "0.00", "600.00"],
        ["Acme Main (1000000000000101)", "630.00", "30.00", "0.00", "630.00"],
    ]
    assert Movement.objects.filter(kind="transfer", account=portal.a_dev).count() == 0

    page.get_by_role(
        "button", name=say(lang, "Yes, transfer the funds", "是的，划拨资金")
    ).click()
    expect(page.locator(".messagelist .success")).to_have_text(
        say(
            lang,
            "Transferred 30.00 CNY to Acme Main (1000000000000101).",
            "已向 Acme Main (1000000000000101) 划拨 30.00 CNY。",
        )
    )
    check_page(page, lang)
    cash, own, moved_in, uncleared, _limit, available = (
        say(lang, "Cash balance", "现金余额"),
        say(lang, "of which own funds", "其中自有资金"),
        say(lang, "of which transferred in", "其中划入资金"),
        say(lang, "Uncleared (billed, not yet paid)", "未结清（已出账未支付）"),
        say(lang, "Credit limit", "信用额度"),
        say(lang, "Available balance", "可用余额"),
    )
    shown = balances(page)
    assert [shown[k] for k in (cash, own, moved_in, uncleared, available)] == [
        "320.00",
        "20.00",
        "300.00",
        "20.00",
        "300.00",
    ]
    expect(page.locator("#transferable .portal-big")).to_have_text("20.00 CNY")
    outgoing = page.locator("#outgoing tbody tr")
    expect(outgoing).to_have_count(1)
    assert outgoing.locator("td").all_inner_texts()[:3] == [
        "Acme Main (1000000000000101)",
        "30.00",
        "30.00",
    ]

    # Take 10.00 back through the revocation's own review page.
    outgoing.get_by_role("link", name=say(lang, "Revoke", "收回")).click()
    expect(page.locator("h1")).to_have_text(say(lang, "Revoke funds", "收回资金"))
    check_page(page, lang)
    expect(page.locator(".portal-panel .portal-big")).to_have_text("30.00 CNY")
    page.fill("#id_amount", "10.00")
    page.get_by_role("button", name=say(lang, "Review revocation", "核对收回")).click()

    expect(page.locator("h1")).to_have_text(say(lang, "Confirm revocation", "确认收回"))
    check_page(page, lang)
    assert compare_rows(page) == [
        ["Acme Dev (1000000000000102)", "320.00", "300.00", "20.00", "300.00"],
        ["Acme Dev (1000000000000102)", "330.00", "300.00", "20.00", "310.00"],
        ["Acme Main (1000000000000101)", "630.00", "30.00", "0.00", "630.00"],
        ["Acme Main (1000000000000101)", "620.00", "20.00", "0.00", "620.00"],
    ]
    assert Movement.objects.filter(kind="revocation").count() == 0
    page.get_by_role(
        "button", name=say(lang, "Yes, take the funds back", "是的，收回资金")
    ).click()

    expect(page.locator(".messagelist .success")).to_have_text(
        say(
            lang,
            "Took back 10.00 CNY from Acme Main (1000000000000101).",
            "已从 Acme Main (1000000000000101) 收回 10.00 CNY。",
        )
    )
    check_page(page, lang)
    shown = balances(page)
    assert [shown[k] for k in (cash, own, moved_in, uncleared, available)] == [
        "330.00",
        "30.00",
        "300.00",
        "20.00",
        "310.00",
    ]
    expect(page.locator("#transferable .portal-big")).to_have_text("30.00 CNY")
    assert page.locator("#outgoing tbody tr td").all_inner_texts()[:3] == [
        "Acme Main (1000000000000101)",
        "20.00",
        "20.00",
    ]

    portal.refresh()
    assert (portal.a_dev.own_cash, portal.a_dev.transferred_in_balance) == (
        D("30.00"),
        D("300.00"),
    )
    assert (portal.a_main.own_cash, portal.a_main.transferred_in_balance) == (
        D("600.00"),
        D("20.00"),
    )
    pair = TransferPair.objects.get(source=portal.a_dev, destination=portal.a_main)
    assert pair.remaining_revocable == D("20.00")
    movement = Movement.objects.get(kind="transfer", account=portal.a_dev)
    assert (movement.amount, movement.actor) == (D("30.00"), portal.owner)
    revocation = Movement.objects.get(kind="revocation")
    assert (revocation.amount, revocation.actor) == (D("10.00"), portal.owner)


def test_refused_transfer_shows_the_reason_and_moves_nothing(live_server, page, portal):
    base = live_server.url
    log_in(page, base, "owner")
    open_account(page, base, "Acme Dev")
    page.locator("#transferable").get_by_role("link", name="Transfer funds").click()
    pick(page, "Acme Main")
    page.fill("#id_amount", "60.00")
    movements, postings = Movement.objects.count(), Posting.objects.count()

    page.get_by_role("button", name="Review transfer").click()
    expect(page.locator("h2.portal-warn")).to_have_text(
        "The transfer cannot be made. Nothing was moved."
    )
    # The sentence alone on screen (issue 12); its code rides along unseen.
    expect(page.locator("ul.refusal li")).to_have_text(
        ["60.00 is more than the 50.00 that account 1000000000000102 can transfer."]
    )
    expect(page.locator("ul.refusal li").first).to_have_attribute(
        "data-reason", "exceeds_transferable"
    )
    expect(page.locator(".portal-compare")).to_have_count(0)
    assert (Movement.objects.count(), Posting.objects.count()) == (movements, postings)
    portal.refresh()
    assert portal.a_dev.cash_balance == D("350.00")
    assert portal.a_main.cash_balance == D("600.00")
