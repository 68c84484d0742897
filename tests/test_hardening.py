"""Audit and hardening (issue 12): change history with its author, shown on
the object's History page and scoped like the object; login lockout; throttled
money calls; the API token shown once."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import Contract
from sharing.models import Asset, Share
from sharing.services import expire_assets, provision_asset
from tests.api.helpers import API
from tests.credit_helpers import set_quota
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def history_page(client, admin_path: str) -> str:
    response = client.get(f"/admin/{admin_path}/history/")
    assert response.status_code == 200
    return response.content.decode()


# --- change history ----------------------------------------------------------------


def test_a_credit_limit_change_is_in_the_history_with_its_actor(
    company, make_account, operator, owner, grant, client_for, client
):
    main = make_account(name="Main")
    grant(owner, main, "owner")
    set_quota(company, "1000.00", actor=operator)
    api = client_for(owner)
    url = f"{API}/accounts/{main.pk}/credit-limit/"
    assert api.put(url, {"amount": "300.00"}, format="json").status_code == 200
    contract = Contract.objects.get(account=main)
    confirmed = api.post(f"{API}/contracts/{contract.pk}/confirm/", format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert api.put(url, {"amount": "450.50"}, format="json").json()["status"] == (
        "active"
    )

    rows = list(main.history.order_by("history_date", "history_id"))
    limits = [(r.credit_limit, r.history_user) for r in rows]
    assert limits == [
        (Decimal("0.00"), None),  # created by the factory, outside a request
        (Decimal("300.00"), owner),  # the owner confirmed the contract
        (Decimal("450.50"), owner),
    ]
    # The cached balances are the ledger's, not history's.
    assert not hasattr(rows[0], "own_cash")
    # The contract's own history: created pending, then confirmed by the owner.
    assert [(r.status, r.history_user) for r in contract.history.order_by("pk")] == [
        ("pending", owner),
        ("confirmed", owner),
    ]

    client.force_login(owner)
    page = history_page(client, f"accounts/account/{main.pk}")
    assert "Credit limit</strong>: 300.00 → 450.50" in page
    assert "Credit limit</strong>: 0.00 → 300.00" in page
    assert ">owner<" in page
    # The contract's rows appear on the account's page too.
    assert f"contract #{contract.pk}" in page.lower()


def test_a_share_is_in_the_assets_history_with_its_actor(
    company, make_account, operator, owner, grant, client_for, client
):
    plan_owner, recipient = make_account(name="Owner"), make_account(name="B")
    grant(owner, plan_owner, "owner")
    plan = provision_asset(
        type=Asset.Type.SAVINGS_PLAN,
        owner=plan_owner,
        commitment_per_hour=Decimal("2.00"),
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=30),
        actor=operator,
    )
    shared = client_for(owner).post(
        f"{API}/assets/{plan.pk}/shares/", {"accounts": [recipient.pk]}, format="json"
    )
    assert shared.status_code == 201, shared.content
    share = Share.objects.get(asset=plan)
    [row] = share.history.all()
    assert (row.history_type, row.history_user, row.status) == ("+", owner, "active")
    [period] = plan.periods.all()
    assert period.history.get().history_user == owner
    assert plan.history.get().history_user == operator  # provisioned

    client.force_login(owner)
    page = history_page(client, f"sharing/asset/{plan.pk}")
    assert f"share #{share.pk}" in page.lower()
    assert f"share period #{period.pk}" in page.lower()
    assert "B (" in page  # the recipient's name, not its id
    page = history_page(client, f"sharing/share/{share.pk}")
    assert "Status</strong>: — → Active" in page


def test_a_pool_approval_is_in_the_history_with_its_actor(
    make_pool, operator, company_cbm, client
):
    pool = make_pool(approve=False)
    client.force_login(operator)
    approved = client.post(
        f"/admin/coupons/creditpool/{pool.pk}/approve/",
        {"confirm": "yes", "confirmation_token": "t" * 32},
    )
    assert approved.status_code == 302, approved.content
    rows = list(pool.history.order_by("history_date", "history_id"))
    assert [(r.status, r.history_user) for r in rows] == [
        ("requested", company_cbm),
        ("approved", operator),
    ]
    page = history_page(client, f"coupons/creditpool/{pool.pk}")
    assert "Status</strong>: Requested → Approved" in page
    assert ">op<" in page


def test_another_companys_history_answers_like_a_missing_id(
    make_account, owner, grant, client
):
    mine = make_account(name="Mine")
    grant(owner, mine, "owner")
    theirs = AccountFactory(company=CompanyFactory(name="Globex"), name="Theirs")
    client.force_login(owner)

    missing = client.get("/admin/accounts/account/999999/history/")
    other = client.get(f"/admin/accounts/account/{theirs.pk}/history/")

    assert other.status_code == missing.status_code == 302
    assert other["Location"] == missing["Location"] == "/admin/"
    assert client.get(f"/admin/accounts/account/{mine.pk}/history/").status_code == 200


def test_an_expiry_is_recorded_without_an_author(make_account, operator):
    account = make_account()
    plan = provision_asset(
        type=Asset.Type.SAVINGS_PLAN,
        owner=account,
        commitment_per_hour=Decimal("1.00"),
        valid_from=NOW - timedelta(days=2),
        valid_until=NOW - timedelta(days=1),
        actor=operator,
    )
    assert expire_assets() == 1
    latest = plan.history.order_by("-history_date").first()
    assert (latest.status, latest.history_user) == ("expired", None)


def test_history_of_a_user_never_named_admin_is_not_for_customers(client):
    user = UserFactory(username="nobody")
    client.force_login(user)
    assert client.get(f"/admin/auth/user/{user.pk}/history/").status_code == 403


# --- login lockout -----------------------------------------------------------------

LOGIN = "/admin/login/?next=/admin/"
TOKEN = f"{API}/auth/token/"


def fail_admin_login(client, username, times):
    return [
        client.post(LOGIN, {"username": username, "password": "wrong-password"})
        for _ in range(times)
    ]


def let_the_cool_off_pass():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))


def test_the_admin_login_locks_after_five_failures_and_unlocks_after_the_cool_off(
    client,
):
    UserFactory(username="alice")
    answers = fail_admin_login(client, "alice", 5)

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    locked = client.post(LOGIN, {"username": "alice", "password": "pass-word-123"})
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    page = locked.content.decode()
    assert (
        "Too many failed sign-ins for user alice from your address; signing in is "
        "locked for 15 minutes from the last failure. Try again later."
    ) in page
    assert '<form action="/admin/login/' in page  # the login page itself
    # Another user, or the same user from another address, is not locked.
    UserFactory(username="bob")
    assert client.post(
        LOGIN, {"username": "bob", "password": "pass-word-123"}
    ).status_code == (302)
    client.logout()
    elsewhere = client.post(
        LOGIN,
        {"username": "alice", "password": "pass-word-123"},
        REMOTE_ADDR="198.51.100.9",
    )
    assert elsewhere.status_code == 302
    client.logout()

    let_the_cool_off_pass()
    assert client.post(
        LOGIN, {"username": "alice", "password": "pass-word-123"}
    ).status_code == (302)


def test_a_successful_login_resets_the_count(client):
    UserFactory(username="alice")
    fail_admin_login(client, "alice", 4)
    assert client.post(
        LOGIN, {"username": "alice", "password": "pass-word-123"}
    ).status_code == (302)
    client.logout()
    answers = fail_admin_login(client, "alice", 4)
    assert {a.status_code for a in answers} == {200}
    # The count started again at the success: four, not eight.
    assert [a.failures_since_start for a in AccessAttempt.objects.all()] == [4]


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_token_endpoint_counts_failures_and_refuses_while_locked(api_client):
    UserFactory(username="alice")
    wrong = {"username": "alice", "password": "wrong-password"}
    right = {"username": "alice", "password": "pass-word-123"}

    answers = [api_client.post(TOKEN, wrong, format="json") for _ in range(3)]

    assert [a.status_code for a in answers] == [400, 400, 429]
    refused = api_client.post(TOKEN, right, format="json")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert refused.json() == {
        "code": "locked_out",
        "detail": "Signing in is locked for now.",
        "reasons": [
            {
                "code": "locked_out",
                "message": "Too many failed sign-ins for user alice from your "
                "address; signing in is locked for 15 minutes from the last "
                "failure. Try again later.",
            }
        ],
    }
    chinese = api_client.post(
        TOKEN, right, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()
    message = chinese["reasons"][0]["message"].replace("alice", "")
    assert "15" in message
    assert not re.search(r"[A-Za-z]{2,}", message)
    # The admin login counts the same failures (one lock per username + address).
    assert client_login_status("alice") == 429

    let_the_cool_off_pass()
    token = api_client.post(TOKEN, right, format="json")
    assert token.status_code == 200
    assert token.json()["token"] == Token.objects.get(user__username="alice").key


def client_login_status(username):
    from django.test import Client

    return (
        Client()
        .post(LOGIN, {"username": username, "password": "pass-word-123"})
        .status_code
    )


def test_a_successful_token_request_resets_the_count(api_client):
    UserFactory(username="alice")
    wrong = {"username": "alice", "password": "wrong-password"}
    for _ in range(4):
        api_client.post(TOKEN, wrong, format="json")
    right = {"username": "alice", "password": "pass-word-123"}
    assert api_client.post(TOKEN, right, format="json").status_code == 200
    answers = [api_client.post(TOKEN, wrong, format="json") for _ in range(4)]
    assert {a.status_code for a in answers} == {400}


# --- throttling of money calls ------------------------------------------------------


def test_money_calls_are_throttled_per_user(
    make_account, fund, owner, grant, client_for, settings
):
    cache.clear()
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "transfers": "2/min"}
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "100.00")
    client = client_for(owner)
    body = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}

    answers = [client.post(f"{API}/transfers/", body, format="json") for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = answers[2]
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"
    [only] = refused.json()["reasons"]
    assert only["code"] == "throttled"
    assert re.fullmatch(
        r"Too many requests of this kind from your user; try again in \d+ seconds\.",
        only["message"],
    )
    source.refresh_from_db()
    assert source.cash_balance == Decimal("98.00")  # the third moved nothing
    # Reading is not throttled; other kinds and other users have their own budget.
    assert client.get(f"{API}/transfers/").status_code == 200
    other = UserFactory(username="other")
    grant(other, source)
    assert client_for(other).post(
        f"{API}/transfers/", body, format="json"
    ).status_code == (201)
    revoke = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}
    assert client.post(f"{API}/revocations/", revoke, format="json").status_code == 201


def test_the_schema_documents_the_429s(api_client, operator):
    api_client.force_authenticate(operator)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "429" in paths["/api/v1/transfers/"]["post"]["responses"]
    assert "429" in paths["/api/v1/usage/"]["post"]["responses"]
    assert "429" not in paths["/api/v1/transfers/"]["get"]["responses"]
    assert "locked_out" in str(paths["/api/v1/auth/token/"]["post"]["responses"])
