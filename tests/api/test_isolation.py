"""Tenant isolation (SPEC §1, §8): outside its reach, an object does not exist."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Folder
from coupons import services as coupon_services
from coupons.models import Coupon, CreditPool
from sharing import services as sharing_services
from tests.api.helpers import API
from tests.credit_helpers import make_cbm
from tests.factories import AccountFactory, CompanyFactory, UserFactory

MISSING = 999999


@pytest.fixture
def tenants(
    company, other_company, make_account, owner, grant, fund, transfer, revoke, charge
):
    """Company A: the customer's two accounts and a third it may not see.
    Company B: accounts with money, a transfer and a revocation of their own."""
    a1, a2, a_hidden = make_account(), make_account(), make_account()
    grant(owner, a1)
    grant(owner, a2, "use")
    fund(a1, "100.00")
    a_transfer = transfer(a1, a2, "30.00")
    a_revocation = revoke(a1, a2, "5.00")
    b1 = make_account(company=other_company)
    b2 = make_account(company=other_company)
    fund(b1, "500.00")
    b_transfer = transfer(b1, b2, "50.00")
    b_revocation = revoke(b1, b2, "10.00")
    charge(b2, "1.00")
    return {
        "a1": a1,
        "a2": a2,
        "a_hidden": a_hidden,
        "b1": b1,
        "b2": b2,
        "a_transfer": a_transfer.pk,
        "a_revocation": a_revocation.pk,
        "b_transfer": b_transfer.pk,
        "b_revocation": b_revocation.pk,
    }


ACCOUNT_URLS = [
    ("get", "/accounts/{id}/", None),
    ("get", "/accounts/{id}/transferable/", None),
    ("get", "/accounts/{id}/revocable/?destination={other}", None),
    ("get", "/accounts/{id}/ledger/", None),
    ("post", "/accounts/{id}/top-ups/", {"amount": "1.00"}),
    ("post", "/accounts/{id}/settle/", None),
    ("post", "/accounts/{id}/access/", {"user": "{me}", "permission": "owner"}),
    ("patch", "/accounts/{id}/", {"name": "Mine now"}),
]


def _request(client, method, url, body):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, body, format="json")


def _body(body, user):
    if body is None:
        return None
    return {k: user.pk if v == "{me}" else v for k, v in body.items()}


def _assert_same_404(response, missing):
    assert response.status_code == 404, response.content
    assert missing.status_code == 404
    assert response.content == missing.content
    assert response["Content-Type"] == missing["Content-Type"]


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_URLS)
@pytest.mark.parametrize("name", ["b1", "b2", "a_hidden"])
def test_customer_gets_the_missing_id_404_for_accounts_out_of_reach(
    tenants, owner, client_for, db_state, method, path, body, name
):
    client = client_for(owner)
    other = tenants["a1"].pk
    before = db_state()

    response = _request(
        client,
        method,
        API + path.format(id=tenants[name].pk, other=other),
        _body(body, owner),
    )
    missing = _request(
        client, method, API + path.format(id=MISSING, other=other), _body(body, owner)
    )

    _assert_same_404(response, missing)
    assert db_state() == before


@pytest.mark.parametrize(
    ("path", "key"),
    [("transfers", "b_transfer"), ("revocations", "b_revocation")],
)
def test_customer_gets_the_missing_id_404_for_other_companies_movements(
    tenants, owner, client_for, path, key
):
    client = client_for(owner)

    response = client.get(f"{API}/{path}/{tenants[key]}/")
    missing = client.get(f"{API}/{path}/{MISSING}/")

    _assert_same_404(response, missing)


def test_customer_gets_the_missing_id_404_for_another_company(
    tenants, owner, other_company, client_for
):
    client = client_for(owner)

    for suffix in ["", "verify/"]:
        method = client.get if not suffix else client.post
        response = method(f"{API}/companies/{other_company.pk}/{suffix}")
        missing = method(f"{API}/companies/{MISSING}/{suffix}")
        _assert_same_404(response, missing)


def test_lists_show_only_what_the_customer_may_see(tenants, owner, company, client_for):
    client = client_for(owner)

    accounts = client.get(f"{API}/accounts/").json()
    companies = client.get(f"{API}/companies/").json()
    transfers = client.get(f"{API}/transfers/").json()
    revocations = client.get(f"{API}/revocations/").json()

    assert [a["id"] for a in accounts["results"]] == [
        tenants["a1"].pk,
        tenants["a2"].pk,
    ]
    assert accounts["count"] == 2
    assert [c["id"] for c in companies["results"]] == [company.pk]
    assert [t["id"] for t in transfers["results"]] == [tenants["a_transfer"]]
    assert transfers["count"] == 1
    assert [r["id"] for r in revocations["results"]] == [tenants["a_revocation"]]
    assert revocations["count"] == 1


def test_ledger_of_a_visible_account_is_its_own(tenants, owner, client_for):
    response = client_for(owner).get(f"{API}/accounts/{tenants['a2'].pk}/ledger/")

    assert response.status_code == 200
    kinds = [line["kind"] for line in response.json()["results"]]
    assert kinds == ["revocation", "transfer"]


# --- ids in the body ------------------------------------------------------------


def _invalid_pk_message(response, field, pk):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {field}
    return [m.replace(f'"{pk}"', '"ID"') for m in body[field]]


@pytest.mark.parametrize("path", ["transfers", "revocations"])
@pytest.mark.parametrize("field", ["source", "destination"])
@pytest.mark.parametrize("name", ["b1", "b2"])
def test_naming_another_companys_account_reads_like_a_missing_id(
    tenants, owner, client_for, db_state, path, field, name
):
    client = client_for(owner)
    body = {"source": tenants["a1"].pk, "destination": tenants["a2"].pk}
    before = db_state()

    theirs = client.post(
        f"{API}/{path}/",
        {**body, field: tenants[name].pk, "amount": "1.00"},
        format="json",
    )
    missing = client.post(
        f"{API}/{path}/", {**body, field: MISSING, "amount": "1.00"}, format="json"
    )

    assert _invalid_pk_message(theirs, field, tenants[name].pk) == (
        _invalid_pk_message(missing, field, MISSING)
    )
    assert db_state() == before


def test_an_invisible_account_of_the_own_company_is_no_source(
    tenants, owner, client_for, db_state
):
    client = client_for(owner)
    before = db_state()

    hidden = tenants["a_hidden"].pk
    response = client.post(
        f"{API}/transfers/",
        {"source": hidden, "destination": tenants["a1"].pk, "amount": "1.00"},
        format="json",
    )
    missing = client.post(
        f"{API}/transfers/",
        {"source": MISSING, "destination": tenants["a1"].pk, "amount": "1.00"},
        format="json",
    )

    assert _invalid_pk_message(response, "source", hidden) == _invalid_pk_message(
        missing, "source", MISSING
    )
    assert db_state() == before


def test_revocable_query_naming_another_companys_account_reads_like_a_missing_id(
    tenants, owner, client_for
):
    client = client_for(owner)
    url = f"{API}/accounts/{tenants['a1'].pk}/revocable/"

    theirs = client.get(url, {"destination": tenants["b2"].pk})
    missing = client.get(url, {"destination": MISSING})

    assert _invalid_pk_message(theirs, "destination", tenants["b2"].pk) == (
        _invalid_pk_message(missing, "destination", MISSING)
    )


def test_other_body_references_read_like_a_missing_id(
    tenants, owner, other_company, client_for, db_state
):
    """Even on endpoints the customer may not use, a reference to something out
    of its reach is a 400 like a missing id, never a 403 that confirms it."""
    client = client_for(owner)
    stranger = UserFactory()
    before = db_state()

    account = {"uid": "4000000000000001", "name": "N", "currency": "CNY"}
    company_theirs = client.post(
        f"{API}/accounts/", {**account, "company": other_company.pk}, format="json"
    )
    company_missing = client.post(
        f"{API}/accounts/", {**account, "company": MISSING}, format="json"
    )
    access = f"{API}/accounts/{tenants['a1'].pk}/access/"
    user_theirs = client.post(
        access, {"user": stranger.pk, "permission": "use"}, format="json"
    )
    user_missing = client.post(
        access, {"user": MISSING, "permission": "use"}, format="json"
    )
    usage = {
        "external_id": "bill-1",
        "product": "ecs",
        "bill_type": "subscription",
        "usage_start": "2025-03-01T10:00:00Z",
        "usage_end": "2025-03-01T11:00:00Z",
        "amount": "5.00",
        "billed_at": "2025-03-02T00:00:00Z",
    }
    usage_theirs = client.post(
        f"{API}/usage/", {**usage, "account": tenants["b1"].pk}, format="json"
    )
    usage_missing = client.post(
        f"{API}/usage/", {**usage, "account": MISSING}, format="json"
    )

    assert _invalid_pk_message(company_theirs, "company", other_company.pk) == (
        _invalid_pk_message(company_missing, "company", MISSING)
    )
    assert _invalid_pk_message(user_theirs, "user", stranger.pk) == (
        _invalid_pk_message(user_missing, "user", MISSING)
    )
    assert _invalid_pk_message(usage_theirs, "account", tenants["b1"].pk) == (
        _invalid_pk_message(usage_missing, "account", MISSING)
    )
    assert db_state() == before


# --- the target rule ------------------------------------------------------------


def test_any_account_of_the_own_verified_company_may_be_named_as_destination(
    tenants, owner, client_for
):
    client = client_for(owner)
    hidden = tenants["a_hidden"]

    response = client.post(
        f"{API}/transfers/",
        {"source": tenants["a1"].pk, "destination": hidden.pk, "amount": "12.34"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["destination"] == hidden.pk
    assert response.json()["revocable_amount"] == "12.34"
    hidden.refresh_from_db()
    assert hidden.transferred_in_balance == hidden.cash_balance
    assert f"{hidden.cash_balance:.2f}" == "12.34"
    # Named as a target, still not visible.
    assert client.get(f"{API}/accounts/{hidden.pk}/").status_code == 404
    assert client.get(f"{API}/accounts/{hidden.pk}/ledger/").status_code == 404
    revocable = client.get(
        f"{API}/accounts/{tenants['a1'].pk}/revocable/", {"destination": hidden.pk}
    )
    assert revocable.status_code == 200
    assert revocable.json()["revocable_amount"] == "12.34"
    back = client.post(
        f"{API}/revocations/",
        {"source": tenants["a1"].pk, "destination": hidden.pk, "amount": "2.34"},
        format="json",
    )
    assert back.status_code == 201, back.content
    hidden.refresh_from_db()
    assert f"{hidden.cash_balance:.2f}" == "10.00"


def test_answers_about_a_hidden_target_never_give_its_balances(
    tenants, owner, operator, client_for, charge
):
    """SPEC §1, §8: towards a destination the user cannot see, a transfer's
    response and the revocable amount give the amount and the binding term's
    name (and the pair's own remaining term), never the destination's balances."""
    client = client_for(owner)
    source, hidden = tenants["a1"], tenants["a_hidden"]
    services.top_up(account=hidden, amount=Decimal("500.00"), actor=operator)
    charge(hidden, "3.00")

    sent = client.post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": hidden.pk, "amount": "10.00"},
        format="json",
    )
    detail = client.get(f"{API}/transfers/{sent.json()['id']}/")
    revocable = client.get(
        f"{API}/accounts/{source.pk}/revocable/", {"destination": hidden.pk}
    )
    visible = client.get(
        f"{API}/accounts/{source.pk}/revocable/", {"destination": tenants["a2"].pk}
    )

    assert sent.status_code == 201, sent.content
    # unspent transferred-in 10.00 - 3.00 binds (available is 507.00).
    assert {k: sent.json()[k] for k in ("revocable_amount", "revocable_binding")} == {
        "revocable_amount": "7.00",
        "revocable_binding": "unspent_transferred_in",
    }
    assert set(sent.json()) == {
        "id",
        "source",
        "destination",
        "amount",
        "currency",
        "created_at",
        "actor",
        "revocable_amount",
        "revocable_binding",
    }
    assert detail.json() == sent.json()
    assert revocable.status_code == 200
    assert revocable.json() == {
        "source": source.pk,
        "destination": hidden.pk,
        "remaining_revocable": "10.00",
        "revocable_amount": "7.00",
        "binding": "unspent_transferred_in",
    }
    # a2 is visible to the owner (use): its balances are terms it may read.
    assert set(visible.json()) == {
        "source",
        "destination",
        "unspent_transferred_in",
        "remaining_revocable",
        "available_balance",
        "revocable_amount",
        "binding",
    }
    as_operator = client_for(operator).get(
        f"{API}/accounts/{source.pk}/revocable/", {"destination": hidden.pk}
    )
    assert as_operator.json()["available_balance"] == "507.00"
    assert as_operator.json()["unspent_transferred_in"] == "7.00"


def test_no_other_account_is_a_target_when_the_company_is_unverified(
    unverified_company, owner, grant, fund, client_for, db_state
):
    mine = AccountFactory(company=unverified_company)
    hidden = AccountFactory(company=unverified_company)
    grant(owner, mine)
    fund(mine, "10.00")
    before = db_state()

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": mine.pk, "destination": hidden.pk, "amount": "1.00"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "destination": [f'Invalid pk "{hidden.pk}" - object does not exist.']
    }
    assert db_state() == before


def test_linking_to_a_second_company_makes_its_accounts_targets(
    tenants, owner, grant, client_for
):
    client = client_for(owner)
    grant(owner, AccountFactory(company=tenants["b1"].company), "use")

    response = client.post(
        f"{API}/transfers/",
        {"source": tenants["a1"].pk, "destination": tenants["b1"].pk, "amount": "1"},
        format="json",
    )

    # Now a valid target, so the business rule answers, not a 400.
    assert response.status_code == 409, response.content
    assert [r["code"] for r in response.json()["reasons"]] == ["different_company"]
    assert client.get(f"{API}/accounts/{tenants['b1'].pk}/").status_code == 404


# --- CBM and operator -----------------------------------------------------------


def test_cbm_sees_only_the_companies_assigned_to_it(
    tenants, cbm, other_company, client_for
):
    other_company.business_manager = cbm
    other_company.save()
    unassigned = CompanyFactory(business_manager=UserFactory())
    client = client_for(cbm)

    companies = client.get(f"{API}/companies/").json()
    accounts = client.get(f"{API}/accounts/").json()
    transfers = client.get(f"{API}/transfers/").json()

    assert [c["id"] for c in companies["results"]] == [other_company.pk]
    assert [a["id"] for a in accounts["results"]] == [
        tenants["b1"].pk,
        tenants["b2"].pk,
    ]
    assert [t["id"] for t in transfers["results"]] == [tenants["b_transfer"]]
    b1 = client.get(f"{API}/accounts/{tenants['b1'].pk}/")
    assert b1.status_code == 200
    assert b1.json()["cash_balance"] == "460.00"
    missing = client.get(f"{API}/accounts/{MISSING}/")
    for name in ["a1", "a2", "a_hidden"]:
        _assert_same_404(client.get(f"{API}/accounts/{tenants[name].pk}/"), missing)
    _assert_same_404(
        client.get(f"{API}/companies/{unassigned.pk}/"),
        client.get(f"{API}/companies/{MISSING}/"),
    )
    _assert_same_404(
        client.get(f"{API}/transfers/{tenants['a_transfer']}/"),
        client.get(f"{API}/transfers/{MISSING}/"),
    )


def test_cbm_cannot_name_an_unassigned_company(tenants, cbm, company, client_for):
    client = client_for(cbm)
    body = {"uid": "4000000000000001", "name": "N", "currency": "CNY"}

    theirs = client.post(
        f"{API}/accounts/", {**body, "company": company.pk}, format="json"
    )
    missing = client.post(
        f"{API}/accounts/", {**body, "company": MISSING}, format="json"
    )

    assert _invalid_pk_message(theirs, "company", company.pk) == (
        _invalid_pk_message(missing, "company", MISSING)
    )


def test_operator_sees_everything(
    tenants, operator, company, other_company, client_for
):
    client = client_for(operator)

    accounts = client.get(f"{API}/accounts/").json()
    companies = client.get(f"{API}/companies/").json()
    transfers = client.get(f"{API}/transfers/").json()
    revocations = client.get(f"{API}/revocations/").json()

    assert [a["id"] for a in accounts["results"]] == sorted(
        tenants[n].pk for n in ["a1", "a2", "a_hidden", "b1", "b2"]
    )
    assert {c["id"] for c in companies["results"]} == {company.pk, other_company.pk}
    assert {t["id"] for t in transfers["results"]} == {
        tenants["a_transfer"],
        tenants["b_transfer"],
    }
    assert {r["id"] for r in revocations["results"]} == {
        tenants["a_revocation"],
        tenants["b_revocation"],
    }
    for name in ["a1", "a2", "a_hidden", "b1", "b2"]:
        pk = tenants[name].pk
        for suffix in ["", "transferable/", "ledger/"]:
            assert client.get(f"{API}/accounts/{pk}/{suffix}").status_code == 200
    b2 = client.get(f"{API}/accounts/{tenants['b2'].pk}/").json()
    assert b2["cash_balance"] == "40.00"
    assert b2["uncleared_amount"] == "1.00"
    assert b2["available_balance"] == "39.00"
    detail = client.get(f"{API}/transfers/{tenants['b_transfer']}/")
    assert detail.status_code == 200
    assert detail.json()["amount"] == "50.00"


# --- the resource directory ------------------------------------------------------


def test_folders_list_only_the_accounts_the_customer_may_see(
    tenants, owner, company, other_company, client_for
):
    """a_hidden sits in the same root folder as a1 and a2; the customer may name
    it as a target but gets 404 for it, so no folder lists its id."""
    client = client_for(owner)
    root = Folder.objects.get(company=company, parent__isnull=True)
    theirs = Folder.objects.get(company=other_company, parent__isnull=True)
    mine = sorted([tenants["a1"].pk, tenants["a2"].pk])

    detail = client.get(f"{API}/folders/{root.pk}/")
    listed = client.get(f"{API}/folders/").json()

    assert detail.status_code == 200
    assert detail.json()["accounts"] == mine
    assert [(f["id"], f["accounts"]) for f in listed["results"]] == [(root.pk, mine)]
    assert client.get(f"{API}/accounts/{tenants['a_hidden'].pk}/").status_code == 404
    _assert_same_404(
        client.get(f"{API}/folders/{theirs.pk}/"),
        client.get(f"{API}/folders/{MISSING}/"),
    )


def test_an_operator_sees_every_account_of_a_folder(
    tenants, operator, company, client_for
):
    root = Folder.objects.get(company=company, parent__isnull=True)

    detail = client_for(operator).get(f"{API}/folders/{root.pk}/")

    assert detail.json()["accounts"] == sorted(
        tenants[n].pk for n in ("a1", "a2", "a_hidden")
    )


def test_the_folder_company_filter_must_be_an_id(tenants, owner, client_for):
    response = client_for(owner).get(f"{API}/folders/", {"company": "abc"})

    assert response.status_code == 400
    assert set(response.json()) == {"company"}


# --- equity asset sharing (SPEC §4) ------------------------------------------------

T_SHARE = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def sharing(tenants, operator, company, other_company):
    """Each company's savings plan shared with its second account, a folder
    share, a rule, and usage that the plan deducted (company B's out of reach)."""
    made = {}
    for side, owner_key, recipient_key, its_company in (
        ("a", "a1", "a2", company),
        ("b", "b1", "b2", other_company),
    ):
        owner, recipient = tenants[owner_key], tenants[recipient_key]
        plan = sharing_services.provision_asset(
            type="savings_plan",
            owner=owner,
            valid_from=datetime(2025, 3, 1, tzinfo=UTC),
            valid_until=datetime(2025, 4, 1, tzinfo=UTC),
            products=[],
            commitment_per_hour=Decimal("5.00"),
            actor=operator,
        )
        folder = services.create_folder(
            company=its_company, name=f"Shared {side}", actor=operator
        )
        with mock.patch("django.utils.timezone.now", return_value=T_SHARE):
            sharing_services.share_with_accounts(
                asset=plan, accounts=[recipient], actor=operator
            )
            sharing_services.share_with_folder(
                asset=plan, folder=folder, actor=operator
            )
        usage, _created = sharing_services.record_usage(
            external_id=f"{side}-1",
            account=recipient,
            product="ecs",
            bill_type="pay_as_you_go",
            usage_start=T_SHARE + timedelta(hours=1),
            usage_end=T_SHARE + timedelta(hours=2),
            amount=Decimal("3.00"),
            billed_at=T_SHARE + timedelta(days=1),
            actor=operator,
        )
        rule = sharing_services.create_sharing_rule(
            owner=owner, asset_types=["coupon"], accounts=[recipient], actor=operator
        )
        made.update(
            {
                f"{side}_plan": plan.pk,
                f"{side}_folder": folder.pk,
                f"{side}_usage": usage.pk,
                f"{side}_deduction": usage.deductions.get().pk,
                f"{side}_rule": rule.pk,
            }
        )
    return made


#: Every URL of an asset; ``{account}`` and ``{folder}`` are the customer's own.
ASSET_URLS = [
    ("get", "/assets/{id}/", None),
    ("get", "/assets/{id}/shares/", None),
    ("post", "/assets/{id}/shares/", {"accounts": ["{account}"]}),
    ("post", "/assets/{id}/shares/", {"folder": "{folder}"}),
    ("delete", "/assets/{id}/shares/{account}/", None),
    ("delete", "/assets/{id}/folder-shares/{folder}/", None),
    ("get", "/assets/{id}/recipients/", None),
    ("get", "/assets/{id}/recipients/?active_at=2025-03-20T00:00:00Z", None),
    ("put", "/assets/{id}/recipient-rules/{account}/", {"excluded_products": []}),
]


def _fill_ids(body, ids):
    if body is None:
        return None
    fill = {f"{{{k}}}": v for k, v in ids.items()}
    return {
        k: [fill.get(x, x) for x in v] if isinstance(v, list) else fill.get(v, v)
        for k, v in body.items()
    }


@pytest.mark.parametrize(("method", "path", "body"), ASSET_URLS)
def test_another_companys_asset_answers_like_a_missing_id(
    tenants, sharing, owner, client_for, db_state, method, path, body
):
    client = client_for(owner)
    ids = {"account": tenants["a2"].pk, "folder": sharing["a_folder"]}
    before = db_state()

    def send(asset):
        url = API + path.format(id=asset, **ids)
        return _request(client, method, url, _fill_ids(body, ids))

    _assert_same_404(send(sharing["b_plan"]), send(MISSING))
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"),
    [
        ("delete", "/assets/{id}/shares/{other}/", None, "account"),
        ("delete", "/assets/{id}/folder-shares/{other}/", None, "folder"),
        (
            "put",
            "/assets/{id}/recipient-rules/{other}/",
            {"excluded_products": []},
            "account",
        ),
    ],
)
def test_another_companys_account_or_folder_in_the_path_is_a_missing_id(
    tenants, sharing, owner, client_for, db_state, method, path, body, kind
):
    client = client_for(owner)
    theirs = tenants["b2"].pk if kind == "account" else sharing["b_folder"]
    before = db_state()

    def send(other):
        url = API + path.format(id=sharing["a_plan"], other=other)
        return _request(client, method, url, body)

    _assert_same_404(send(theirs), send(MISSING))
    assert db_state() == before


def test_a_recipient_rule_of_an_account_the_customer_only_names_is_a_missing_id(
    tenants, sharing, owner, client_for
):
    """a_hidden may be named as a target (shared with), never administered."""
    client = client_for(owner)
    url = f"{API}/assets/{sharing['a_plan']}/recipient-rules/"
    body = {"excluded_products": []}

    hidden = client.put(f"{url}{tenants['a_hidden'].pk}/", body, format="json")
    missing = client.put(f"{url}{MISSING}/", body, format="json")

    _assert_same_404(hidden, missing)


def test_sharing_lists_show_only_what_the_customer_may_see(
    tenants, sharing, owner, client_for
):
    client = client_for(owner)

    def ids(path, **query):
        response = client.get(f"{API}/{path}/", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("assets") == [sharing["a_plan"]]
    assert ids("assets", owner=tenants["b1"].pk) == []
    assert ids("usage") == [sharing["a_usage"]]
    assert ids("usage", account=tenants["b2"].pk) == []
    assert ids("deductions") == [sharing["a_deduction"]]
    assert ids("deductions", asset=sharing["b_plan"]) == []
    assert ids("deductions", account=tenants["b1"].pk) == []
    assert ids("sharing-rules") == [sharing["a_rule"]]
    assert ids("sharing-rules", owner=tenants["b1"].pk) == []
    assert ids(f"assets/{sharing['a_plan']}/recipients") != []


def test_the_operator_sees_every_companys_sharing(
    tenants, sharing, operator, client_for
):
    client = client_for(operator)

    for path, key in [
        ("assets", "plan"),
        ("usage", "usage"),
        ("deductions", "deduction"),
        ("sharing-rules", "rule"),
    ]:
        listed = {row["id"] for row in client.get(f"{API}/{path}/").json()["results"]}
        assert listed == {sharing[f"a_{key}"], sharing[f"b_{key}"]}, path


SHARING_BODIES = [
    ("/assets/", {"owner": "{theirs}"}, "owner", "account"),
    ("/assets/{a_plan}/shares/", {"accounts": ["{theirs}"]}, "accounts", "account"),
    ("/assets/{a_plan}/shares/", {"folder": "{theirs}"}, "folder", "folder"),
    ("/sharing-rules/", {"owner": "{theirs}"}, "owner", "account"),
    ("/sharing-rules/", {"accounts": ["{theirs}"]}, "accounts", "account"),
    ("/sharing-rules/", {"folder": "{theirs}"}, "folder", "folder"),
]


@pytest.mark.parametrize(("path", "override", "field", "kind"), SHARING_BODIES)
def test_naming_another_companys_object_in_a_sharing_body_reads_like_a_missing_id(
    tenants, sharing, owner, client_for, db_state, path, override, field, kind
):
    client = client_for(owner)
    url = API + path.format(a_plan=sharing["a_plan"])
    base = {
        "/assets/": {
            "type": "coupon",
            "owner": tenants["a1"].pk,
            "valid_from": "2025-03-01T00:00:00Z",
            "valid_until": "2025-04-01T00:00:00Z",
            "products": [],
            "face_value": "10.00",
            "bill_types": [],
        },
        "/sharing-rules/": {
            "owner": tenants["a1"].pk,
            "asset_types": ["coupon"],
        },
    }.get(path, {})
    theirs = tenants["b2"].pk if kind == "account" else sharing["b_folder"]
    before = db_state()

    def send(pk):
        body = {**base, **_fill_ids(override, {"theirs": pk})}
        return client.post(url, body, format="json")

    assert _flat_messages(send(theirs), field, theirs) == _flat_messages(
        send(MISSING), field, MISSING
    )
    assert db_state() == before


def _flat_messages(response, field, pk):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {field}
    errors = body[field]
    if isinstance(errors, dict):  # a list field's errors, by index
        errors = [m for messages in errors.values() for m in messages]
    return [m.replace(f'"{pk}"', '"ID"') for m in errors]


# --- coupon credit pools (SPEC §5) ------------------------------------------------


@pytest.fixture
def pools(tenants, company, other_company, operator, owner):
    """Each company's CBM, an approved pool of its management account (a1, b1)
    and a coupon issued from it; a CBM of company A (``a_cbm``)."""
    made = {}
    for side, manager_key, its_company in (
        ("a", "a1", company),
        ("b", "b1", other_company),
    ):
        manager = tenants[manager_key]
        services.set_management_account(
            company=its_company, account=manager, actor=operator
        )
        cbm = make_cbm(f"cbm-{side}")
        its_company.business_manager = cbm
        its_company.save(update_fields=["business_manager"])
        pool = coupon_services.request_pool(
            company=its_company,
            distribution_target="enterprise_management_account",
            management_account=manager,
            products=[],
            bill_types=["subscription"],
            valid_from=timezone.now() - timedelta(days=1),
            valid_until=timezone.now() + timedelta(days=30),
            amount=Decimal("100.00"),
            actor=cbm,
        )
        pool = coupon_services.approve_pool(pool=pool, actor=operator)
        (coupon,) = coupon_services.issue_coupons(
            pool=pool,
            accounts=[manager],
            count=1,
            face_value=Decimal("10.00"),
            actor=operator,
        )
        made.update(
            {f"{side}_cbm": cbm, f"{side}_pool": pool.pk, f"{side}_coupon": coupon.pk}
        )
    return made


POOL_URLS = [
    ("get", "/credit-pools/{id}/", None),
    ("post", "/credit-pools/{id}/approve/", None),
    ("post", "/credit-pools/{id}/reject/", {"reason": "No."}),
    (
        "post",
        "/credit-pools/{id}/coupons/",
        {"accounts": ["{account}"], "count": 1, "face_value": "1.00"},
    ),
    ("post", "/credit-pools/{id}/coupons/", {"products": ["ecs"]}),
]
COUPON_URLS = [
    ("get", "/coupons/{id}/", None),
    ("post", "/coupons/{id}/revoke/", None),
]


def _pool_state():
    return {
        "pools": list(
            CreditPool.objects.order_by("pk").values_list("pk", "status", "remaining")
        ),
        "coupons": list(
            Coupon.objects.order_by("pk").values_list(
                "pk", "revoked_amount", "asset__remaining"
            )
        ),
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"),
    [(*url, "pool") for url in POOL_URLS] + [(*url, "coupon") for url in COUPON_URLS],
)
@pytest.mark.parametrize("role", ["customer", "cbm"])
def test_another_companys_pool_or_coupon_answers_like_a_missing_id(
    tenants, pools, owner, client_for, db_state, method, path, body, kind, role
):
    """Company A's customer and company A's CBM, for company B's pool and coupon
    (with the customer's own account in the body)."""
    client = client_for(owner if role == "customer" else pools["a_cbm"])
    ids = {"account": tenants["a1"].pk}
    before = (db_state(), _pool_state())

    def send(pk):
        url = API + path.format(id=pk)
        return _request(client, method, url, _fill_ids(body, ids))

    _assert_same_404(send(pools[f"b_{kind}"]), send(MISSING))
    assert (db_state(), _pool_state()) == before


def test_pools_and_coupons_are_listed_within_reach(
    tenants, pools, owner, operator, client_for
):
    def ids(user, path, **query):
        response = client_for(user).get(f"{API}/{path}/", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    for user in (owner, pools["a_cbm"]):
        assert ids(user, "credit-pools") == [pools["a_pool"]]
        assert ids(user, "credit-pools", company=tenants["b1"].company_id) == []
        assert ids(user, "coupons") == [pools["a_coupon"]]
        assert ids(user, "coupons", pool=pools["b_pool"]) == []
        assert ids(user, "coupons", account=tenants["b1"].pk) == []
    assert ids(pools["b_cbm"], "credit-pools") == [pools["b_pool"]]
    assert ids(pools["b_cbm"], "coupons") == [pools["b_coupon"]]
    assert set(ids(operator, "credit-pools")) == {pools["a_pool"], pools["b_pool"]}
    assert set(ids(operator, "coupons")) == {pools["a_coupon"], pools["b_coupon"]}


def _pool_body(tenants, company):
    return {
        "company": company.pk,
        "distribution_target": "enterprise_management_account",
        "management_account": tenants["a1"].pk,
        "products": [],
        "bill_types": ["subscription"],
        "valid_from": "2030-01-01T00:00:00Z",
        "valid_until": "2030-02-01T00:00:00Z",
        "amount": "10.00",
    }


@pytest.mark.parametrize(
    ("path", "field", "kind"),
    [
        ("/credit-pools/", "company", "company"),
        ("/credit-pools/", "management_account", "account"),
        ("/credit-pools/{a_pool}/coupons/", "accounts", "account"),
    ],
)
@pytest.mark.parametrize("role", ["customer", "cbm"])
def test_naming_another_companys_object_in_a_pool_body_reads_like_a_missing_id(
    tenants, pools, company, owner, client_for, db_state, path, field, kind, role
):
    client = client_for(owner if role == "customer" else pools["a_cbm"])
    url = API + path.format(a_pool=pools["a_pool"])
    if "coupons" in path:
        base = {"accounts": [tenants["a1"].pk], "count": 1, "face_value": "1.00"}
    else:
        base = _pool_body(tenants, company)
    theirs = tenants["b1"].company_id if kind == "company" else tenants["b1"].pk
    before = (db_state(), _pool_state())

    def send(pk):
        value = [pk] if isinstance(base[field], list) else pk
        return client.post(url, {**base, field: value}, format="json")

    assert _flat_messages(send(theirs), field, theirs) == _flat_messages(
        send(MISSING), field, MISSING
    )
    assert (db_state(), _pool_state()) == before
