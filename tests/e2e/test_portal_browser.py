"""A customer in a real browser: login, account page, transfer via select2.

The same ``portal`` world as the admin tests (tests/accounts/conftest_admin.py);
committed rows (``transaction=True``) so that the live server's thread sees them.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Movement, Posting, TransferPair

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
PASSWORD = "pass-word-123"  # tests/factories.py UserFactory


def log_in(page, base, username):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools strong")).to_have_text(username)


def open_account(page, base, name):
    page.goto(f"{base}/admin/accounts/account/")
    page.locator("#result_list").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#balances")).to_be_visible()


def choose_destination(page, text):
    """Pick the destination through the select2 autocomplete (targets view)."""
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill(text)
    option = page.locator(".select2-results__option", has_text=text)
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator(".select2-selection__rendered")).to_contain_text(text)


def cells(page, selector):
    return page.locator(selector).all_inner_texts()


def test_owner_transfers_funds_through_the_confirmation_page(live_server, page, portal):
    base = live_server.url
    log_in(page, base, "owner")

    open_account(page, base, "Acme Dev")
    expect(page.locator("#balances tr").first).to_contain_text("350.00")
    transferable = page.locator("#transferable")
    expect(transferable.locator(".portal-big")).to_have_text("50.00 CNY")
    expect(transferable).to_contain_text(
        "300.00 of your 350.00 arrived by transfer and can only be spent"
    )
    expect(transferable).to_contain_text(
        "Billed charges of 20.00 not yet paid lower the available balance to 330.00."
    )

    transferable.get_by_role("link", name="Transfer funds").click()
    expect(page.locator("h1")).to_have_text("Transfer funds")
    choose_destination(page, "Acme Main")
    # Another company's accounts are never offered.
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Globex")
    expect(page.locator(".select2-results__option")).to_have_text(["No results found"])
    page.keyboard.press("Escape")
    expect(page.locator(".select2-selection__rendered")).to_contain_text("Acme Main")
    page.fill("#id_amount", "30.00")
    page.get_by_role("button", name="Review transfer").click()

    expect(page.locator("h1")).to_have_text("Confirm transfer")
    rows = page.locator(".portal-compare tbody tr")
    expect(rows).to_have_count(4)
    assert [
        cells(page, f".portal-compare tbody tr:nth-child({i}) td") for i in (1, 2, 3, 4)
    ] == [
        ["Acme Dev (1000000000000102)", "350.00", "300.00", "20.00", "330.00"],
        ["Acme Dev (1000000000000102)", "320.00", "300.00", "20.00", "300.00"],
        ["Acme Main (1000000000000101)", "600.00", "0.00", "0.00", "600.00"],
        ["Acme Main (1000000000000101)", "630.00", "30.00", "0.00", "630.00"],
    ]
    assert Movement.objects.filter(kind="transfer", account=portal.a_dev).count() == 0

    page.get_by_role("button", name="Yes, transfer the funds").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        "Transferred 30.00 CNY to Acme Main (1000000000000101)."
    )
    expect(page.locator("#balances tr").first).to_contain_text("320.00")
    expect(page.locator("#transferable .portal-big")).to_have_text("20.00 CNY")
    expect(page.locator("#outgoing")).to_contain_text("Acme Main (1000000000000101)")

    portal.refresh()
    assert (portal.a_dev.own_cash, portal.a_dev.transferred_in_balance) == (
        D("20.00"),
        D("300.00"),
    )
    assert portal.a_dev.cash_balance == D("320.00")
    assert (portal.a_main.own_cash, portal.a_main.transferred_in_balance) == (
        D("600.00"),
        D("30.00"),
    )
    pair = TransferPair.objects.get(source=portal.a_dev, destination=portal.a_main)
    assert pair.remaining_revocable == D("30.00")
    movement = Movement.objects.get(kind="transfer", account=portal.a_dev)
    assert (movement.amount, movement.actor) == (D("30.00"), portal.owner)


def test_refused_transfer_shows_the_reason_and_moves_nothing(live_server, page, portal):
    base = live_server.url
    log_in(page, base, "owner")
    open_account(page, base, "Acme Dev")
    page.locator("#transferable").get_by_role("link", name="Transfer funds").click()
    choose_destination(page, "Acme Main")
    page.fill("#id_amount", "60.00")
    movements, postings = Movement.objects.count(), Posting.objects.count()

    page.get_by_role("button", name="Review transfer").click()
    expect(page.locator("h2.portal-warn")).to_have_text(
        "The transfer cannot be made. Nothing was moved."
    )
    expect(page.locator("ul.refusal li")).to_have_text(
        [
            "60.00 is more than the 50.00 that account 1000000000000102 can "
            "transfer. exceeds_transferable"
        ]
    )
    expect(page.locator(".portal-compare")).to_have_count(0)
    assert (Movement.objects.count(), Posting.objects.count()) == (movements, postings)
    portal.refresh()
    assert portal.a_dev.cash_balance == D("350.00")
    assert portal.a_main.cash_balance == D("600.00")
