"""Credit control in the admin: Contracts view, limit form, access requests."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import AccessException, AccessRequest, Contract
from billing_portal import roles
from billing_portal.errors import ActionForbidden
from billing_portal.models import Notification
from billing_portal.timezones import format_instant
from tests.accounts.conftest_admin import (
    confirmation_fields,
    disabled_button,
    parse,
    review_and_confirm,
)
from tests.factories import AccountFactory, CompanyFactory, UserFactory

D = Decimal


@pytest.fixture
def credit(company, operator, make_account, owner, grant):
    """Acme with a CNY quota; ``owner`` owns Main, ``manager`` manages it; a CBM;
    Globex with its own owner and a pending contract of its own."""
    services.set_credit_quota(
        company=company, currency="CNY", amount=D("1000.00"), actor=operator
    )
    main = make_account(name="Main")
    grant(owner, main, "owner")
    manager = UserFactory(username="manager")
    grant(manager, main, "manage")
    cbm = UserFactory(username="the-cbm")
    cbm.groups.add(roles.ensure_groups()[roles.CBM])
    services.set_business_manager(company=company, user=cbm, actor=operator)
    globex = CompanyFactory(name="Globex")
    services.set_credit_quota(
        company=globex, currency="CNY", amount=D("500.00"), actor=operator
    )
    foreign = AccountFactory(company=globex, name="Globex One")
    foreign_owner = UserFactory(username="globex-owner")
    grant(foreign_owner, foreign, "owner")
    _, foreign_contract = services.set_credit_limit(
        account=foreign, amount=D("100.00"), actor=foreign_owner
    )
    return {
        "main": main,
        "manager": manager,
        "cbm": cbm,
        "owner": owner,
        "operator": operator,
        "foreign_contract": foreign_contract,
    }


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_limit_form_review_confirm_then_contract_confirm(client, credit):
    main, owner = credit["main"], credit["owner"]
    client.force_login(owner)
    form = client.get(url("accounts_account_credit_limit", main.pk))
    assert form.status_code == 200
    assert form.context["bounds"].max_allocatable == D("1000.00")
    review = client.post(
        url("accounts_account_credit_limit", main.pk), {"amount": "400.00"}
    )
    assert (
        review.templates[0].name == "admin/accounts/account/credit_limit_confirm.html"
    )
    assert review.context["available_after"] == D("400.00")
    assert not Contract.objects.filter(account=main).exists()
    done = client.post(
        url("accounts_account_credit_limit", main.pk),
        confirmation_fields(review),
        follow=True,
    )
    contract = Contract.objects.get(account=main)
    assert contract.status == "pending"
    assert contract.limit == D("400.00")
    assert any("is pending" in m for m in messages_of(done))
    main.refresh_from_db()
    assert main.credit_limit == D("0.00")

    listing = client.get(url("accounts_contract_changelist"))
    assert list(listing.context["cl"].result_list) == [contract]
    page = client.get(url("accounts_contract_confirm", contract.pk))
    assert page.status_code == 200
    assert page.context["available_after"] == D("400.00")
    confirmed = client.post(
        url("accounts_contract_confirm", contract.pk),
        confirmation_fields(page),
        follow=True,
        REMOTE_ADDR="203.0.113.9",
    )
    assert any("is in effect" in m for m in messages_of(confirmed))
    contract.refresh_from_db()
    main.refresh_from_db()
    assert (contract.status, contract.confirmed_by, contract.confirmed_from) == (
        "confirmed",
        owner,
        "203.0.113.9",
    )
    assert main.credit_limit == D("400.00")
    assert Notification.objects.filter(channel="sms", account=main).count() == 1
    assert LogEntry.objects.filter(object_id=str(contract.pk)).count() == 1


def test_limit_refusal_is_shown_and_writes_nothing(client, credit):
    client.force_login(credit["owner"])
    page = client.post(
        url("accounts_account_credit_limit", credit["main"].pk),
        {"amount": "1500.00", "confirm": "yes"},
    )
    assert page.status_code == 200
    assert [r.code for r in page.context["refusal"].reasons] == [
        "exceeds_max_allocatable"
    ]
    assert not Contract.objects.filter(account=credit["main"]).exists()


def test_only_an_owner_confirms_and_a_manager_may_withdraw(client, credit):
    _, contract = services.set_credit_limit(
        account=credit["main"], amount=D("300.00"), actor=credit["manager"]
    )
    for user in (credit["manager"], credit["operator"]):
        client.force_login(user)
        assert (
            client.get(url("accounts_contract_confirm", contract.pk)).status_code == 403
        )
        assert (
            client.post(url("accounts_contract_confirm", contract.pk)).status_code
            == 403
        )
    client.force_login(credit["manager"])
    review_and_confirm(client, url("accounts_contract_withdraw", contract.pk))
    contract.refresh_from_db()
    assert contract.status == "withdrawn"
    credit["main"].refresh_from_db()
    assert credit["main"].credit_limit == D("0.00")


def test_another_company_contract_answers_like_a_missing_id(client, credit):
    client.force_login(credit["owner"])
    foreign = credit["foreign_contract"]
    listing = client.get(url("accounts_contract_changelist"))
    assert foreign not in list(listing.context["cl"].result_list)
    for name in (
        "accounts_contract_change",
        "accounts_contract_confirm",
        "accounts_contract_withdraw",
    ):
        theirs = client.get(url(name, foreign.pk), follow=True)
        missing = client.get(url(name, 999999), follow=True)
        assert theirs.redirect_chain == missing.redirect_chain == [(url("index"), 302)]
        assert messages_of(theirs) == [
            m.replace("999999", str(foreign.pk)) for m in messages_of(missing)
        ]
    foreign.refresh_from_db()
    assert foreign.status == "pending"


def test_access_request_cycle_through_the_admin(client, credit):
    main = credit["main"]
    services.update_account(
        account=main,
        actor=credit["operator"],
        partner_name="P Co",
        partner_mode="pay_on_behalf",
    )
    client.force_login(credit["owner"])
    page = client.get(url("accounts_account_change", main.pk))
    assert page.context["disabled_state"].disabled
    assert "P Co" in page.content.decode()
    review_and_confirm(
        client, url("accounts_account_request_access", main.pk), {"message": "pls"}
    )
    request = AccessRequest.objects.get(account=main)
    assert (request.status, request.business_manager, request.message) == (
        "requested",
        credit["cbm"],
        "pls",
    )

    # The owner cannot answer its own request; the CBM can.
    assert (
        client.post(
            url("accounts_accessrequest_decide", request.pk, "grant")
        ).status_code
        == 403
    )
    client.force_login(credit["cbm"])
    page = client.get(url("accounts_accessrequest_change", request.pk))
    assert page.context["can_decide"] is True
    review_and_confirm(
        client, url("accounts_accessrequest_decide", request.pk, "grant")
    )
    exception = AccessException.objects.get(request=request)
    assert exception.end is None
    # The account page names who granted it and when (it was a 500: the
    # list's annotation carries the exception's id only).
    client.force_login(credit["owner"])
    page = client.get(url("accounts_account_change", main.pk))
    assert page.status_code == 200
    assert (
        f"Allowed by an exception granted by {credit['cbm']} on "
        f"{format_instant(exception.start)}, although:"
    ) in page.content.decode()
    client.force_login(credit["cbm"])
    main.refresh_from_db()
    services.set_credit_limit(
        account=main, amount=D("50.00"), actor=credit["owner"]
    )  # allowed again

    review_and_confirm(client, url("accounts_accessexception_revoke", exception.pk))
    exception.refresh_from_db()
    assert exception.revoked_by == credit["cbm"]
    assert exception.end is not None


# --- the Contracts view: "Confirm contract" only for those who can ----------------


def _confirm_cells(response):
    """The Contracts list's rows: (contract id, its Confirmation cell node)."""
    table = parse(response).find("table", id="result_list")
    headers = [th.text for th in table.find("thead").find_all("th")]
    column = headers.index("Confirmation") if "Confirmation" in headers else None
    if column is None:
        column = headers.index("确认")
    assert headers[column - 1] in ("Status", "状态")  # beside the status
    rows = []
    for row in table.find("tbody").find_all("tr"):
        cells = [c for c in row.children if hasattr(c, "tag")]
        rows.append((int(cells[0].text), cells[column]))
    return rows


def test_a_manage_administrator_sees_that_only_owners_confirm(client, credit):
    _, contract = services.set_credit_limit(
        account=credit["main"], amount=D("300.00"), actor=credit["manager"]
    )
    client.force_login(credit["manager"])

    listing = client.get(url("accounts_contract_changelist"))
    page = client.get(url("accounts_contract_change", contract.pk))

    with pytest.raises(ActionForbidden) as forbidden:
        services.confirm_contract(contract=contract, actor=credit["manager"])
    sentence = forbidden.value.reasons[0].message
    assert sentence == (
        f"Only an owner of account {credit['main'].uid} can confirm its credit "
        "control contract."
    )
    confirm_url = url("accounts_contract_confirm", contract.pk)
    for response in (listing, page):
        assert confirm_url not in response.content.decode()
    ((row_id, cell),) = _confirm_cells(listing)
    assert row_id == contract.pk
    greyed = disabled_button(cell, "Confirm contract")
    assert greyed["reasons"] == [sentence]
    assert disabled_button(parse(page), "Confirm contract")["title"] == sentence
    why = parse(page).find("div", id="confirm-why")
    assert [li.text for li in why.find_all("li")] == [sentence]
    # Withdrawing stays theirs.
    assert url("accounts_contract_withdraw", contract.pk) in page.content.decode()


def test_the_owner_gets_the_confirm_link_in_the_list_and_on_the_page(client, credit):
    _, contract = services.set_credit_limit(
        account=credit["main"], amount=D("300.00"), actor=credit["manager"]
    )
    client.force_login(credit["owner"])

    listing = client.get(url("accounts_contract_changelist"))
    page = client.get(url("accounts_contract_change", contract.pk))

    confirm_url = url("accounts_contract_confirm", contract.pk)
    ((_row_id, cell),) = _confirm_cells(listing)
    assert [a.attrs["href"] for a in cell.find_all("a")] == [confirm_url]
    assert cell.text == "Confirm contract"
    tools = parse(page).with_class("object-tools")[0]
    assert confirm_url in [a.attrs["href"] for a in tools.find_all("a")]
    assert parse(page).find("div", id="confirm-why") is None


def test_the_contracts_view_in_chinese_says_only_owners_confirm(client, credit):
    services.set_credit_limit(
        account=credit["main"], amount=D("300.00"), actor=credit["manager"]
    )
    client.force_login(credit["manager"])

    with translation.override("en"):  # not left active for later tests
        listing = client.get(
            url("accounts_contract_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans"
        )

    ((_row_id, cell),) = _confirm_cells(listing)
    greyed = disabled_button(cell, "确认合同")
    assert greyed["reasons"] == [
        f"只有账号 {credit['main'].uid} 的所有者可以确认其信控合同。"
    ]


def test_operators_are_told_who_confirms_instead_of_a_button(client, credit):
    _, contract = services.set_credit_limit(
        account=credit["main"], amount=D("300.00"), actor=credit["manager"]
    )
    client.force_login(credit["operator"])

    listing = client.get(url("accounts_contract_changelist"))
    page = client.get(url("accounts_contract_change", contract.pk))

    note = parse(listing).find("p", id="operator-note")
    assert note.text == (
        "Only an owner of each account confirms its contract; billing operators "
        "can withdraw a pending contract from its page."
    )
    assert "Confirm contract" not in listing.content.decode()
    assert "Confirm contract" not in page.content.decode()
    assert url("accounts_contract_withdraw", contract.pk) in page.content.decode()
