"""The credit control API rows of SPEC §8: quotas, business managers, limits and
contracts, access requests and exceptions, notifications; bad input, the check
order, and isolation between companies."""

from dataclasses import dataclass

import pytest
from django.db.models import Q

from accounts import services
from accounts.models import (
    AccessException,
    AccessRequest,
    Account,
    Company,
    Contract,
    CreditQuota,
    FinancialRelationship,
)
from accounts.models.structure import RelationshipPermission
from billing_portal.models import Notification
from tests.api.helpers import API
from tests.credit_helpers import D, make_cbm, set_limit, set_quota
from tests.factories import AccountFactory, UserFactory

MISSING = 999999


@dataclass
class Acme:
    company: Company
    main: Account
    owner: object
    manager: object
    viewer: object
    cbm: object


@pytest.fixture
def acme(company, make_account, operator, owner, grant, cbm):
    """Acme (verified, quota 1000.00 CNY, CBM ``cbm``): Main, owned by ``owner``,
    managed by ``manager``, seen by ``viewer``."""
    main = make_account(name="Main", mobile="+8613800138001")
    manager = UserFactory(username="manager")
    viewer = UserFactory(username="viewer")
    grant(owner, main, "owner")
    grant(manager, main, "manage")
    grant(viewer, main, "use")
    set_quota(company, "1000.00", actor=operator)
    services.set_business_manager(company=company, user=cbm, actor=operator)
    company.refresh_from_db()
    return Acme(company, main, owner, manager, viewer, cbm)


def pay_on_behalf(account, operator):
    services.update_account(
        account=account,
        actor=operator,
        partner_name="Fast Partner Ltd",
        partner_mode=Account.PartnerMode.PAY_ON_BEHALF,
    )


def assert_refused(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert code in [r["code"] for r in body["reasons"]]
    assert all(r["message"] for r in body["reasons"])
    return body


# --- PUT /companies/{id}/credit-quota/ --------------------------------------------


def test_an_operator_puts_a_quota_per_currency(company, operator, client_for):
    client = client_for(operator)
    url = f"{API}/companies/{company.pk}/credit-quota/"

    cny = client.put(url, {"currency": "CNY", "amount": "1000.00"}, format="json")
    usd = client.put(url, {"currency": "USD", "amount": "250.5"}, format="json")
    lowered = client.put(url, {"currency": "CNY", "amount": "0"}, format="json")

    assert (cny.status_code, usd.status_code, lowered.status_code) == (200, 200, 200)
    assert {k: cny.json()[k] for k in ("company", "currency", "amount")} == {
        "company": company.pk,
        "currency": "CNY",
        "amount": "1000.00",
    }
    assert usd.json()["amount"] == "250.50"
    assert lowered.json()["amount"] == "0.00"
    assert sorted(
        CreditQuota.objects.filter(company=company).values_list("currency", "amount")
    ) == [("CNY", D("0.00")), ("USD", D("250.50"))]


def test_a_customer_cannot_put_a_quota(acme, other_company, client_for):
    client = client_for(acme.owner)
    body = {"currency": "CNY", "amount": "99999.00"}

    own = client.put(
        f"{API}/companies/{acme.company.pk}/credit-quota/", body, format="json"
    )
    other = client.put(
        f"{API}/companies/{other_company.pk}/credit-quota/", body, format="json"
    )

    assert_refused(own, 403, "no_permission")
    assert other.status_code == 404
    assert CreditQuota.objects.get(company=acme.company).amount == D("1000.00")
    assert not CreditQuota.objects.filter(company=other_company).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "EUR", "amount": "1.00"}, "currency"),
        ({"amount": "1.00"}, "currency"),
        ({"currency": "CNY", "amount": "-1.00"}, "amount"),
        ({"currency": "CNY", "amount": "1.005"}, "amount"),
        ({"currency": "CNY", "amount": "abc"}, "amount"),
        ({"currency": "CNY", "amount": "1e3"}, "amount"),
        ({"currency": "CNY"}, "amount"),
        ({"currency": "CNY", "amount": "1.00", "company": 1}, "company"),
    ],
)
def test_bad_quota_input_is_a_400_naming_the_field(
    company, operator, client_for, body, field
):
    response = client_for(operator).put(
        f"{API}/companies/{company.pk}/credit-quota/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not CreditQuota.objects.exists()


# --- PUT /companies/{id}/business-manager/ ----------------------------------------


def test_an_operator_assigns_a_cbm_as_business_manager(
    company, operator, cbm, client_for
):
    response = client_for(operator).put(
        f"{API}/companies/{company.pk}/business-manager/",
        {"user": cbm.pk},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["business_manager"] == cbm.pk
    company.refresh_from_db()
    assert company.business_manager == cbm


@pytest.mark.parametrize("who", ["customer", "missing", "unknown_field"])
def test_the_business_manager_must_be_a_cbm(company, operator, owner, client_for, who):
    body = {
        "customer": {"user": owner.pk},
        "missing": {"user": MISSING},
        "unknown_field": {"user": owner.pk, "role": "cbm"},
    }[who]

    response = client_for(operator).put(
        f"{API}/companies/{company.pk}/business-manager/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert ("role" if who == "unknown_field" else "user") in response.json()
    company.refresh_from_db()
    assert company.business_manager is None


def test_a_customer_cannot_assign_a_business_manager(acme, client_for):
    other_cbm = make_cbm("other-cbm")

    response = client_for(acme.owner).put(
        f"{API}/companies/{acme.company.pk}/business-manager/",
        {"user": other_cbm.pk},
        format="json",
    )

    assert_refused(response, 403, "no_permission")
    acme.company.refresh_from_db()
    assert acme.company.business_manager == acme.cbm


# --- limits and contracts -----------------------------------------------------------


def test_first_limit_pending_then_confirmed_then_later_changes_active(
    acme, fund, client_for
):
    main = acme.main
    fund(main, "25.00")
    manager, owner = client_for(acme.manager), client_for(acme.owner)
    limit_url = f"{API}/accounts/{main.pk}/credit-limit/"

    put = manager.put(limit_url, {"amount": "300.00"}, format="json")

    assert put.status_code == 200, put.content
    body = put.json()
    assert (body["status"], body["credit_limit"], body["pending_credit_limit"]) == (
        "pending_contract",
        "0.00",
        "300.00",
    )
    contract = body["contract"]
    contract_id = contract["id"]
    assert {
        k: contract[k]
        for k in ("account", "kind", "limit", "currency", "status", "confirmed_by")
    } == {
        "account": main.pk,
        "kind": "credit_control",
        "limit": "300.00",
        "currency": "CNY",
        "status": "pending",
        "confirmed_by": None,
    }
    assert contract["confirmed_at"] is None
    assert contract["terms_version"]
    account = owner.get(f"{API}/accounts/{main.pk}/").json()
    assert (
        account["credit_limit"],
        account["pending_credit_limit"],
        account["available_balance"],
    ) == ("0.00", "300.00", "25.00")
    listed = owner.get(f"{API}/contracts/").json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == contract_id
    assert owner.get(f"{API}/contracts/?status=confirmed").json()["count"] == 0

    # The manager may not confirm: only an owner accepts the contract.
    refused = manager.post(f"{API}/contracts/{contract_id}/confirm/")
    assert_refused(refused, 403, "no_permission")

    confirmed = owner.post(
        f"{API}/contracts/{contract_id}/confirm/", REMOTE_ADDR="198.51.100.23"
    )

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["confirmed_by"] == acme.owner.pk
    assert confirmed.json()["confirmed_at"] is not None
    assert Contract.objects.get(pk=contract_id).confirmed_from == "198.51.100.23"
    account = owner.get(f"{API}/accounts/{main.pk}/").json()
    assert (
        account["credit_limit"],
        account["pending_credit_limit"],
        account["available_balance"],
    ) == ("300.00", None, "325.00")

    later = manager.put(limit_url, {"amount": "450.50"}, format="json")

    assert later.status_code == 200, later.content
    assert later.json() == {
        "status": "active",
        "credit_limit": "450.50",
        "pending_credit_limit": None,
        "contract": None,
    }
    notices = owner.get(f"{API}/notifications/?account={main.pk}").json()
    rows = [
        (n["channel"], n["to"], n["template"], n["status"])
        for n in reversed(notices["results"])
    ]
    assert rows == [
        ("portal", "owner", "credit_contract_pending", "queued"),
        ("sms", "+8613800138001", "credit_limit_changed", "queued"),
        ("sms", "+8613800138001", "credit_limit_changed", "queued"),
    ]
    assert all(n["created_at"] for n in notices["results"])
    assert [n["params"].get("limit") for n in notices["results"][:2]] == [
        "450.50",
        "300.00",
    ]


def test_a_change_while_a_contract_is_pending_is_a_409(acme, client_for):
    client = client_for(acme.owner)
    url = f"{API}/accounts/{acme.main.pk}/credit-limit/"
    client.put(url, {"amount": "300.00"}, format="json")

    response = client.put(url, {"amount": "400.00"}, format="json")

    body = assert_refused(response, 409, "contract_pending")
    assert body["detail"]
    assert [r["code"] for r in body["reasons"]] == ["contract_pending"]
    assert Contract.objects.get().limit == D("300.00")


def test_more_than_max_allocatable_is_a_409_with_every_reason(
    acme, operator, client_for
):
    pay_on_behalf(acme.main, operator)

    response = client_for(acme.owner).put(
        f"{API}/accounts/{acme.main.pk}/credit-limit/",
        {"amount": "1000.01"},
        format="json",
    )

    body = assert_refused(response, 409, "credit_control_disabled")
    assert [r["code"] for r in body["reasons"]] == [
        "credit_control_disabled",
        "exceeds_max_allocatable",
    ]
    assert "Fast Partner Ltd" in body["reasons"][0]["message"]
    assert not Contract.objects.exists()


def test_a_viewer_gets_403_after_validation_and_an_outsider_404(
    acme, other_company, grant, client_for
):
    outsider = UserFactory(username="globex-owner")
    grant(outsider, AccountFactory(company=other_company), "owner")
    url = f"{API}/accounts/{acme.main.pk}/credit-limit/"

    viewer = client_for(acme.viewer)
    forbidden = viewer.put(url, {"amount": "10.00"}, format="json")
    invalid = viewer.put(url, {"amount": "-10.00"}, format="json")
    hidden = client_for(outsider).put(url, {"amount": "10.00"}, format="json")

    assert_refused(forbidden, 403, "no_permission")
    assert invalid.status_code == 400
    assert "amount" in invalid.json()
    assert hidden.status_code == 404
    assert not Contract.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "0.001"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": ""}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": "10000000000000"}, "amount"),
        ({}, "amount"),
        ({"amount": "10.00", "currency": "CNY"}, "currency"),
        ({"amount": "10.00", "status": "active"}, "status"),
    ],
)
def test_bad_limit_input_is_a_400_naming_the_field(acme, client_for, body, field):
    response = client_for(acme.owner).put(
        f"{API}/accounts/{acme.main.pk}/credit-limit/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Contract.objects.exists()
    assert not Notification.objects.exists()


def test_an_amount_is_read_by_value(acme, client_for):
    response = client_for(acme.owner).put(
        f"{API}/accounts/{acme.main.pk}/credit-limit/",
        {"amount": "1.500"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["contract"]["limit"] == "1.50"


def test_withdraw_a_pending_contract(acme, client_for):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.owner)
    url = f"{API}/contracts/{contract.pk}/withdraw/"

    refused = client_for(acme.viewer).post(url)
    withdrawn = client_for(acme.manager).post(url)
    again = client_for(acme.manager).post(url)

    assert_refused(refused, 403, "no_permission")
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_at"] is not None
    assert_refused(again, 409, "invalid_state")
    account = client_for(acme.owner).get(f"{API}/accounts/{acme.main.pk}/").json()
    assert (account["credit_limit"], account["pending_credit_limit"]) == (
        "0.00",
        None,
    )
    assert not Notification.objects.filter(channel="sms").exists()


def test_an_operator_withdraws_but_cannot_confirm(acme, operator, client_for):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.owner)
    client = client_for(operator)

    confirm = client.post(f"{API}/contracts/{contract.pk}/confirm/")
    withdraw = client.post(f"{API}/contracts/{contract.pk}/withdraw/")

    assert_refused(confirm, 403, "no_permission")
    assert withdraw.status_code == 200
    contract.refresh_from_db()
    assert (contract.status, contract.withdrawn_by) == ("withdrawn", operator)


@pytest.mark.parametrize("action", ["confirm", "withdraw"])
def test_contract_actions_refuse_unknown_body_fields(acme, client_for, action):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.owner)

    response = client_for(acme.owner).post(
        f"{API}/contracts/{contract.pk}/{action}/", {"limit": "1.00"}, format="json"
    )

    assert response.status_code == 400, response.content
    assert "limit" in response.json()
    contract.refresh_from_db()
    assert contract.status == "pending"


def test_synchronize_finance_identity_lets_the_management_account_set_the_limit(
    acme, make_account, operator, grant, client_for
):
    """Without CHECK_TARGET_CONSUMPTION the management account's administrators
    do not see the member, yet they alone set (and may withdraw) its limit."""
    hq = make_account(name="HQ")
    hq_admin = UserFactory(username="hq-admin")
    hq_owner = UserFactory(username="hq-owner")
    grant(hq_admin, hq, "manage")
    grant(hq_owner, hq, "owner")
    member = acme.main
    services.set_management_account(company=acme.company, account=hq, actor=operator)
    relationship = services.invite_member(
        management_account=hq,
        member_account=member,
        type=FinancialRelationship.Type.FINANCIAL_MANAGEMENT,
        permissions=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
        actor=hq_admin,
    )
    services.confirm_relationship(relationship=relationship, actor=acme.owner)
    admin, owner = client_for(hq_admin), client_for(acme.owner)
    url = f"{API}/accounts/{member.pk}/credit-limit/"

    assert_refused(
        owner.put(url, {"amount": "10.00"}, format="json"), 403, "no_permission"
    )
    first = admin.put(url, {"amount": "10.00"}, format="json")

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "pending_contract"
    contract_id = first.json()["contract"]["id"]
    assert admin.get(f"{API}/accounts/{member.pk}/").status_code == 404
    assert [c["id"] for c in admin.get(f"{API}/contracts/").json()["results"]] == [
        contract_id
    ]
    withdrawn = admin.post(f"{API}/contracts/{contract_id}/withdraw/")
    assert withdrawn.json()["status"] == "withdrawn"

    second = admin.put(url, {"amount": "20.00"}, format="json").json()["contract"]
    assert_refused(
        admin.post(f"{API}/contracts/{second['id']}/confirm/"), 403, "no_permission"
    )
    # The owners of the management account confirm (SPEC §3.4), not the member's.
    assert_refused(
        owner.post(f"{API}/contracts/{second['id']}/confirm/"), 403, "no_permission"
    )
    confirmed = client_for(hq_owner).post(f"{API}/contracts/{second['id']}/confirm/")
    assert confirmed.json()["status"] == "confirmed"
    member.refresh_from_db()
    assert member.credit_limit == D("20.00")

    services.terminate_relationship(relationship=relationship, actor=hq_admin)
    assert admin.put(url, {"amount": "30.00"}, format="json").status_code == 404
    assert owner.put(url, {"amount": "30.00"}, format="json").json()["status"] == (
        "active"
    )


# --- access requests and exceptions ------------------------------------------------


def test_access_request_grant_and_revoke(acme, operator, fund, client_for):
    main = acme.main
    fund(main, "100.00")
    pay_on_behalf(main, operator)
    owner, cbm = client_for(acme.owner), client_for(acme.cbm)
    transferable_url = f"{API}/accounts/{main.pk}/transferable/"
    assert [r["code"] for r in owner.get(transferable_url).json()["reasons"]] == [
        "self_service_disabled"
    ]

    created = owner.post(
        f"{API}/accounts/{main.pk}/access-requests/",
        {"message": "We pay our own bills now."},
        format="json",
    )

    assert created.status_code == 201, created.content
    request = created.json()
    assert {
        k: request[k]
        for k in ("account", "business_manager", "status", "requested_by", "exception")
    } == {
        "account": main.pk,
        "business_manager": acme.cbm.pk,
        "status": "requested",
        "requested_by": acme.owner.pk,
        "exception": None,
    }
    assert [c["code"] for c in request["conditions"]] == ["partner_pay_on_behalf"]
    again = owner.post(f"{API}/accounts/{main.pk}/access-requests/")
    assert_refused(again, 409, "invalid_state")
    assert cbm.get(f"{API}/access-requests/").json()["count"] == 1

    assert_refused(
        owner.post(f"{API}/access-requests/{request['id']}/grant/"),
        403,
        "no_permission",
    )
    granted = cbm.post(f"{API}/access-requests/{request['id']}/grant/")

    assert granted.status_code == 200, granted.content
    exception = granted.json()
    assert (exception["account"], exception["request"], exception["end"]) == (
        main.pk,
        request["id"],
        None,
    )
    assert exception["granted_by"] == acme.cbm.pk
    lifted = owner.get(transferable_url).json()
    assert (lifted["transferable_amount"], lifted["reasons"]) == ("100.00", [])
    limit = owner.put(
        f"{API}/accounts/{main.pk}/credit-limit/", {"amount": "10.00"}, format="json"
    )
    assert limit.json()["status"] == "pending_contract"

    revoke_url = f"{API}/access-exceptions/{exception['id']}/revoke/"
    assert_refused(owner.post(revoke_url), 403, "no_permission")
    revoked = client_for(operator).post(revoke_url)

    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["end"] is not None
    assert revoked.json()["revoked_by"] == operator.pk
    blocked = owner.get(transferable_url).json()
    assert blocked["transferable_amount"] == "0.00"
    assert [r["code"] for r in blocked["reasons"]] == ["self_service_disabled"]
    assert_refused(client_for(acme.cbm).post(revoke_url), 409, "invalid_state")


def test_access_request_decline(acme, operator, client_for):
    pay_on_behalf(acme.main, operator)
    request = services.request_access(account=acme.main, actor=acme.manager)

    response = client_for(acme.cbm).post(f"{API}/access-requests/{request.pk}/decline/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "declined"
    assert response.json()["decided_by"] == acme.cbm.pk
    assert response.json()["exception"] is None
    assert not AccessException.objects.exists()


def test_access_request_refusals(acme, make_account, operator, grant, client_for):
    client = client_for(acme.owner)

    nothing = client.post(f"{API}/accounts/{acme.main.pk}/access-requests/")
    viewer = client_for(acme.viewer).post(
        f"{API}/accounts/{acme.main.pk}/access-requests/"
    )
    unknown = client.post(
        f"{API}/accounts/{acme.main.pk}/access-requests/",
        {"urgent": True},
        format="json",
    )

    assert_refused(nothing, 409, "not_disabled")
    assert_refused(viewer, 403, "no_permission")
    assert unknown.status_code == 400
    assert "urgent" in unknown.json()

    from tests.factories import CompanyFactory

    lonely = AccountFactory(company=CompanyFactory(name="No CBM"))
    grant(acme.owner, lonely, "owner")
    pay_on_behalf(lonely, operator)
    body = assert_refused(
        client.post(f"{API}/accounts/{lonely.pk}/access-requests/"),
        409,
        "no_business_manager",
    )
    assert "business manager" in body["reasons"][0]["message"]
    assert not AccessRequest.objects.exists()


def test_another_cbm_does_not_see_the_request(acme, operator, client_for):
    pay_on_behalf(acme.main, operator)
    request = services.request_access(account=acme.main, actor=acme.owner)
    stranger = client_for(make_cbm("other-cbm"))

    grant = stranger.post(f"{API}/access-requests/{request.pk}/grant/")
    decline = stranger.post(f"{API}/access-requests/{request.pk}/decline/")

    assert grant.status_code == decline.status_code == 404
    request.refresh_from_db()
    assert request.status == "requested"
    assert stranger.get(f"{API}/access-requests/").json()["count"] == 0


@pytest.mark.parametrize("action", ["grant", "decline"])
def test_access_request_actions_refuse_unknown_body_fields(
    acme, operator, client_for, action
):
    pay_on_behalf(acme.main, operator)
    request = services.request_access(account=acme.main, actor=acme.owner)

    response = client_for(acme.cbm).post(
        f"{API}/access-requests/{request.pk}/{action}/", {"days": 3}, format="json"
    )

    assert response.status_code == 400, response.content
    assert "days" in response.json()
    request.refresh_from_db()
    assert request.status == "requested"


def test_revoking_an_exception_refuses_unknown_body_fields(acme, operator, client_for):
    pay_on_behalf(acme.main, operator)
    request = services.request_access(account=acme.main, actor=acme.owner)
    exception = services.grant_access_request(request=request, actor=acme.cbm)

    response = client_for(acme.cbm).post(
        f"{API}/access-exceptions/{exception.pk}/revoke/",
        {"reason": "late payments"},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert "reason" in response.json()
    exception.refresh_from_db()
    assert exception.end is None


# --- notifications -------------------------------------------------------------------


def test_notifications_filter_needs_an_account_id(acme, client_for):
    response = client_for(acme.owner).get(f"{API}/notifications/?account=abc")

    assert response.status_code == 400
    assert "account" in response.json()


# --- isolation between companies -----------------------------------------------------


@pytest.fixture
def tenants(acme, other_company, operator, grant, fund):
    """Company A (acme): a pending contract on Main, a granted exception on Main,
    an open request on Second. Company B: its own customer, account and contract."""
    second = AccountFactory(company=acme.company, name="Second")
    grant(acme.owner, second, "owner")
    pay_on_behalf(acme.main, operator)
    pay_on_behalf(second, operator)
    granted = services.request_access(account=acme.main, actor=acme.owner)
    exception = services.grant_access_request(request=granted, actor=acme.cbm)
    open_request = services.request_access(account=second, actor=acme.owner)
    _status, a_contract = set_limit(acme.main, "300.00", actor=acme.owner)

    b_owner = UserFactory(username="globex-owner")
    b1 = AccountFactory(company=other_company, name="B1", mobile="+14155550100")
    grant(b_owner, b1, "owner")
    set_quota(other_company, "500.00", actor=operator)
    _status, b_contract = set_limit(b1, "50.00", actor=b_owner)
    return {
        "b_owner": b_owner,
        "b1": b1,
        "a_contract": a_contract,
        "b_contract": b_contract,
        "open_request": open_request,
        "granted": granted,
        "exception": exception,
        "second": second,
    }


def test_a_customer_of_another_company_gets_404_for_every_credit_object(
    acme, tenants, client_for, db_state
):
    client = client_for(tenants["b_owner"])
    urls = [
        ("post", f"/contracts/{tenants['a_contract'].pk}/confirm/", None),
        ("post", f"/contracts/{tenants['a_contract'].pk}/withdraw/", None),
        ("post", f"/access-requests/{tenants['open_request'].pk}/grant/", None),
        ("post", f"/access-requests/{tenants['open_request'].pk}/decline/", None),
        ("post", f"/access-exceptions/{tenants['exception'].pk}/revoke/", None),
        ("post", f"/accounts/{acme.main.pk}/access-requests/", None),
        ("put", f"/accounts/{acme.main.pk}/credit-limit/", {"amount": "1.00"}),
        (
            "put",
            f"/companies/{acme.company.pk}/credit-quota/",
            {"currency": "CNY", "amount": "1.00"},
        ),
        (
            "put",
            f"/companies/{acme.company.pk}/business-manager/",
            {"user": acme.cbm.pk},
        ),
    ]
    before = db_state()
    contracts_before = list(Contract.objects.values_list("pk", "status"))

    for method, path, body in urls:
        response = getattr(client, method)(API + path, body, format="json")
        assert response.status_code == 404, (path, response.content)

    assert db_state() == before
    assert list(Contract.objects.values_list("pk", "status")) == contracts_before
    assert AccessRequest.objects.get(pk=tenants["open_request"].pk).status == (
        "requested"
    )
    assert AccessException.objects.get(pk=tenants["exception"].pk).end is None


def test_lists_show_a_customer_only_its_own_companys_credit_objects(
    acme, tenants, client_for
):
    client = client_for(tenants["b_owner"])
    b1 = tenants["b1"]

    contracts = client.get(f"{API}/contracts/").json()
    requests = client.get(f"{API}/access-requests/").json()
    notifications = client.get(f"{API}/notifications/").json()
    a_notifications = client.get(f"{API}/notifications/?account={acme.main.pk}").json()

    assert [c["id"] for c in contracts["results"]] == [tenants["b_contract"].pk]
    assert requests["count"] == 0
    assert notifications["count"] == 1
    assert {(n["account"], n["to"]) for n in notifications["results"]} == {
        (b1.pk, "globex-owner")
    }
    assert a_notifications == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    # Company A's owner sees the SMS of A's accounts and the portal notices
    # addressed to it; none of B's, and not notices addressed to someone else.
    a_rows = client_for(acme.owner).get(f"{API}/notifications/").json()
    a_accounts = [acme.main.pk, tenants["second"].pk]
    assert (
        a_rows["count"]
        == Notification.objects.filter(
            Q(account__in=a_accounts, channel="sms") | Q(user=acme.owner)
        ).count()
    )
    assert {n["to"] for n in a_rows["results"] if n["channel"] == "portal"} <= {
        acme.owner.username
    }
    assert b1.pk not in {n["account"] for n in a_rows["results"]}
    assert (
        client_for(acme.owner)
        .get(f"{API}/notifications/?account={b1.pk}")
        .json()["count"]
        == 0
    )
