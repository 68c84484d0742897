"""Happy paths of every endpoint, values to the cent (SPEC §3.1-3.3, §8)."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import (
    Account,
    AccountAccess,
    Charge,
    Company,
    Movement,
    Posting,
    SettlementAllocation,
)
from billing_portal import api_urls
from sharing.models import UsageRecord
from tests.api.helpers import AMOUNT_RE, API, balances, usage_body
from tests.factories import UserFactory

# --- auth -------------------------------------------------------------------------


def test_token_auth(owner, make_account, grant, api_client):
    account = make_account()
    grant(owner, account)

    response = api_client.post(
        f"{API}/auth/token/",
        {"username": "owner", "password": "pass-word-123"},
        format="json",
    )

    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert response.json() == {"token": Token.objects.get(user=owner).key}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    accounts = client.get(f"{API}/accounts/")
    assert accounts.status_code == 200
    assert [a["id"] for a in accounts.json()["results"]] == [account.pk]
    again = api_client.post(
        f"{API}/auth/token/",
        {"username": "owner", "password": "pass-word-123"},
        format="json",
    )
    assert again.json() == {"token": token}


def test_token_auth_refuses_a_wrong_password(owner, api_client):
    response = api_client.post(
        f"{API}/auth/token/",
        {"username": "owner", "password": "wrong-password"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}
    assert not Token.objects.filter(user=owner).exists()


def test_session_auth(owner, make_account, grant):
    account = make_account()
    grant(owner, account)
    client = APIClient()
    assert client.login(username="owner", password="pass-word-123")

    response = client.get(f"{API}/accounts/{account.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == account.pk


# --- companies and users ----------------------------------------------------------


def test_operator_creates_and_verifies_a_company(operator, client_for):
    client = client_for(operator)

    created = client.post(
        f"{API}/companies/",
        {"name": "Umbrella", "registration_number": "91310000MA1K000001"},
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Umbrella"
    assert body["registration_number"] == "91310000MA1K000001"
    assert body["verification_status"] == "unverified"
    assert body["verified_at"] is None
    assert body["verified_by"] is None
    pk = body["id"]

    before = timezone.now()
    verified = client.post(f"{API}/companies/{pk}/verify/")
    after = timezone.now()

    assert verified.status_code == 200, verified.content
    assert verified.json()["verification_status"] == "verified"
    assert verified.json()["verified_by"] == operator.pk
    verified_at = parse_datetime(verified.json()["verified_at"])
    assert before <= verified_at <= after
    company = Company.objects.get(pk=pk)
    assert company.is_verified
    assert company.verified_by == operator
    assert company.verified_at == verified_at
    # Verifying again changes nothing.
    again = client.post(f"{API}/companies/{pk}/verify/")
    assert again.status_code == 200
    assert again.json() == verified.json()
    detail = client.get(f"{API}/companies/{pk}/")
    assert detail.json() == verified.json()


def test_registration_number_is_unique(operator, company, client_for):
    response = client_for(operator).post(
        f"{API}/companies/",
        {"name": "Copy", "registration_number": company.registration_number},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"registration_number"}
    assert Company.objects.filter(name="Copy").count() == 0


@pytest.mark.parametrize(
    ("role", "groups"),
    [("customer", []), ("cbm", ["cbm"]), ("operator", ["operators"])],
)
def test_operator_creates_users_with_roles(operator, client_for, role, groups):
    response = client_for(operator).post(
        f"{API}/users/",
        {"username": f"new-{role}", "password": "long-enough-1", "role": role},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == f"new-{role}"
    assert body["role"] == role
    assert "password" not in body
    user = UserFactory._meta.model.objects.get(pk=body["id"])
    assert sorted(user.groups.values_list("name", flat=True)) == groups
    assert user.check_password("long-enough-1")
    token = APIClient().post(
        f"{API}/auth/token/",
        {"username": f"new-{role}", "password": "long-enough-1"},
        format="json",
    )
    assert token.status_code == 200


def test_created_operator_has_operator_rights(operator, company, client_for):
    created = client_for(operator).post(
        f"{API}/users/",
        {"username": "op2", "password": "long-enough-1", "role": "operator"},
        format="json",
    )
    new_operator = UserFactory._meta.model.objects.get(pk=created.json()["id"])

    company.verification_status = "unverified"
    company.save(update_fields=["verification_status"])

    response = client_for(new_operator).post(f"{API}/companies/{company.pk}/verify/")

    assert response.status_code == 200
    assert response.json()["verification_status"] == "verified"
    company.refresh_from_db()
    assert company.verified_by == new_operator
    assert new_operator.groups.filter(name="operators").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "op", "password": "long-enough-1", "role": "cbm"}, "username"),
        ({"username": "x", "password": "short", "role": "cbm"}, "password"),
        ({"username": "x", "password": "long-enough-1", "role": "admin"}, "role"),
    ],
)
def test_user_creation_refusals(operator, client_for, body, field):
    count = UserFactory._meta.model.objects.count()

    response = client_for(operator).post(f"{API}/users/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert UserFactory._meta.model.objects.count() == count


# --- accounts ---------------------------------------------------------------------


def test_operator_creates_an_account(operator, company, client_for):
    response = client_for(operator).post(
        f"{API}/accounts/",
        {
            "uid": "1234567890123456",
            "name": "Main",
            "company": company.pk,
            "currency": "USD",
            "mobile": "+8613912345678",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    account = Account.objects.get(pk=body["id"])
    assert body == {
        "id": account.pk,
        "uid": "1234567890123456",
        "name": "Main",
        "company": company.pk,
        "currency": "USD",
        "status": "valid",
        "mobile": "+8613912345678",
        "partner_name": "",
        "partner_mode": "",
        "cash_balance": "0.00",
        "transferred_in_balance": "0.00",
        "uncleared_amount": "0.00",
        "credit_limit": "0.00",
        "pending_credit_limit": None,
        "available_balance": "0.00",
        "has_overdue": False,
        "transferable_amount": "0.00",
    }


def test_account_without_company(operator, client_for):
    response = client_for(operator).post(
        f"{API}/accounts/",
        {"uid": "1234567890123456", "name": "Solo", "company": None, "currency": "CNY"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["company"] is None
    assert response.json()["mobile"] == ""


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"uid": "123456789012345"}, "uid"),
        ({"uid": "12345678901234567"}, "uid"),
        ({"uid": "123456789012345a"}, "uid"),
        ({"uid": "EXISTING"}, "uid"),
        ({"currency": "EUR"}, "currency"),
        ({"mobile": "13912345678"}, "mobile"),
        ({"company": 999999}, "company"),
    ],
)
def test_account_creation_refusals(
    operator, company, make_account, client_for, override, field
):
    existing = make_account()
    body = {
        "uid": "1234567890123456",
        "name": "N",
        "company": company.pk,
        "currency": "CNY",
        **override,
    }
    if body["uid"] == "EXISTING":
        body["uid"] = existing.uid
    count = Account.objects.count()

    response = client_for(operator).post(f"{API}/accounts/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert Account.objects.count() == count


def test_operator_updates_an_account(operator, make_account, fund, client_for):
    account = make_account(name="Old")
    fund(account, "10.00")

    response = client_for(operator).patch(
        f"{API}/accounts/{account.pk}/",
        {
            "name": "New",
            "mobile": "+12025550123",
            "status": "frozen",
            "partner_name": "Partner Ltd",
            "partner_mode": "pay_on_behalf",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "New"
    assert body["mobile"] == "+12025550123"
    assert body["status"] == "frozen"
    assert body["partner_name"] == "Partner Ltd"
    assert body["partner_mode"] == "pay_on_behalf"
    assert body["cash_balance"] == "10.00"
    assert body["transferable_amount"] == "0.00"  # frozen
    account.refresh_from_db()
    assert account.status == "frozen"
    assert account.partner_mode == "pay_on_behalf"
    assert account.cash_balance == Decimal("10.00")

    partial = client_for(operator).patch(
        f"{API}/accounts/{account.pk}/",
        {"status": "valid", "partner_name": "", "partner_mode": ""},
        format="json",
    )

    assert partial.status_code == 200
    assert partial.json()["name"] == "New"
    assert partial.json()["status"] == "valid"
    assert partial.json()["partner_mode"] == ""
    assert partial.json()["transferable_amount"] == "10.00"


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "USD"},
        {"uid": "9999999999999999"},
        {"cash_balance": "1000000.00"},
        {"status": "deleted"},
        {"partner_mode": "sometimes"},
    ],
)
def test_account_update_refuses_fixed_fields_and_bad_values(
    operator, make_account, client_for, body
):
    account = make_account()

    response = client_for(operator).patch(
        f"{API}/accounts/{account.pk}/", body, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == set(body)
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.currency, fresh.uid, fresh.status, fresh.cash_balance) == (
        "CNY",
        account.uid,
        "valid",
        Decimal("0.00"),
    )


def test_operator_grants_access(operator, make_account, fund, client_for):
    account, other = make_account(), make_account()
    fund(account, "20.00")
    user = UserFactory()
    client = client_for(user)
    assert client.get(f"{API}/accounts/{account.pk}/").status_code == 404

    granted = client_for(operator).post(
        f"{API}/accounts/{account.pk}/access/",
        {"user": user.pk, "permission": "manage"},
        format="json",
    )

    assert granted.status_code == 201, granted.content
    assert granted.json()["user"] == user.pk
    assert granted.json()["account"] == account.pk
    assert granted.json()["permission"] == "manage"
    assert client.get(f"{API}/accounts/{account.pk}/").json()["cash_balance"] == (
        "20.00"
    )
    moved = client.post(
        f"{API}/transfers/",
        {"source": account.pk, "destination": other.pk, "amount": "5.00"},
        format="json",
    )
    assert moved.status_code == 201

    downgraded = client_for(operator).post(
        f"{API}/accounts/{account.pk}/access/",
        {"user": user.pk, "permission": "use"},
        format="json",
    )

    assert downgraded.status_code == 201
    assert downgraded.json()["id"] == granted.json()["id"]
    assert AccountAccess.objects.get(user=user, account=account).permission == "use"
    refused = client.post(
        f"{API}/transfers/",
        {"source": account.pk, "destination": other.pk, "amount": "5.00"},
        format="json",
    )
    assert refused.status_code == 403
    assert balances(account)["cash"] == "15.00"


# --- money ------------------------------------------------------------------------


def test_top_up_settles_what_the_account_owes(
    operator, make_account, charge, client_for
):
    account = make_account()
    charge(account, "30.25", hours_ago=2)
    charge(account, "10.00", hours_ago=1)

    response = client_for(operator).post(
        f"{API}/accounts/{account.pk}/top-ups/", {"amount": "35.50"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "top_up"
    assert body["account"] == account.pk
    assert body["amount"] == "35.50"
    assert body["currency"] == "CNY"
    assert body["actor"] == operator.pk
    # Oldest charge first: 30.25 paid in full, 5.25 of the 10.00.
    assert balances(account) == {
        "cash": "0.00",
        "transferred_in": "0.00",
        "uncleared": "4.75",
    }
    outstanding = list(
        Charge.objects.filter(payer_account=account)
        .order_by("effective_at")
        .values_list("outstanding", flat=True)
    )
    assert outstanding == [Decimal("0.00"), Decimal("4.75")]
    settlement = Movement.objects.get(account=account, kind="settlement")
    assert settlement.amount == Decimal("35.50")


def test_top_up_without_debt_only_adds_cash(operator, make_account, client_for):
    account = make_account()

    response = client_for(operator).post(
        f"{API}/accounts/{account.pk}/top-ups/", {"amount": "0.01"}, format="json"
    )

    assert response.status_code == 201
    assert balances(account)["cash"] == "0.01"
    assert not Movement.objects.filter(kind="settlement").exists()


def test_settle_pays_transferred_in_funds_first(
    operator, make_account, fund, transfer, charge, client_for
):
    source, account = make_account(), make_account()
    fund(source, "100.00")
    fund(account, "10.00")
    transfer(source, account, "40.00")
    charge(account, "45.50")
    assert balances(account) == {
        "cash": "50.00",
        "transferred_in": "40.00",
        "uncleared": "45.50",
    }

    response = client_for(operator).post(f"{API}/accounts/{account.pk}/settle/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == account.pk
    assert body["cash_balance"] == "4.50"
    assert body["transferred_in_balance"] == "0.00"
    assert body["uncleared_amount"] == "0.00"
    assert body["available_balance"] == "4.50"
    assert body["transferable_amount"] == "4.50"
    allocation = SettlementAllocation.objects.get()
    assert allocation.from_transferred_in == Decimal("40.00")
    assert allocation.from_own == Decimal("5.50")


def test_settle_with_nothing_to_pay_changes_nothing(
    operator, make_account, fund, charge, client_for
):
    broke, rich = make_account(), make_account()
    charge(broke, "5.00")
    fund(rich, "5.00")
    movements = Movement.objects.count()
    client = client_for(operator)

    for account in (broke, rich):
        response = client.post(f"{API}/accounts/{account.pk}/settle/")
        assert response.status_code == 200
    assert Movement.objects.count() == movements
    assert balances(broke) == {
        "cash": "0.00",
        "transferred_in": "0.00",
        "uncleared": "5.00",
    }
    assert balances(rich)["cash"] == "5.00"


def test_usage_is_charged_once_per_external_id(
    operator, make_account, fund, client_for
):
    account = make_account()
    fund(account, "100.00")
    client = client_for(operator)
    body = usage_body(
        account,
        amount="30.01",
        usage_start="2025-03-01T10:00:00.123456+08:00",
        instance_type="ecs.g7.large",
        region="cn-hangzhou",
        quantity="1.5",
    )

    first = client.post(f"{API}/usage/", body, format="json")

    assert first.status_code == 201, first.content
    record = UsageRecord.objects.get()
    assert first.json() == {
        "id": record.pk,
        "external_id": "bill-1",
        "account": account.pk,
        "product": "ecs",
        "bill_type": "pay_as_you_go",
        "usage_start": "2025-03-01T02:00:00.123456Z",
        "usage_end": "2025-03-01T11:00:00Z",
        "amount": "30.01",
        "currency": "CNY",
        "billed_at": "2025-03-02T00:00:00Z",
        "instance_type": "ecs.g7.large",
        "region": "cn-hangzhou",
        "quantity": "1.500000",
        "deductions": [],
        "skipped": [],
        "charged_amount": "30.01",
        "payer": account.pk,
        "charge": record.charge_id,
    }
    # Posting usage never settles by itself.
    assert balances(account) == {
        "cash": "100.00",
        "transferred_in": "0.00",
        "uncleared": "30.01",
    }
    assert record.charge.effective_at == parse_datetime("2025-03-01T02:00:00.123456Z")

    again = client.post(
        f"{API}/usage/",
        {**body, "amount": "30.010", "quantity": "1.500"},
        format="json",
    )

    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert Charge.objects.count() == 1
    assert UsageRecord.objects.count() == 1
    assert balances(account)["uncleared"] == "30.01"

    conflict = client.post(f"{API}/usage/", {**body, "amount": "30.02"}, format="json")

    assert conflict.status_code == 409, conflict.content
    assert conflict.json()["code"] == "external_id_conflict"
    assert [r["code"] for r in conflict.json()["reasons"]] == ["external_id_conflict"]
    assert "bill-1" in conflict.json()["reasons"][0]["message"]
    assert Charge.objects.count() == 1
    assert balances(account)["uncleared"] == "30.01"


# --- eligibility ------------------------------------------------------------------


def test_transferable_explains_every_term(
    owner, grant, make_account, fund, transfer, charge, client_for
):
    sender, account = make_account(), make_account()
    grant(owner, account)
    fund(sender, "100.00")
    fund(account, "60.00")
    transfer(sender, account, "40.00")
    charge(account, "10.50")
    client = client_for(owner)

    response = client.get(f"{API}/accounts/{account.pk}/transferable/")

    assert response.status_code == 200
    body = response.json()
    reasons = body.pop("reasons")
    assert body == {
        "account": account.pk,
        "cash_balance": "100.00",
        "transferred_in_balance": "40.00",
        "own_funds": "60.00",
        "uncleared_amount": "10.50",
        "credit_limit": "0.00",
        "available_balance": "89.50",
        "transferable_amount": "60.00",
    }
    assert [r["code"] for r in reasons] == ["transferred_in_funds", "uncleared_charges"]
    assert "40.00" in reasons[0]["message"]
    assert "10.50" in reasons[1]["message"]
    assert "89.50" in reasons[1]["message"]
    detail = client.get(f"{API}/accounts/{account.pk}/").json()
    assert detail["transferable_amount"] == "60.00"
    assert detail["available_balance"] == "89.50"


def test_transferable_is_the_whole_cash_without_reasons(
    owner, grant, make_account, fund, client_for
):
    account = make_account()
    grant(owner, account, "use")
    fund(account, "12.34")

    body = client_for(owner).get(f"{API}/accounts/{account.pk}/transferable/").json()

    assert body["transferable_amount"] == "12.34"
    assert body["reasons"] == []


def test_transferable_is_zero_when_a_rule_blocks_the_account(
    owner, grant, make_account, fund, charge, set_status, client_for
):
    account = make_account()
    grant(owner, account)
    fund(account, "50.00")
    charge(account, "60.00")  # overdue
    client = client_for(owner)

    overdue = client.get(f"{API}/accounts/{account.pk}/transferable/").json()
    set_status(account, "frozen")
    frozen = client.get(f"{API}/accounts/{account.pk}/transferable/").json()

    assert overdue["transferable_amount"] == "0.00"
    assert overdue["available_balance"] == "-10.00"
    assert [r["code"] for r in overdue["reasons"]] == [
        "source_overdue",
        "uncleared_charges",
    ]
    assert [r["code"] for r in frozen["reasons"]] == [
        "account_not_active",
        "source_overdue",
        "uncleared_charges",
    ]
    detail = client.get(f"{API}/accounts/{account.pk}/").json()
    assert detail["transferable_amount"] == "0.00"
    assert detail["has_overdue"] is True


def test_revocable_names_the_binding_term(
    owner, grant, make_account, fund, transfer, charge, client_for
):
    first, second, destination = make_account(), make_account(), make_account()
    grant(owner, first)
    # Seeing the destination, the owner gets its balances as the terms too.
    grant(owner, destination, "use")
    fund(first, "100.00")
    fund(second, "100.00")
    transfer(first, destination, "30.00")
    client = client_for(owner)
    url = f"{API}/accounts/{first.pk}/revocable/"

    tie = client.get(url, {"destination": destination.pk}).json()
    transfer(second, destination, "40.00")
    charge(destination, "45.25")
    spent = client.get(url, {"destination": destination.pk}).json()
    charge(destination, "30.00")  # more than it holds: overdue
    overspent = client.get(url, {"destination": destination.pk}).json()

    assert tie == {
        "source": first.pk,
        "destination": destination.pk,
        "unspent_transferred_in": "30.00",
        "remaining_revocable": "30.00",
        "available_balance": "30.00",
        "revocable_amount": "30.00",
        "binding": "unspent_transferred_in",
    }
    assert spent["unspent_transferred_in"] == "24.75"
    assert spent["remaining_revocable"] == "30.00"
    assert spent["available_balance"] == "24.75"
    assert spent["revocable_amount"] == "24.75"
    assert spent["binding"] == "unspent_transferred_in"
    assert overspent["unspent_transferred_in"] == "0.00"
    assert overspent["available_balance"] == "-5.25"
    assert overspent["revocable_amount"] == "0.00"
    assert overspent["binding"] == "available_balance"


def test_revocable_binds_on_the_pair_when_several_senders(
    owner, grant, make_account, fund, transfer, client_for
):
    first, second, destination = make_account(), make_account(), make_account()
    grant(owner, first)
    # Seeing the destination, the owner gets its balances as the terms too.
    grant(owner, destination, "use")
    fund(first, "100.00")
    fund(second, "100.00")
    transfer(first, destination, "10.00")
    transfer(second, destination, "40.00")

    body = (
        client_for(owner)
        .get(f"{API}/accounts/{first.pk}/revocable/", {"destination": destination.pk})
        .json()
    )

    assert body["unspent_transferred_in"] == "50.00"
    assert body["remaining_revocable"] == "10.00"
    assert body["revocable_amount"] == "10.00"
    assert body["binding"] == "remaining_revocable"


def test_revocable_without_a_prior_transfer_is_zero(
    owner, grant, make_account, client_for
):
    source, destination = make_account(), make_account()
    grant(owner, source)

    body = (
        client_for(owner)
        .get(f"{API}/accounts/{source.pk}/revocable/", {"destination": destination.pk})
        .json()
    )

    assert body["remaining_revocable"] == "0.00"
    assert body["revocable_amount"] == "0.00"
    # All three terms are 0: on a tie the first names it (SPEC §3.3).
    assert body["binding"] == "unspent_transferred_in"


# --- transfers and revocations ----------------------------------------------------


def test_transfer_and_revocation_round_trip(
    owner, grant, make_account, fund, client_for, assert_ledger_clean
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    grant(owner, destination, "use")
    fund(source, "100.00")
    client = client_for(owner)

    sent = client.post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "33.33"},
        format="json",
    )

    assert sent.status_code == 201, sent.content
    movement = Movement.objects.get(kind="transfer")
    assert sent.json() == {
        "id": movement.pk,
        "source": source.pk,
        "destination": destination.pk,
        "amount": "33.33",
        "currency": "CNY",
        "created_at": sent.json()["created_at"],
        "actor": owner.pk,
        "revocable_amount": "33.33",
        "revocable_binding": "unspent_transferred_in",
    }
    assert parse_datetime(sent.json()["created_at"]) == movement.posted_at
    assert balances(source) == {
        "cash": "66.67",
        "transferred_in": "0.00",
        "uncleared": "0.00",
    }
    assert balances(destination) == {
        "cash": "33.33",
        "transferred_in": "33.33",
        "uncleared": "0.00",
    }

    taken = client.post(
        f"{API}/revocations/",
        {"source": source.pk, "destination": destination.pk, "amount": "0.33"},
        format="json",
    )

    assert taken.status_code == 201, taken.content
    revocation = Movement.objects.get(kind="revocation")
    assert taken.json() == {
        "id": revocation.pk,
        "source": source.pk,
        "destination": destination.pk,
        "amount": "0.33",
        "currency": "CNY",
        "created_at": taken.json()["created_at"],
        "actor": owner.pk,
    }
    assert balances(source)["cash"] == "67.00"
    assert balances(destination) == {
        "cash": "33.00",
        "transferred_in": "33.00",
        "uncleared": "0.00",
    }
    detail = client.get(f"{API}/transfers/{movement.pk}/")
    assert detail.status_code == 200
    assert detail.json() == {**sent.json(), "revocable_amount": "33.00"}
    revocation_detail = client.get(f"{API}/revocations/{revocation.pk}/")
    assert revocation_detail.json() == taken.json()
    # A transfer is not a revocation, nor the other way round.
    assert client.get(f"{API}/revocations/{movement.pk}/").status_code == 404
    assert client.get(f"{API}/transfers/{revocation.pk}/").status_code == 404
    assert_ledger_clean()


def test_transferred_in_funds_cannot_be_transferred_again(
    owner, grant, make_account, fund, transfer, client_for
):
    sender, account, onward = make_account(), make_account(), make_account()
    grant(owner, account)
    fund(sender, "50.00")
    fund(account, "5.00")
    transfer(sender, account, "50.00")

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": account.pk, "destination": onward.pk, "amount": "5.01"},
        format="json",
    )

    assert response.status_code == 409
    assert [r["code"] for r in response.json()["reasons"]] == ["exceeds_transferable"]
    exact = client_for(owner).post(
        f"{API}/transfers/",
        {"source": account.pk, "destination": onward.pk, "amount": "5.00"},
        format="json",
    )
    assert exact.status_code == 201
    assert balances(account) == {
        "cash": "50.00",
        "transferred_in": "50.00",
        "uncleared": "0.00",
    }


def test_movement_lists_are_newest_first_and_show_either_side(
    owner, grant, make_account, fund, transfer, revoke, client_for
):
    mine, other, third = make_account(), make_account(), make_account()
    grant(owner, mine)
    fund(mine, "100.00")
    fund(third, "100.00")
    t1 = transfer(mine, other, "1.00")
    t2 = transfer(third, mine, "2.00")  # incoming: visible from the other side
    t3 = transfer(mine, other, "3.00")
    transfer(third, other, "4.00")  # neither side visible
    r1 = revoke(mine, other, "0.50")
    r2 = revoke(third, mine, "0.25")
    client = client_for(owner)

    transfers = client.get(f"{API}/transfers/").json()
    revocations = client.get(f"{API}/revocations/").json()

    assert transfers["count"] == 3
    assert [t["id"] for t in transfers["results"]] == [t3.pk, t2.pk, t1.pk]
    assert [t["amount"] for t in transfers["results"]] == ["3.00", "2.00", "1.00"]
    assert [(t["source"], t["destination"]) for t in transfers["results"]] == [
        (mine.pk, other.pk),
        (third.pk, mine.pk),
        (mine.pk, other.pk),
    ]
    assert [r["id"] for r in revocations["results"]] == [r2.pk, r1.pk]
    assert [r["amount"] for r in revocations["results"]] == ["0.25", "0.50"]
    assert client.get(f"{API}/transfers/{t2.pk}/").status_code == 200


# --- ledger and pagination --------------------------------------------------------


def test_ledger_lines_newest_first_with_balance_after(
    operator, owner, grant, make_account, fund, transfer, charge, client_for
):
    account, other = make_account(), make_account()
    grant(owner, account)
    fund(account, "100.00")
    transfer(account, other, "30.00")
    charge(account, "12.50")
    client_for(operator).post(f"{API}/accounts/{account.pk}/settle/")
    fund(other, "5.00")
    transfer(other, account, "5.00")

    response = client_for(owner).get(f"{API}/accounts/{account.pk}/ledger/")

    assert response.status_code == 200
    lines = response.json()["results"]
    assert response.json()["count"] == 6
    assert [(x["kind"], x["book"], x["change"], x["balance_after"]) for x in lines] == [
        ("transfer", "transferred_in", "5.00", "5.00"),
        ("settlement", "uncleared", "-12.50", "0.00"),
        ("settlement", "own_cash", "-12.50", "57.50"),
        ("usage_charge", "uncleared", "12.50", "12.50"),
        ("transfer", "own_cash", "-30.00", "70.00"),
        ("top_up", "own_cash", "100.00", "100.00"),
    ]
    ids = [x["id"] for x in lines]
    assert ids == sorted(ids, reverse=True)
    assert lines[0]["counterparty"] == other.pk
    assert lines[4]["counterparty"] == other.pk
    assert lines[5]["counterparty"] is None
    for line in lines:
        assert line["currency"] == "CNY"
        posting = Posting.objects.get(pk=line["id"])
        assert line["movement"] == posting.movement_id
        assert line["amount"] == f"{posting.amount:.2f}"


def test_list_pagination(operator, client_for):
    Company.objects.bulk_create(
        Company(name=f"Co {i:03}", registration_number=f"PAGE-{i:04}")
        for i in range(520)
    )
    client = client_for(operator)

    first = client.get(f"{API}/companies/").json()
    second = client.get(f"{API}/companies/", {"page": 2}).json()
    big = client.get(f"{API}/companies/", {"page_size": 500}).json()
    capped = client.get(f"{API}/companies/", {"page_size": 10000}).json()
    small = client.get(f"{API}/companies/", {"page_size": 7, "page": 3}).json()
    last = client.get(f"{API}/companies/", {"page": 11}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 520
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"].endswith("/api/v1/companies/?page=2")
    ids = [c["id"] for c in first["results"]]
    assert ids == sorted(ids)
    assert len(second["results"]) == 50
    assert second["results"][0]["id"] > ids[-1]
    assert second["previous"].endswith("/api/v1/companies/")
    assert len(big["results"]) == 500
    assert len(capped["results"]) == 500
    assert capped["next"] is not None
    assert len(small["results"]) == 7
    assert [c["id"] for c in small["results"]] == [
        c["id"] for c in big["results"][14:21]
    ]
    assert len(last["results"]) == 20
    assert last["next"] is None
    assert client.get(f"{API}/companies/", {"page": 12}).status_code == 404


def test_ledger_pagination(operator, make_account, fund, client_for):
    account = make_account()
    for i in range(1, 56):
        fund(account, f"{i}.01")
    client = client_for(operator)

    first = client.get(f"{API}/accounts/{account.pk}/ledger/").json()
    second = client.get(f"{API}/accounts/{account.pk}/ledger/", {"page": 2}).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert first["results"][0]["change"] == "55.01"
    assert second["results"][-1]["change"] == "1.01"
    assert second["results"][-1]["balance_after"] == "1.01"
    total = sum(Decimal(f"{i}.01") for i in range(1, 56))
    assert first["results"][0]["balance_after"] == f"{total:.2f}"


# --- wire format ------------------------------------------------------------------

AMOUNT_FIELDS = {
    "cash_balance",
    "transferred_in_balance",
    "uncleared_amount",
    "credit_limit",
    "available_balance",
    "transferable_amount",
    "own_funds",
    "unspent_transferred_in",
    "remaining_revocable",
    "revocable_amount",
    "amount",
    "change",
    "balance_after",
    "charged_amount",
}


def _amounts(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in AMOUNT_FIELDS:
                yield key, item
            else:
                yield from _amounts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _amounts(item)


def test_amounts_are_strings_with_two_decimals(
    operator, owner, grant, make_account, fund, transfer, charge, client_for
):
    account, other = make_account(), make_account()
    grant(owner, account)
    fund(account, "100")
    transfer(account, other, "0.5")
    charge(account, "7")
    client = client_for(owner)
    op = client_for(operator)
    bodies = [
        client.get(f"{API}/accounts/").json(),
        client.get(f"{API}/accounts/{account.pk}/").json(),
        client.get(f"{API}/accounts/{account.pk}/transferable/").json(),
        client.get(
            f"{API}/accounts/{account.pk}/revocable/", {"destination": other.pk}
        ).json(),
        client.get(f"{API}/accounts/{account.pk}/ledger/").json(),
        client.get(f"{API}/transfers/").json(),
        client.post(
            f"{API}/transfers/",
            {"source": account.pk, "destination": other.pk, "amount": 1},
            format="json",
        ).json(),
        op.post(
            f"{API}/accounts/{account.pk}/top-ups/", {"amount": "2"}, format="json"
        ).json(),
        op.post(f"{API}/usage/", usage_body(account, amount="3"), format="json").json(),
    ]

    seen = [pair for body in bodies for pair in _amounts(body)]
    assert len(seen) > 30
    for key, value in seen:
        assert isinstance(value, str), (key, value)
        assert AMOUNT_RE.fullmatch(value), (key, value)
    account_body = bodies[1]
    assert account_body["cash_balance"] == "99.50"
    assert account_body["uncleared_amount"] == "7.00"
    assert account_body["available_balance"] == "92.50"


def test_times_are_iso_8601_utc(owner, grant, make_account, fund, client_for):
    account = make_account()
    grant(owner, account)
    fund(account, "1.00")

    line = client_for(owner).get(f"{API}/accounts/{account.pk}/ledger/").json()
    posted = line["results"][0]["posted_at"]

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", posted)
    assert abs(parse_datetime(posted) - timezone.now()) < timedelta(minutes=1)


# --- schema -----------------------------------------------------------------------


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<(?:\w+:)?\w+>", "{}", path))


def test_schema_lists_every_api_path(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    documented = {_normalise(p) for p in schema["paths"]}
    routed = {
        _normalise(f"/api/v1/{pattern.pattern}") for pattern in api_urls.urlpatterns
    }
    assert routed - documented == set()
    assert documented - routed == set()
    transfer = schema["paths"]["/api/v1/transfers/"]["post"]
    assert "201" in transfer["responses"]
    assert "requestBody" in transfer
