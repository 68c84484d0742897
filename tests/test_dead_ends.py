"""No link leads to a bare refusal, and an address that leads nowhere is a page
of the portal with what happened and a way back (issue 12)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import Contract
from tests.accounts.conftest_admin import parse
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

USER_PAGE = "/admin/auth/user/"


def readonly_field(response, name):
    """The read-only value of field ``name`` on a change page (its node)."""
    row = parse(response).with_class(f"field-{name}")[0]
    return row.with_class("readonly")[0]


@pytest.fixture
def pending_contract(company, make_account, owner, grant, operator):
    account = make_account(name="Acme Main")
    grant(owner, account, "owner")
    services.set_credit_quota(
        company=company, currency="CNY", amount=Decimal("500.00"), actor=operator
    )
    services.set_credit_limit(account=account, amount=Decimal("100.00"), actor=owner)
    return Contract.objects.get(account=account)


def test_created_by_is_a_name_not_a_link_to_a_user_record(
    client, owner, pending_contract
):
    """A customer (and a billing operator) cannot open user records: "Created
    by: owner" is text; the account, which the reader may open, stays a link."""
    client.force_login(owner)

    page = client.get(
        reverse("admin:accounts_contract_change", args=[pending_contract.pk])
    )

    assert page.status_code == 200
    created_by = readonly_field(page, "created_by")
    assert created_by.text == "owner"
    assert created_by.find("a") is None
    assert USER_PAGE not in page.content.decode()
    account = readonly_field(page, "account").find("a")
    assert account.attrs["href"] == reverse(
        "admin:accounts_account_change", args=[pending_contract.account_id]
    )
    # Where the old link led: the refusal this page no longer sends anyone to.
    user_page = reverse("admin:auth_user_change", args=[owner.pk])
    assert client.get(user_page).status_code == 403


def test_operators_get_no_user_links_either_but_superusers_do(
    client, operator, admin_user, owner, pending_contract
):
    target = reverse("admin:accounts_contract_change", args=[pending_contract.pk])
    client.force_login(operator)
    assert readonly_field(client.get(target), "created_by").find("a") is None

    client.force_login(admin_user)
    link = readonly_field(client.get(target), "created_by").find("a")
    assert link.attrs["href"] == reverse("admin:auth_user_change", args=[owner.pk])


def test_an_account_out_of_reach_is_named_not_linked(
    client, company, make_account, owner, grant, operator
):
    """The member's owner reads its invitation; the management account is one
    it cannot open, so it is its name (a link would answer "doesn't exist")."""
    hq = make_account(name="Acme HQ")
    member = make_account(name="Acme M1")
    grant(owner, hq, "owner")
    member_owner = UserFactory(username="m1owner")
    grant(member_owner, member, "owner")
    services.set_management_account(company=company, account=hq, actor=operator)
    relationship = services.invite_member(
        management_account=hq,
        member_account=member,
        type="financial_management",
        permissions=[],
        actor=owner,
    )
    client.force_login(member_owner)

    page = client.get(
        reverse("admin:accounts_financialrelationship_change", args=[relationship.pk])
    )

    assert page.status_code == 200
    manager = readonly_field(page, "management_account")
    assert manager.text == str(hq)
    assert manager.find("a") is None
    member_link = readonly_field(page, "member_account").find("a")
    assert member_link.attrs["href"] == reverse(
        "admin:accounts_account_change", args=[member.pk]
    )
    assert readonly_field(page, "invited_by").find("a") is None


# --- an address that leads nowhere ----------------------------------------------


def test_an_unknown_portal_address_is_a_portal_page_with_a_way_back(client, owner):
    client.force_login(owner)

    response = client.get(
        "/admin/no-such-page/", HTTP_REFERER="/admin/accounts/account/"
    )

    assert response.status_code == 404
    root = parse(response)
    assert root.find("h1").text == "Page not found"
    assert root.find("p", class_="errornote").text == (
        "There is no page at this address."
    )
    hrefs = [
        a.attrs.get("href") for a in root.find("div", id="not-found").find_all("a")
    ]
    assert hrefs == ["/admin/accounts/account/", reverse("admin:index")]
    # Inside the portal's frame: its header, language switch and user links.
    assert root.find("header", id="header") is not None
    assert reverse("admin-preferences") in response.content.decode()


def test_the_404_page_speaks_chinese_and_needs_no_sign_in(client):
    with translation.override("en"):  # not left active for later tests
        response = client.get("/nothing-here/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 404
    root = parse(response)
    assert root.find("h1").text == "页面不存在"
    assert root.find("p", class_="errornote").text == "此地址没有对应的页面。"
    links = root.find("div", id="not-found").find_all("a")
    assert [a.text for a in links] == ["首页"]
