"""The admin shows the services' refusals before any review page, and the account
page offers only what the same refusal selectors allow (findings 2026-11-28
items 3, 4 and 11)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import Company, Contract, CreditLimitChange, Movement
from billing_portal.errors import CreditControlRefused, TransferRefused, reason
from tests.accounts.conftest_admin import (
    disabled_button,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
    refusal_items,
    with_code,
)
from tests.factories import AccountFactory, CompanyFactory

D = Decimal
AVAILABLE = "Self-service transfer and credit control are available."


def account_url(view, account):
    return reverse(f"admin:accounts_account_{view}", args=[account.pk])


def links(response):
    return {a.attrs.get("href") for a in parse(response).find_all("a")}


def has_confirmation(response) -> bool:
    return any(
        i.attrs.get("name") == "confirmation_token"
        for i in parse(response).find_all("input")
    )


def section(response, section_id):
    return parse(response).find("section", id=section_id)


def written():
    return (
        Movement.objects.count(),
        Contract.objects.count(),
        CreditLimitChange.objects.count(),
    )


@pytest.fixture
def quota(portal):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=D("1000.00"),
        actor=portal.operator,
    )
    return portal


@pytest.fixture
def unverified(portal, grant, fund):
    """An account of an unverified company, with money, owned by ``owner``."""
    initech = CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )
    account = AccountFactory(uid="3000000000000001", name="Initech", company=initech)
    AccountFactory(company=initech, name="Initech Two")
    grant(portal.owner, account)
    fund(account, "40.00")
    return account


def refusal_text(code, **params):
    why = reason(code, **params)
    return f"{why.message} {why.code}"


# --- item 3: refusals before the review page ----------------------------------


def test_a_limit_above_the_maximum_is_refused_before_any_review(client, quota):
    portal = quota
    client.force_login(portal.owner)
    before = written()

    response = client.post(
        account_url("credit_limit", portal.a_dev), {"amount": "999999.00"}
    )

    assert response.status_code == 200
    assert response.templates[0].name == (
        "admin/accounts/account/credit_limit_form.html"
    )
    assert not has_confirmation(response)
    text = parse(response).text
    assert "The limit was not changed." in text
    assert "Confirm credit limit" not in text
    assert "After the contract is confirmed" not in text
    assert refusal_items(response) == [
        refusal_text(
            "exceeds_max_allocatable",
            account=portal.a_dev.uid,
            amount="999999.00",
            limit="1000.00",
            quota="1000.00",
            allocated="0.00",
        )
    ]
    assert (
        "999999.00 is more than the 1000.00 the company can still allocate to "
        "account 1000000000000102" in text
    )
    assert written() == before


def test_a_limit_below_the_credit_in_use_is_refused_before_any_review(
    client, quota, charge
):
    portal = quota
    charge(portal.a_dev, "400.00")  # uncleared 420.00, cash 350.00: 70.00 in use
    client.force_login(portal.owner)

    response = client.post(account_url("credit_limit", portal.a_dev), {"amount": "50"})

    assert not has_confirmation(response)
    assert refusal_items(response) == [
        refusal_text(
            "below_min_allocatable",
            account=portal.a_dev.uid,
            amount="50.00",
            limit="70.00",
        )
    ]


def test_an_unverified_company_gets_no_limit_form_and_no_review(
    client, portal, unverified
):
    client.force_login(portal.owner)
    target = account_url("credit_limit", unverified)
    expected = [refusal_text("company_not_verified", account=unverified.uid)]

    page = client.get(target)
    assert page.status_code == 200
    assert "The credit limit cannot be changed now." in parse(page).text
    assert refusal_items(page) == expected
    assert parse(page).find("input", name="amount") is None

    before = written()
    response = client.post(target, {"amount": "100.00"})
    assert not has_confirmation(response)
    assert "The credit limit cannot be changed now." in parse(response).text
    assert "After the contract is confirmed" not in parse(response).text
    assert refusal_items(response) == expected
    assert written() == before


def test_a_pending_contract_hides_the_limit_form(client, quota):
    portal = quota
    _state, contract = services.set_credit_limit(
        account=portal.a_main, amount=D("100.00"), actor=portal.owner
    )
    client.force_login(portal.manager)
    target = account_url("credit_limit", portal.a_main)

    page = client.get(target)

    assert refusal_items(page) == [
        refusal_text("contract_pending", account=portal.a_main.uid)
    ]
    assert parse(page).find("input", name="amount") is None
    assert reverse("admin:accounts_contract_change", args=[contract.pk]) in links(page)
    response = client.post(target, {"amount": "200.00"})
    assert not has_confirmation(response)
    assert [i.rsplit(" ", 1)[1] for i in refusal_items(response)] == [
        "contract_pending"
    ]


def test_a_contract_the_quota_no_longer_covers_shows_the_refusal_not_the_yes(
    client, quota
):
    portal = quota
    _state, contract = services.set_credit_limit(
        account=portal.a_dev, amount=D("400.00"), actor=portal.owner
    )
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=D("100.00"),
        actor=portal.operator,
    )
    client.force_login(portal.owner)

    page = client.get(reverse("admin:accounts_contract_confirm", args=[contract.pk]))

    assert page.status_code == 200
    assert not has_confirmation(page)
    assert "The contract could not be confirmed. Nothing changed." in parse(page).text
    assert refusal_items(page) == [
        refusal_text(
            "exceeds_max_allocatable",
            account=portal.a_dev.uid,
            amount="400.00",
            limit="100.00",
            quota="100.00",
            allocated="0.00",
        )
    ]


def test_an_access_request_that_cannot_be_made_shows_why_and_no_send(client, portal):
    client.force_login(portal.owner)

    page = client.get(account_url("request_access", portal.a_main))

    assert page.status_code == 200
    assert [i.rsplit(" ", 1)[1] for i in refusal_items(page)] == ["not_disabled"]
    assert not has_confirmation(page)


# --- item 4: the account page from the same selectors -----------------------------


def test_unverified_company_page_offers_no_transfer_or_limit_and_says_why(
    client, portal, unverified
):
    client.force_login(portal.owner)

    response = client.get(account_url("change", unverified))

    assert response.status_code == 200
    transferable = section(response, "transferable")
    assert transferable.with_class("portal-big")[0].text == "0.00 CNY"
    why = reason("company_not_verified", account=unverified.uid).message
    assert why in transferable.text
    panel = section(response, "disabled")
    assert AVAILABLE not in response.content.decode()
    assert "Not available now:" in panel.text
    assert [with_code(li) for li in panel.find_all("li")] == [
        f"{why} company_not_verified"
    ]
    hrefs = links(response)
    assert account_url("transfer", unverified) not in hrefs
    assert account_url("credit_limit", unverified) not in hrefs
    # Offered greyed, with the rule's sentence: the one the services refuse with.
    transfer = disabled_button(transferable, "Transfer funds")
    assert transfer["lead"] == "Nothing can be transferred:"
    assert transfer["reasons"] == [why]
    assert transfer["title"] == f"Nothing can be transferred: {why}"
    limit = disabled_button(section(response, "credit"), "Set credit limit")
    assert limit["lead"] == "The credit limit cannot be changed now:"
    assert limit["reasons"] == [why]
    with pytest.raises(CreditControlRefused) as refused:
        services.set_credit_limit(
            account=unverified, amount=D("10.00"), actor=portal.owner
        )
    assert refused.value.reasons[0].message == why


def test_verified_account_page_offers_transfer_and_limit(client, quota):
    portal = quota
    client.force_login(portal.owner)

    response = client.get(account_url("change", portal.a_main))

    panel = section(response, "disabled")
    assert AVAILABLE in panel.text
    assert "Not available now:" not in panel.text
    hrefs = links(response)
    assert account_url("transfer", portal.a_main) in hrefs
    assert account_url("credit_limit", portal.a_main) in hrefs
    assert parse(response).find("p", id="read-only") is None


def test_pending_contract_page_offers_transfer_but_not_a_new_limit(client, quota):
    portal = quota
    services.set_credit_limit(
        account=portal.a_main, amount=D("100.00"), actor=portal.owner
    )
    client.force_login(portal.owner)

    response = client.get(account_url("change", portal.a_main))

    hrefs = links(response)
    assert account_url("credit_limit", portal.a_main) not in hrefs
    assert account_url("transfer", portal.a_main) in hrefs
    panel = section(response, "disabled")
    assert AVAILABLE not in panel.text
    assert [with_code(li) for li in panel.find_all("li")] == [
        refusal_text("contract_pending", account=portal.a_main.uid)
    ]
    # No form while the contract waits: the button says why and leads to it.
    contract = Contract.objects.get(account=portal.a_main, status="pending")
    limit = disabled_button(section(response, "credit"), "Set credit limit")
    pending = reason("contract_pending", account=portal.a_main.uid).message
    assert limit["reasons"] == [pending]
    assert limit["links"] == [
        reverse("admin:accounts_contract_change", args=[contract.pk])
    ]
    assert f"Open contract #{contract.pk}" in section(response, "credit").text
    with pytest.raises(CreditControlRefused) as refused:
        services.set_credit_limit(
            account=portal.a_main, amount=D("50.00"), actor=portal.owner
        )
    assert [r.message for r in refused.value.reasons] == limit["reasons"]


def test_partner_paid_account_page_offers_only_the_access_request(client, quota):
    portal = quota
    services.update_account(
        account=portal.a_main,
        actor=portal.operator,
        partner_name="P Co",
        partner_mode="pay_on_behalf",
    )
    client.force_login(portal.owner)

    response = client.get(account_url("change", portal.a_main))

    hrefs = links(response)
    assert account_url("transfer", portal.a_main) not in hrefs
    assert account_url("credit_limit", portal.a_main) not in hrefs
    assert account_url("request_access", portal.a_main) in hrefs
    panel = section(response, "disabled")
    assert AVAILABLE not in panel.text
    assert (
        "Self-service transfer and credit control are disabled for this account."
        in panel.text
    )
    assert section(response, "transferable").with_class("portal-big")[0].text == (
        "0.00 CNY"
    )


def test_overdue_account_page_offers_no_transfer_and_says_why(client, quota, charge):
    portal = quota
    charge(portal.a_dev, "400.00")  # available -70.00
    client.force_login(portal.owner)

    response = client.get(account_url("change", portal.a_dev))

    assert account_url("transfer", portal.a_dev) not in links(response)
    panel = section(response, "disabled")
    assert AVAILABLE not in panel.text
    assert [with_code(li) for li in panel.find_all("li")] == [
        refusal_text("source_overdue", account=portal.a_dev.uid, available="-70.00")
    ]
    # The disabled button's reason is the transfer service's own refusal.
    transfer = disabled_button(section(response, "transferable"), "Transfer funds")
    with pytest.raises(TransferRefused) as refused:
        services.transfer_balance(
            source=portal.a_dev,
            destination=portal.a_main,
            amount=D("1.00"),
            actor=portal.owner,
        )
    assert transfer["reasons"] == [refused.value.reasons[0].message]
    assert transfer["reasons"] == [
        "Account 1000000000000102 has an overdue payment (available balance "
        "-70.00); settle it before transferring funds."
    ]


def test_transfer_is_disabled_when_only_transferred_in_funds_are_held(client, portal):
    client.force_login(portal.operator)

    response = client.get(account_url("change", portal.a_hidden))

    transferable = section(response, "transferable")
    assert transferable.with_class("portal-big")[0].text == "0.00 CNY"
    assert account_url("transfer", portal.a_hidden) not in links(response)
    transfer = disabled_button(transferable, "Transfer funds")
    assert transfer["lead"] == "Nothing can be transferred:"
    assert transfer["reasons"] == [
        "Account 1000000000000104 can transfer 0.00 now: the smaller of its own "
        "funds (0.00) and its available balance (100.00)."
    ]
    tool = disabled_button(
        parse(response).with_class("object-tools")[0], "Transfer funds"
    )
    assert tool is not None  # the object tool is greyed too, never a link
    # The transfer page itself says the same and offers no form.
    page = client.get(account_url("transfer", portal.a_hidden))
    assert [li.text for li in parse(page).with_class("refusal")[0].find_all("li")] == (
        transfer["reasons"]
    )
    assert parse(page).find("input", name="amount") is None
    # Any amount is the service's exceeds_transferable (0.00 transferable).
    with pytest.raises(TransferRefused) as refused:
        services.transfer_balance(
            source=portal.a_hidden,
            destination=portal.a_main,
            amount=D("0.01"),
            actor=portal.operator,
        )
    assert [r.code for r in refused.value.reasons] == ["exceeds_transferable"]


def test_the_transfer_page_in_chinese_says_why_nothing_can_be_transferred(
    client, portal
):
    client.force_login(portal.operator)

    with translation.override("en"):  # not left active for later tests
        response = client.get(
            account_url("change", portal.a_hidden), HTTP_ACCEPT_LANGUAGE="zh-hans"
        )

    transfer = disabled_button(section(response, "transferable"), "划拨资金")
    assert transfer["lead"] == "无法划拨任何资金："
    assert transfer["reasons"] == [
        "账号 1000000000000104 现在可划拨 0.00：即其自有资金（0.00）与可用余额"
        "（100.00）中较小者。"
    ]


def test_read_only_users_are_told_so(client, portal):
    client.force_login(portal.viewer)

    response = client.get(account_url("change", portal.a_main))

    note = parse(response).find("p", id="read-only")
    assert note is not None
    assert "read-only" in note.text
    hrefs = links(response)
    assert account_url("transfer", portal.a_main) not in hrefs
    assert account_url("credit_limit", portal.a_main) not in hrefs
