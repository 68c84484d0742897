"""The order of checks (SPEC §8): 401 → 404 → 400 → 403 → idempotency → 409."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Account, Company, Movement
from sharing.services import provision_asset
from tests.api.helpers import API
from tests.factories import UserFactory

NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}


@pytest.fixture
def world(company, other_company, make_account, fund, transfer, grant, owner):
    """Company A with the customer's account, company B out of its reach."""
    mine = make_account()
    theirs = make_account(company=other_company)
    grant(owner, mine)
    fund(mine, "100.00")
    fund(theirs, "100.00")
    movement = transfer(mine, make_account(), "10.00")
    return {
        "company": company.pk,
        "other_company": other_company.pk,
        "mine": mine.pk,
        "theirs": theirs.pk,
        "transfer": movement.pk,
    }


# --- 401 ------------------------------------------------------------------------

UNAUTHENTICATED_REQUESTS = [
    ("get", "/accounts/"),
    ("get", "/accounts/{mine}/"),
    ("get", "/accounts/{theirs}/"),
    ("get", "/accounts/999999/"),
    ("patch", "/accounts/999999/"),
    ("get", "/accounts/{mine}/ledger/"),
    ("get", "/accounts/{mine}/transferable/"),
    ("get", "/accounts/{mine}/revocable/?destination=1"),
    ("post", "/accounts/{mine}/top-ups/"),
    ("post", "/accounts/{mine}/settle/"),
    ("post", "/accounts/{mine}/access/"),
    ("post", "/accounts/"),
    ("get", "/companies/"),
    ("get", "/companies/{company}/"),
    ("post", "/companies/{company}/verify/"),
    ("post", "/companies/"),
    ("post", "/users/"),
    ("get", "/transfers/"),
    ("post", "/transfers/"),
    ("get", "/transfers/{transfer}/"),
    ("get", "/revocations/"),
    ("post", "/revocations/"),
    ("get", "/revocations/999999/"),
    ("post", "/usage/"),
    ("delete", "/transfers/"),
    ("get", "/no-such-endpoint/"),
    ("post", "/no/such/path/"),
    ("get", "/accounts/not-a-number/"),
    ("get", "/"),
]


@pytest.mark.parametrize(("method", "path"), UNAUTHENTICATED_REQUESTS)
def test_unauthenticated_is_401_before_anything(
    api_client, world, db_state, method, path
):
    before = db_state()

    url = API + path.format(**world)
    if method == "get":
        response = api_client.get(url)
    else:
        response = getattr(api_client, method)(
            url, '{"amount": "-1", "bad', content_type="application/json"
        )

    assert response.status_code == 401, response.content
    assert response.json() == NO_CREDENTIALS
    assert response["WWW-Authenticate"] == "Token"
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/accounts/{mine}/"), ("post", "/transfers/"), ("get", "/nothing/")],
)
def test_a_bad_token_is_401(api_client, world, method, path):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    url = API + path.format(**world)
    if method == "get":
        response = api_client.get(url)
    else:
        response = getattr(api_client, method)(url, {}, format="json")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_unknown_path_is_a_json_404_once_authenticated(owner, client_for):
    response = client_for(owner).get(f"{API}/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- 404 before 400 and 403 -----------------------------------------------------

PATH_REQUESTS = [
    ("patch", "/accounts/{id}/", {"status": "bogus", "surprise": 1}),
    ("post", "/accounts/{id}/access/", {"permission": "emperor"}),
    ("post", "/accounts/{id}/top-ups/", {"amount": "-1.505"}),
    ("post", "/accounts/{id}/settle/", {"surprise": 1}),
    ("get", "/accounts/{id}/revocable/", {"destination": "abc"}),
    ("get", "/accounts/{id}/", None),
    ("get", "/accounts/{id}/ledger/", None),
    ("get", "/accounts/{id}/transferable/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PATH_REQUESTS)
@pytest.mark.parametrize("target", ["theirs", "missing"])
def test_path_object_not_visible_is_404_even_with_a_bad_body(
    owner, client_for, world, db_state, method, path, body, target
):
    pk = world["theirs"] if target == "theirs" else 999999
    before = db_state()
    client = client_for(owner)

    if method == "get":
        response = client.get(API + path.format(id=pk), body)
    else:
        response = getattr(client, method)(
            API + path.format(id=pk), body, format="json"
        )

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}
    assert db_state() == before


@pytest.mark.parametrize("body", [{}, {"surprise": 1}])
def test_verifying_an_invisible_company_is_404(owner, client_for, world, body):
    response = client_for(owner).post(
        f"{API}/companies/{world['other_company']}/verify/", body, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- 400 before 403 -------------------------------------------------------------

BAD_BODIES_FOR_CUSTOMERS = [
    ("post", "/companies/", {"name": "N"}),
    ("post", "/companies/{company}/verify/", {"surprise": 1}),
    ("post", "/users/", {"username": "new", "password": "long-enough", "role": "god"}),
    ("post", "/accounts/", {"uid": "123", "name": "N", "currency": "CNY"}),
    ("patch", "/accounts/{mine}/", {"status": "deleted"}),
    ("post", "/accounts/{mine}/access/", {"user": "{me}", "permission": "emperor"}),
    ("post", "/accounts/{mine}/top-ups/", {"amount": "0"}),
    ("post", "/accounts/{mine}/settle/", {"surprise": 1}),
    ("post", "/usage/", {"external_id": "x", "account": "{mine}", "amount": "1"}),
]


def _fill(body, world, me):
    ids = {**world, "me": me.pk}
    return {
        k: ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v
        for k, v in body.items()
    }


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES_FOR_CUSTOMERS)
def test_invalid_body_is_400_even_without_permission(
    owner, client_for, world, db_state, method, path, body
):
    before = db_state()

    response = getattr(client_for(owner), method)(
        API + path.format(**world), _fill(body, world, owner), format="json"
    )

    assert response.status_code == 400, response.content
    assert "code" not in response.json()
    assert db_state() == before


def test_use_permission_with_a_bad_amount_is_400_not_403(
    make_account, grant, fund, client_for, db_state
):
    viewer = UserFactory()
    source, destination = make_account(), make_account()
    fund(source, "10.00")
    grant(viewer, source, "use")
    before = db_state()

    response = client_for(viewer).post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "1.505"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"amount"}
    assert db_state() == before


# --- 403 before 409 -------------------------------------------------------------

OPERATOR_ONLY = [
    ("post", "/companies/", {"name": "New Co", "registration_number": "NEW-1"}, None),
    ("post", "/companies/{company}/verify/", {}, None),
    (
        "post",
        "/users/",
        {"username": "new", "password": "long-enough", "role": "operator"},
        None,
    ),
    (
        "post",
        "/accounts/",
        {
            "uid": "2000000000000001",
            "name": "N",
            "company": "{company}",
            "currency": "CNY",
        },
        None,
    ),
    ("patch", "/accounts/{mine}/", {"status": "closed"}, None),
    ("post", "/accounts/{mine}/access/", {"user": "{me}", "permission": "owner"}, None),
    ("post", "/accounts/{mine}/top-ups/", {"amount": "1000.00"}, "key-top-up"),
    ("post", "/accounts/{mine}/settle/", {}, "key-settle"),
    (
        "post",
        "/usage/",
        {
            "external_id": "bill-1",
            "account": "{mine}",
            "product": "ecs",
            "bill_type": "subscription",
            "usage_start": "2025-03-01T10:00:00Z",
            "usage_end": "2025-03-01T11:00:00Z",
            "amount": "5.00",
            "billed_at": "2025-03-02T00:00:00Z",
        },
        "key-usage",
    ),
]
OPERATOR_ONLY_IDS = [
    "company_create",
    "company_verify",
    "user_create",
    "account_create",
    "account_update",
    "access_grant",
    "top_up",
    "settle",
    "usage",
]


def _assert_no_permission(response):
    assert response.status_code == 403, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "reasons"}
    assert body["code"] == "no_permission"
    assert body["detail"]
    assert [r["code"] for r in body["reasons"]] == ["no_permission"]
    assert all(set(r) == {"code", "message"} and r["message"] for r in body["reasons"])


@pytest.mark.parametrize(
    ("method", "path", "body", "key"), OPERATOR_ONLY, ids=OPERATOR_ONLY_IDS
)
@pytest.mark.parametrize("role", ["owner", "cbm"])
def test_operator_only_endpoints_are_403_for_others(
    owner, cbm, company, client_for, world, db_state, method, path, body, key, role
):
    company.business_manager = cbm
    company.save()
    user = owner if role == "owner" else cbm
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    before = db_state()

    response = getattr(client_for(user), method)(
        API + path.format(**world), _fill(body, world, user), format="json", **headers
    )

    _assert_no_permission(response)
    assert db_state() == before


@pytest.mark.parametrize("path", ["transfers", "revocations"])
@pytest.mark.parametrize("permission", ["use", None])
def test_no_manage_right_is_403_before_every_business_rule(
    make_account,
    other_company,
    grant,
    fund,
    transfer,
    client_for,
    cbm,
    db_state,
    path,
    permission,
):
    """A transfer that breaks every rule still gets only the 403."""
    source = make_account()
    foreign = make_account(company=other_company, currency="USD")
    fund(source, "10.00")
    transfer(source, make_account(), "4.00")
    if permission:
        user = UserFactory()
        grant(user, source, permission)
        grant(user, foreign, "use")
    else:  # a CBM sees its companies' accounts, but may not move money
        user = cbm
        source.company.business_manager = cbm
        source.company.save()
        other_company.business_manager = cbm
        other_company.save()
    before = db_state()

    response = client_for(user).post(
        f"{API}/{path}/",
        {"source": source.pk, "destination": foreign.pk, "amount": "5000.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    _assert_no_permission(response)
    assert str(source.uid) in response.json()["reasons"][0]["message"]
    assert db_state() == before


# --- 409 lists every reason -----------------------------------------------------


def _assert_refusal(response, codes):
    assert response.status_code == 409, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "reasons"}
    assert [r["code"] for r in body["reasons"]] == codes
    assert body["code"] == codes[0]
    assert body["detail"]
    for r in body["reasons"]:
        assert set(r) == {"code", "message"}
        assert r["message"]


def test_transfer_refusal_lists_every_failing_rule(
    make_account,
    other_company,
    grant,
    owner,
    fund,
    charge,
    set_status,
    client_for,
    db_state,
):
    source = make_account()
    destination = make_account(company=other_company, currency="USD")
    grant(owner, source)
    grant(owner, make_account(company=other_company), "use")  # links B as a target
    fund(source, "10.00")
    charge(source, "15.00")  # available -5: overdue
    set_status(destination, "frozen")
    before = db_state()

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "20.00"},
        format="json",
    )

    _assert_refusal(
        response,
        [
            "account_not_active",
            "currency_mismatch",
            "different_company",
            "source_overdue",
            "exceeds_transferable",
        ],
    )
    messages = [r["message"] for r in response.json()["reasons"]]
    assert destination.uid in messages[0]
    assert "-5.00" in messages[3]
    assert "20.00" in messages[4]
    assert "0.00" in messages[4]
    assert db_state() == before


def test_transfer_to_itself_from_an_unverified_company(
    unverified_company, make_account, grant, owner, fund, client_for, db_state
):
    source = make_account(company=unverified_company)
    grant(owner, source)
    fund(source, "10.00")
    before = db_state()

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": source.pk, "amount": "1.00"},
        format="json",
    )

    _assert_refusal(response, ["same_account", "company_not_verified"])
    assert db_state() == before


def test_revocation_refusal_lists_every_exceeded_term_binding_first(
    make_account, grant, owner, fund, transfer, charge, client_for, db_state
):
    first, second, destination = make_account(), make_account(), make_account()
    grant(owner, first)
    fund(first, "100.00")
    fund(second, "100.00")
    transfer(first, destination, "30.00")
    transfer(second, destination, "40.00")
    charge(destination, "10.00")
    # unspent transferred-in 60, remaining (first → destination) 30, available 60
    before = db_state()

    response = client_for(owner).post(
        f"{API}/revocations/",
        {"source": first.pk, "destination": destination.pk, "amount": "65.00"},
        format="json",
    )

    _assert_refusal(
        response,
        [
            "exceeds_remaining_revocable",
            "exceeds_transferred_in_balance",
            "would_cause_overdue",
        ],
    )
    messages = [r["message"] for r in response.json()["reasons"]]
    assert "30.00" in messages[0]
    assert "60.00" in messages[1]
    assert "60.00" in messages[2]
    assert db_state() == before


def test_revocation_without_a_prior_transfer_is_409(
    make_account, grant, owner, client_for, db_state
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    before = db_state()

    response = client_for(owner).post(
        f"{API}/revocations/",
        {"source": source.pk, "destination": destination.pk, "amount": "1.00"},
        format="json",
    )

    _assert_refusal(response, ["no_prior_transfer"])
    assert db_state() == before


# --- status codes ---------------------------------------------------------------


def test_creates_are_201_and_actions_are_200(
    operator, client_for, owner, make_account, fund, charge
):
    client = client_for(operator)
    company = client.post(
        f"{API}/companies/",
        {"name": "Umbrella", "registration_number": "UMB-1"},
        format="json",
    )
    assert company.status_code == 201
    verify = client.post(f"{API}/companies/{company.json()['id']}/verify/")
    assert verify.status_code == 200
    user = client.post(
        f"{API}/users/",
        {"username": "alice", "password": "long-enough", "role": "customer"},
        format="json",
    )
    assert user.status_code == 201
    account = client.post(
        f"{API}/accounts/",
        {
            "uid": "3000000000000001",
            "name": "Alice main",
            "company": company.json()["id"],
            "currency": "CNY",
        },
        format="json",
    )
    assert account.status_code == 201
    pk = account.json()["id"]
    assert (
        client.patch(f"{API}/accounts/{pk}/", {"name": "x"}, format="json").status_code
        == 200
    )
    access = client.post(
        f"{API}/accounts/{pk}/access/",
        {"user": user.json()["id"], "permission": "owner"},
        format="json",
    )
    assert access.status_code == 201
    top_up = client.post(
        f"{API}/accounts/{pk}/top-ups/", {"amount": "50"}, format="json"
    )
    assert top_up.status_code == 201
    settle = client.post(f"{API}/accounts/{pk}/settle/")
    assert settle.status_code == 200
    other = make_account(company=Company.objects.get(pk=company.json()["id"]))
    transfer = client.post(
        f"{API}/transfers/",
        {"source": pk, "destination": other.pk, "amount": "20"},
        format="json",
    )
    assert transfer.status_code == 201
    revocation = client.post(
        f"{API}/revocations/",
        {"source": pk, "destination": other.pk, "amount": "5"},
        format="json",
    )
    assert revocation.status_code == 201
    assert Movement.objects.filter(account_id=pk).count() == 3


# --- equity asset sharing (SPEC §4) ------------------------------------------------


@pytest.fixture
def assets(world, operator):
    """A savings plan of the customer's account and one of company B's."""

    def plan(owner_pk):
        return provision_asset(
            type="savings_plan",
            owner=Account.objects.get(pk=owner_pk),
            valid_from=datetime(2025, 3, 1, tzinfo=UTC),
            valid_until=datetime(2025, 4, 1, tzinfo=UTC),
            commitment_per_hour=Decimal("5.00"),
            actor=operator,
        ).pk

    return {"my_asset": plan(world["mine"]), "their_asset": plan(world["theirs"])}


SHARING_UNAUTHENTICATED = [
    ("get", "/assets/"),
    ("post", "/assets/"),
    ("get", "/assets/{my_asset}/"),
    ("get", "/assets/{their_asset}/"),
    ("get", "/assets/{my_asset}/shares/"),
    ("post", "/assets/{my_asset}/shares/"),
    ("delete", "/assets/{my_asset}/shares/{mine}/"),
    ("delete", "/assets/{my_asset}/folder-shares/999999/"),
    ("get", "/assets/{my_asset}/recipients/?active_at=bad"),
    ("put", "/assets/{my_asset}/recipient-rules/{mine}/"),
    ("get", "/sharing-rules/"),
    ("post", "/sharing-rules/"),
    ("get", "/usage/?account=x"),
    ("get", "/deductions/?asset=x"),
]


@pytest.mark.parametrize(("method", "path"), SHARING_UNAUTHENTICATED)
def test_sharing_endpoints_are_401_before_anything(
    api_client, world, assets, db_state, method, path
):
    before = db_state()

    url = API + path.format(**world, **assets)
    if method == "get":
        response = api_client.get(url)
    else:
        response = getattr(api_client, method)(
            url, '{"accounts": [1], "bad', content_type="application/json"
        )

    assert response.status_code == 401, response.content
    assert response.json() == NO_CREDENTIALS
    assert db_state() == before


ASSET_PATH_REQUESTS = [
    ("get", "/assets/{id}/", None),
    ("get", "/assets/{id}/shares/", None),
    ("post", "/assets/{id}/shares/", {"accounts": "all", "surprise": 1}),
    ("delete", "/assets/{id}/shares/{mine}/", {"surprise": 1}),
    ("get", "/assets/{id}/recipients/", {"active_at": "yesterday"}),
    ("put", "/assets/{id}/recipient-rules/{mine}/", {"excluded_products": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), ASSET_PATH_REQUESTS)
@pytest.mark.parametrize("target", ["theirs", "missing"])
def test_an_asset_out_of_reach_is_404_even_with_a_bad_body(
    owner, client_for, world, assets, db_state, method, path, body, target
):
    pk = assets["their_asset"] if target == "theirs" else 999999
    url = API + path.format(id=pk, mine=world["mine"])
    before = db_state()
    client = client_for(owner)

    if method == "get":
        response = client.get(url, body)
    else:
        response = getattr(client, method)(url, body, format="json")

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}
    assert db_state() == before


def _asset_body(world, **overrides):
    return {
        "type": "savings_plan",
        "owner": world["mine"],
        "valid_from": "2025-03-01T00:00:00Z",
        "valid_until": "2025-04-01T00:00:00Z",
        "products": [],
        "commitment_per_hour": "5.00",
        **overrides,
    }


def test_a_customer_provisioning_with_a_bad_body_gets_the_400_first(
    owner, client_for, world, db_state
):
    before = db_state()

    bad = client_for(owner).post(
        f"{API}/assets/", _asset_body(world, capacity="1.00"), format="json"
    )
    good = client_for(owner).post(
        f"{API}/assets/",
        _asset_body(world),
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-asset",
    )

    assert bad.status_code == 400
    assert set(bad.json()) == {"capacity"}
    _assert_no_permission(good)
    assert db_state() == before


def test_a_viewer_sharing_badly_gets_the_400_then_only_the_403(
    make_account, grant, client_for, world, assets, other_company, db_state
):
    """``use`` on the owner: a bad body is a 400; a body that breaks every
    rule (the owner itself, a full asset) is only the 403 not_owner."""
    viewer = UserFactory()
    grant(viewer, Account.objects.get(pk=world["mine"]), "use")
    client = client_for(viewer)
    url = f"{API}/assets/{assets['my_asset']}/shares/"
    before = db_state()

    bad = client.post(url, {"accounts": [], "folder": None}, format="json")
    refused = client.post(
        url,
        {"accounts": [world["mine"]]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-share",
    )

    assert bad.status_code == 400
    assert set(bad.json()) == {"accounts", "folder"}
    assert refused.status_code == 403
    assert [r["code"] for r in refused.json()["reasons"]] == ["not_owner"]
    assert db_state() == before


def test_a_sharing_rule_without_manage_rights_is_400_then_403(
    grant, client_for, world, db_state
):
    viewer = UserFactory()
    grant(viewer, Account.objects.get(pk=world["mine"]), "use")
    client = client_for(viewer)
    before = db_state()

    bad = client.post(
        f"{API}/sharing-rules/",
        {"owner": world["mine"], "asset_types": [], "accounts": [world["mine"]]},
        format="json",
    )
    refused = client.post(
        f"{API}/sharing-rules/",
        {
            "owner": world["mine"],
            "asset_types": ["coupon"],
            "accounts": [world["mine"]],
        },
        format="json",
    )

    assert bad.status_code == 400
    assert set(bad.json()) == {"asset_types"}
    _assert_no_permission(refused)
    assert db_state() == before


def test_sharing_refusals_are_409_after_the_permission(
    owner, client_for, world, assets, db_state
):
    before = db_state()

    response = client_for(owner).post(
        f"{API}/assets/{assets['my_asset']}/shares/",
        {"accounts": [world["mine"]]},
        format="json",
    )

    _assert_refusal(response, ["same_account"])
    assert db_state() == before
