"""The API of coupon credit pools (SPEC §5, §8): the product catalogue, a CBM's
request, an operator's decision, coupons issued from a pool, reading them and
revoking them, in the §8 check order."""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import FinancialRelationship
from accounts.services import set_management_account, terminate_relationship
from billing_portal.models import IdempotencyRecord
from coupons import services as coupon_services
from coupons.models import Coupon, CreditPool, Product
from sharing.models import Asset
from sharing.services import record_usage
from tests.api.helpers import API
from tests.coupon_fixtures import NOW
from tests.credit_helpers import make_cbm
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal
MISSING = 999999


def iso(instant) -> str:
    """A time as the API writes it (UTC, ``Z``)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def catalogue(operator):
    return [
        coupon_services.create_product(code=code, name=name, actor=operator)
        for code, name in (("ecs", "Elastic Compute"), ("oss", "Object Storage"))
    ]


@pytest.fixture
def pool_body(company, enterprise, catalogue):
    manager = enterprise[0]

    def make(**overrides):
        body = {
            "company": company.pk,
            "distribution_target": "enterprise_management_account",
            "management_account": manager.pk,
            "products": ["oss", "ecs"],
            "bill_types": ["subscription"],
            "valid_from": "2030-01-01T00:00:00Z",
            "valid_until": "2030-07-01T00:00:00Z",
            "amount": "1000.00",
        }
        body.update(overrides)
        return body

    return make


@pytest.fixture
def theirs(other_company, operator):
    """Company B: its management account, CBM, an approved pool and a coupon."""
    manager = AccountFactory(company=other_company, name="B manager")
    set_management_account(company=other_company, account=manager, actor=operator)
    cbm = make_cbm("cbm-globex")
    other_company.business_manager = cbm
    other_company.save(update_fields=["business_manager"])
    pool = coupon_services.request_pool(
        company=other_company,
        distribution_target="enterprise_management_account",
        management_account=manager,
        products=[],
        bill_types=["subscription"],
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=30),
        amount=D("100.00"),
        actor=cbm,
    )
    pool = coupon_services.approve_pool(pool=pool, actor=operator)
    (coupon,) = coupon_services.issue_coupons(
        pool=pool, accounts=[manager], count=1, face_value=D("10.00"), actor=operator
    )
    return {"manager": manager, "cbm": cbm, "pool": pool, "coupon": coupon}


def codes(response) -> list[str]:
    return [r["code"] for r in response.json()["reasons"]]


def assert_refused(response, status, expected):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "reasons"}
    assert codes(response) == expected
    assert body["code"] == expected[0]
    assert all(r["message"] for r in body["reasons"])


def missing_id_message(response, field, pk):
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    return [m.replace(f'"{pk}"', '"ID"') for m in response.json()[field]]


def written():
    """What a refused request must leave as it was."""
    return {
        "pools": list(
            CreditPool.objects.order_by("pk").values_list(
                "pk", "status", "remaining", "issued_amount", "revoked_amount"
            )
        ),
        "coupons": list(
            Coupon.objects.order_by("pk").values_list("pk", "revoked_amount")
        ),
        "assets": list(
            Asset.objects.order_by("pk").values_list("pk", "status", "remaining")
        ),
        "products": Product.objects.count(),
        "keys": IdempotencyRecord.objects.count(),
    }


# --- authentication first -----------------------------------------------------------

UNAUTHENTICATED = [
    ("get", "/products/"),
    ("post", "/products/"),
    ("get", "/credit-pools/"),
    ("post", "/credit-pools/"),
    ("get", "/credit-pools/{pool}/"),
    ("get", f"/credit-pools/{MISSING}/"),
    ("post", "/credit-pools/{pool}/approve/"),
    ("post", "/credit-pools/{pool}/reject/"),
    ("post", "/credit-pools/{pool}/coupons/"),
    ("post", f"/credit-pools/{MISSING}/coupons/"),
    ("get", "/coupons/?pool=x"),
    ("get", "/coupons/{coupon}/"),
    ("post", "/coupons/{coupon}/revoke/"),
]


@pytest.mark.parametrize(("method", "path"), UNAUTHENTICATED)
def test_unauthenticated_is_401_before_anything(api_client, theirs, method, path):
    ids = {"pool": theirs["pool"].pk, "coupon": theirs["coupon"].pk}
    before = written()

    url = API + path.format(**ids)
    if method == "get":
        response = api_client.get(url)
    else:
        response = api_client.post(
            url, '{"products": ["x"], "bad', content_type="application/json"
        )

    assert response.status_code == 401, response.content
    assert response.json() == {
        "detail": "Authentication credentials were not provided."
    }
    assert written() == before


# --- the product catalogue ------------------------------------------------------------


def test_operators_add_products_and_everyone_reads_the_catalogue(
    operator, owner, client_for
):
    op = client_for(operator)

    created = op.post(
        f"{API}/products/", {"code": "ecs", "name": "Elastic Compute"}, format="json"
    )
    op.post(f"{API}/products/", {"code": "cdn", "name": "CDN"}, format="json")
    listed = client_for(owner).get(f"{API}/products/")

    assert created.status_code == 201, created.content
    product = Product.objects.get(code="ecs")
    assert created.json() == {
        "id": product.pk,
        "code": "ecs",
        "name": "Elastic Compute",
    }
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [p["code"] for p in listed.json()["results"]] == ["cdn", "ecs"]


def test_a_product_code_is_unique_and_well_formed(operator, owner, client_for):
    op = client_for(operator)
    op.post(f"{API}/products/", {"code": "ecs", "name": "ECS"}, format="json")
    before = written()

    again = op.post(f"{API}/products/", {"code": "ecs", "name": "Other"}, format="json")
    spaced = op.post(f"{API}/products/", {"code": "e cs", "name": "X"}, format="json")
    by_customer = client_for(owner).post(
        f"{API}/products/", {"code": "rds", "name": "RDS"}, format="json"
    )
    bad_by_customer = client_for(owner).post(
        f"{API}/products/", {"code": "", "name": "RDS"}, format="json"
    )

    assert_refused(again, 409, ["product_code_taken"])
    assert again.json()["reasons"][0]["message"] == (
        "Product code ecs is already in the catalogue."
    )
    assert spaced.status_code == 400
    assert set(spaced.json()) == {"code"}
    assert_refused(by_customer, 403, ["no_permission"])
    assert bad_by_customer.status_code == 400  # the body before the permission
    assert written() == before


# --- a CBM's request ------------------------------------------------------------------


def test_the_companys_cbm_requests_a_pool(
    company, company_cbm, enterprise, pool_body, client_for
):
    manager = enterprise[0]

    response = client_for(company_cbm).post(
        f"{API}/credit-pools/",
        pool_body(products=["oss", "ecs", "oss"]),
        format="json",
    )

    assert response.status_code == 201, response.content
    pool = CreditPool.objects.get()
    body = response.json()
    assert parse_datetime(body.pop("requested_at")) == pool.requested_at
    assert body == {
        "id": pool.pk,
        "company": company.pk,
        "management_account": manager.pk,
        "distribution_target": "enterprise_management_account",
        "status": "requested",
        "amount": "1000.00",
        "issued_amount": "0.00",
        "revoked_amount": "0.00",
        "remaining_amount": "0.00",
        "currency": "CNY",
        "products": ["ecs", "oss"],
        "bill_types": ["subscription"],
        "valid_from": "2030-01-01T00:00:00Z",
        "valid_until": "2030-07-01T00:00:00Z",
        "requested_by": company_cbm.pk,
        "decided_at": None,
        "rejection_reason": "",
    }
    assert (pool.amount, pool.remaining, pool.requested_by) == (
        D("1000.00"),
        D("0.00"),
        company_cbm,
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"products": ["ecs", "nope"]}, "products"),
        ({"products": "ecs"}, "products"),
        ({"bill_types": []}, "bill_types"),
        ({"bill_types": ["monthly"]}, "bill_types"),
        ({"valid_until": "2030-01-01T00:00:00Z"}, "valid_until"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": 12.5e20}, "amount"),
        ({"company": None}, "company"),
        ({"distribution_target": ""}, "distribution_target"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_pool_request_is_400_naming_the_field(
    company_cbm, pool_body, client_for, overrides, field
):
    before = written()

    response = client_for(company_cbm).post(
        f"{API}/credit-pools/", pool_body(**overrides), format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert written() == before


def test_an_unknown_product_code_is_named_by_its_place(
    company_cbm, pool_body, client_for
):
    response = client_for(company_cbm).post(
        f"{API}/credit-pools/", pool_body(products=["ecs", "nope"]), format="json"
    )

    assert response.json() == {
        "products": {"1": ["nope is not in the product catalogue."]}
    }


@pytest.mark.parametrize("who", ["owner", "operator", "unassigned_cbm"])
def test_anyone_but_the_cbm_gets_not_cbm_for_a_valid_body(
    owner, operator, cbm, pool_body, client_for, who
):
    """A customer sees its own company and an operator every company: their
    valid body gets 403 ``not_cbm``. A CBM without companies sees neither the
    company nor its accounts, so the same body is a 400 on both (SPEC §8)."""
    user = {"owner": owner, "operator": operator, "unassigned_cbm": cbm}[who]
    before = written()

    response = client_for(user).post(
        f"{API}/credit-pools/",
        pool_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    if who == "unassigned_cbm":
        assert response.status_code == 400
        assert set(response.json()) == {"company", "management_account"}
    else:
        assert_refused(response, 403, ["not_cbm"])
        assert response.json()["reasons"][0]["message"] == (
            "Only the company's customer business manager (CBM) can request a "
            "coupon credit pool."
        )
    assert written() == before


@pytest.mark.parametrize("who", ["other_cbm", "customer"])
def test_a_company_out_of_reach_is_a_400_like_a_missing_id(
    theirs, owner, pool_body, client_for, company, who
):
    """SPEC §5: another company is unknown to a CBM; §8: body validation comes
    before the permission, so a customer naming a company it does not see gets
    the same 400 (never a 403 that would confirm the company exists)."""
    user = theirs["cbm"] if who == "other_cbm" else owner
    client = client_for(user)
    # The other CBM's own management account, so that only the company is wrong.
    manager = theirs["manager"].pk if who == "other_cbm" else None
    body = pool_body(**({"management_account": manager} if manager else {}))
    other = theirs["pool"].company_id if who == "customer" else company.pk
    before = written()

    out_of_reach = client.post(
        f"{API}/credit-pools/", {**body, "company": other}, format="json"
    )
    missing = client.post(
        f"{API}/credit-pools/", {**body, "company": MISSING}, format="json"
    )

    assert missing_id_message(out_of_reach, "company", other) == (
        missing_id_message(missing, "company", MISSING)
    )
    assert written() == before


def test_the_distribution_target_is_the_management_account(
    company, company_cbm, enterprise, pool_body, client_for
):
    _manager, member, _ = enterprise
    client = client_for(company_cbm)
    before = written()

    wrong_target = client.post(
        f"{API}/credit-pools/",
        pool_body(distribution_target="member_accounts"),
        format="json",
    )
    wrong_account = client.post(
        f"{API}/credit-pools/", pool_body(management_account=member.pk), format="json"
    )

    assert_refused(wrong_target, 409, ["invalid_distribution_target"])
    assert wrong_target.json()["reasons"][0]["message"] == (
        'A coupon credit pool must choose the distribution target "Specify '
        'Enterprise Management Account".'
    )
    assert_refused(wrong_account, 409, ["invalid_distribution_target"])
    assert wrong_account.json()["reasons"][0]["message"] == (
        f"Account {member.uid} is not the enterprise management account of company "
        f"{company.name}; a pool is distributed to that account."
    )
    assert written() == before


def test_a_pool_request_with_a_key_is_made_once(company_cbm, pool_body, client_for):
    client = client_for(company_cbm)

    first = client.post(
        f"{API}/credit-pools/", pool_body(), format="json", HTTP_IDEMPOTENCY_KEY="p-1"
    )
    replay = client.post(
        f"{API}/credit-pools/",
        pool_body(amount="1000"),  # the same amount written otherwise
        format="json",
        HTTP_IDEMPOTENCY_KEY="p-1",
    )
    other = client.post(
        f"{API}/credit-pools/",
        pool_body(amount="5.00"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="p-1",
    )

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert CreditPool.objects.count() == 1
    assert_refused(other, 409, ["idempotency_key_reused"])


# --- the operator's decision ----------------------------------------------------------


def test_the_operator_approves_a_requested_pool(
    make_pool, operator, owner, company_cbm, client_for
):
    pool = make_pool("300.00", approve=False)
    url = f"{API}/credit-pools/{pool.pk}/approve/"
    before = written()

    by_cbm = client_for(company_cbm).post(url)
    by_customer = client_for(owner).post(url)
    with_body = client_for(operator).post(url, {"reason": "ok"}, format="json")
    assert written() == before
    approved = client_for(operator).post(url)
    again = client_for(operator).post(url)

    assert_refused(by_cbm, 403, ["no_permission"])
    assert_refused(by_customer, 403, ["no_permission"])
    assert with_body.status_code == 400
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert (body["status"], body["remaining_amount"], body["amount"]) == (
        "approved",
        "300.00",
        "300.00",
    )
    pool.refresh_from_db()
    assert parse_datetime(body["decided_at"]) == pool.decided_at
    assert pool.decided_by == operator
    assert_refused(again, 409, ["invalid_state"])
    assert again.json()["reasons"][0]["message"] == (
        f"Pool {pool.pk} is no longer waiting for a decision; only a requested pool "
        "can be approved."
    )


def test_an_approval_with_a_key_funds_the_pool_once(
    make_pool, operator, client_for, assert_ledger_clean
):
    pool = make_pool("300.00", approve=False)
    client = client_for(operator)
    url = f"{API}/credit-pools/{pool.pk}/approve/"

    first = client.post(url, HTTP_IDEMPOTENCY_KEY="approve-1")
    replay = client.post(url, HTTP_IDEMPOTENCY_KEY="approve-1")
    unkeyed = client.post(url)

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert_refused(unkeyed, 409, ["invalid_state"])
    pool.refresh_from_db()
    assert pool.remaining == D("300.00")
    assert_ledger_clean()


def test_the_operator_rejects_with_a_reason(
    make_pool, operator, owner, enterprise, client_for
):
    pool = make_pool(approve=False)
    url = f"{API}/credit-pools/{pool.pk}/reject/"
    op = client_for(operator)

    without_reason = op.post(url, {}, format="json")
    blank = op.post(url, {"reason": "  "}, format="json")
    by_customer = client_for(owner).post(url, {"reason": "No"}, format="json")
    rejected = op.post(url, {"reason": "Budget closed"}, format="json")
    again = op.post(url, {"reason": "Twice"}, format="json")
    issue = client_for(owner).post(
        f"{API}/credit-pools/{pool.pk}/coupons/",
        {"accounts": [enterprise[0].pk], "count": 1, "face_value": "1.00"},
        format="json",
    )

    assert without_reason.status_code == 400
    assert set(without_reason.json()) == {"reason"}
    assert blank.status_code == 400
    assert_refused(by_customer, 403, ["no_permission"])
    assert rejected.status_code == 200, rejected.content
    assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
        "rejected",
        "Budget closed",
    )
    assert rejected.json()["decided_at"] is not None
    assert_refused(again, 409, ["invalid_state"])
    assert_refused(issue, 409, ["pool_not_active"])
    pool.refresh_from_db()
    assert (pool.status, pool.rejection_reason, pool.remaining) == (
        "rejected",
        "Budget closed",
        D("0.00"),
    )


# --- reading pools --------------------------------------------------------------------


def test_pools_are_listed_to_those_who_see_the_management_account(
    make_pool, theirs, company, owner, operator, company_cbm, client_for
):
    mine = make_pool("10.00")
    waiting = make_pool("20.00", approve=False)

    def ids(user, **query):
        response = client_for(user).get(f"{API}/credit-pools/", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(owner) == [waiting.pk, mine.pk]
    assert ids(owner, status="approved") == [mine.pk]
    assert ids(owner, company=theirs["pool"].company_id) == []
    assert ids(company_cbm) == [waiting.pk, mine.pk]
    assert ids(theirs["cbm"]) == [theirs["pool"].pk]
    assert ids(operator, company=company.pk, status="requested") == [waiting.pk]
    assert set(ids(operator)) == {mine.pk, waiting.pk, theirs["pool"].pk}
    detail = client_for(owner).get(f"{API}/credit-pools/{mine.pk}/").json()
    assert (detail["status"], detail["remaining_amount"]) == ("approved", "10.00")
    bad = client_for(owner).get(f"{API}/credit-pools/", {"status": "open"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"status"}


def test_the_pools_list_is_paginated(make_pool, owner, client_for):
    for _ in range(3):
        make_pool("1.00", approve=False)

    page = client_for(owner).get(f"{API}/credit-pools/", {"page_size": 2}).json()

    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"].endswith("page=2&page_size=2")
    assert page["previous"] is None


@pytest.mark.parametrize("who", ["customer", "company_cbm", "member_admin"])
def test_a_pool_out_of_reach_answers_like_a_missing_id(
    theirs, make_pool, enterprise, owner, company_cbm, grant, client_for, who
):
    """Company B's pool for company A's people; and for an administrator of a
    member only, even its own company's pool (the pool is the management
    account's business; the member's coupons are visible to it)."""
    mine = make_pool("10.00")
    member_admin = UserFactory()
    grant(member_admin, enterprise[1], "owner")
    user = {"customer": owner, "company_cbm": company_cbm, "member_admin": member_admin}
    client = client_for(user[who])
    pool = mine.pk if who == "member_admin" else theirs["pool"].pk

    for suffix, method, body in [
        ("", "get", None),
        ("approve/", "post", None),
        ("reject/", "post", {"reason": "x"}),
        ("coupons/", "post", {"accounts": [], "count": 0}),
    ]:
        send = getattr(client, method)
        out_of_reach = send(f"{API}/credit-pools/{pool}/{suffix}", body, format="json")
        missing = send(f"{API}/credit-pools/{MISSING}/{suffix}", body, format="json")
        assert out_of_reach.status_code == 404, (suffix, out_of_reach.content)
        assert out_of_reach.content == missing.content


# --- issuing coupons ------------------------------------------------------------------


def issue_url(pool) -> str:
    return f"{API}/credit-pools/{pool.pk}/coupons/"


def test_the_enterprise_administrator_issues_coupons(
    make_pool, enterprise, owner, client_for, assert_ledger_clean
):
    manager, m1, _m2 = enterprise
    pool = make_pool("1000.00", products=["oss"], bill_types=["subscription"])

    response = client_for(owner).post(
        issue_url(pool),
        {"accounts": [m1.pk, manager.pk, m1.pk], "count": 2, "face_value": "50"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pool"]["id"] == pool.pk
    assert (
        body["pool"]["remaining_amount"],
        body["pool"]["issued_amount"],
        body["pool"]["revoked_amount"],
    ) == ("900.00", "100.00", "0.00")
    coupons = list(Coupon.objects.filter(pool=pool).order_by("pk"))
    assert [c["id"] for c in body["coupons"]] == [c.pk for c in coupons]
    for row, coupon in zip(body["coupons"], coupons, strict=True):
        assert parse_datetime(row.pop("issued_at")) == coupon.issued_at
        assert row == {
            "id": coupon.pk,
            "pool": pool.pk,
            "asset": coupon.asset_id,
            "face_value": "50.00",
            "remaining_value": "50.00",
            "deducted_amount": "0.00",
            "revoked_amount": "0.00",
            "status": "active",
            "currency": "CNY",
            "accounts": sorted([manager.pk, m1.pk]),
            "valid_from": iso(pool.valid_from),
            "valid_until": iso(pool.valid_until),
            "products": ["oss"],
            "bill_types": ["subscription"],
            "applicability": [
                {"account": a, "applies_now": True, "not_applying_since": None}
                for a in sorted([manager.pk, m1.pk])
            ],
        }
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("900.00"), D("100.00"))
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"count": "two"}, "count"),
        ({"count": 1.5}, "count"),
        ({"face_value": "0.00"}, "face_value"),
        ({"face_value": "-1"}, "face_value"),
        ({"face_value": "1.005"}, "face_value"),
        ({"accounts": []}, "accounts"),
        ({"accounts": "all"}, "accounts"),
        ({"expires": "2031-01-01T00:00:00Z"}, "expires"),
    ],
)
def test_a_malformed_issuance_is_400_naming_the_field(
    make_pool, enterprise, owner, client_for, overrides, field
):
    pool = make_pool("100.00")
    before = written()
    body = {"accounts": [enterprise[1].pk], "count": 1, "face_value": "1.00"}

    response = client_for(owner).post(
        issue_url(pool), {**body, **overrides}, format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert written() == before


def test_issuance_limits_list_every_reason(
    make_pool, enterprise, owner, make_account, client_for
):
    manager, m1, _m2 = enterprise
    outsider = make_account(name="Not a member")
    pool = make_pool("100.00")
    client = client_for(owner)
    before = written()

    too_much = client.post(
        issue_url(pool),
        {"accounts": [m1.pk, outsider.pk], "count": 3, "face_value": "40.00"},
        format="json",
    )

    assert_refused(too_much, 409, ["account_not_eligible", "exceeds_pool_remaining"])
    messages = [r["message"] for r in too_much.json()["reasons"]]
    assert outsider.uid in messages[0]
    assert messages[1] == (
        "3 coupons of 40.00 make 120.00, more than the 100.00 left in the pool."
    )
    assert written() == before
    exactly = client.post(
        issue_url(pool),
        {"accounts": [manager.pk], "count": 4, "face_value": "25.00"},
        format="json",
    )
    assert exactly.status_code == 201
    assert exactly.json()["pool"]["remaining_amount"] == "0.00"
    one_cent = client.post(
        issue_url(pool),
        {"accounts": [manager.pk], "count": 1, "face_value": "0.01"},
        format="json",
    )
    assert_refused(one_cent, 409, ["exceeds_pool_remaining"])


@pytest.mark.parametrize(
    "field", ["products", "bill_types", "valid_from", "valid_until"]
)
@pytest.mark.parametrize("value", ["same", None])
def test_the_scope_is_not_editable(
    make_pool, enterprise, owner, client_for, field, value
):
    """Known fields, refused as a business rule (409), even when the value is the
    pool's own; the other failing rules are listed after it."""
    pool = make_pool("100.00", products=["ecs"], bill_types=["subscription"])
    own = {
        "products": ["ecs"],
        "bill_types": ["subscription"],
        "valid_from": iso(pool.valid_from),
        "valid_until": iso(pool.valid_until),
    }
    body = {
        "accounts": [enterprise[1].pk],
        "count": 1,
        "face_value": "10.00",
        field: own[field] if value == "same" else value,
    }
    before = written()

    refused = client_for(owner).post(issue_url(pool), body, format="json")
    also_too_much = client_for(owner).post(
        issue_url(pool), {**body, "count": 11}, format="json"
    )

    assert_refused(refused, 409, ["scope_not_editable"])
    assert refused.json()["reasons"][0]["message"] == (
        "The products, bill types and validity of coupons are set by the pool "
        "(chosen by your business manager); request another pool for another scope."
    )
    assert_refused(also_too_much, 409, ["scope_not_editable", "exceeds_pool_remaining"])
    assert written() == before


def test_the_scope_refusal_comes_after_the_body_and_the_permission(
    make_pool, enterprise, owner, grant, client_for
):
    pool = make_pool("100.00")
    viewer = UserFactory()
    grant(viewer, enterprise[0], "use")
    scope = {"products": ["ecs"]}

    malformed = client_for(owner).post(
        issue_url(pool), {**scope, "accounts": [enterprise[1].pk]}, format="json"
    )
    forbidden = client_for(viewer).post(
        issue_url(pool),
        {**scope, "accounts": [enterprise[1].pk], "count": 1, "face_value": "1"},
        format="json",
    )

    assert malformed.status_code == 400
    assert set(malformed.json()) == {"count", "face_value"}
    assert_refused(forbidden, 403, ["no_permission"])


@pytest.mark.parametrize("who", ["use", "cbm"])
def test_only_owner_or_manage_on_the_management_account_issues(
    make_pool, enterprise, grant, company_cbm, client_for, who
):
    manager = enterprise[0]
    pool = make_pool("100.00")
    if who == "use":
        user = UserFactory()
        grant(user, manager, "use")
    else:
        user = company_cbm
    before = written()

    response = client_for(user).post(
        issue_url(pool),
        {"accounts": [manager.pk], "count": 1, "face_value": "1.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="issue-1",
    )

    assert_refused(response, 403, ["no_permission"])
    assert manager.uid in response.json()["reasons"][0]["message"]
    assert written() == before


def test_a_pool_not_approved_or_past_its_window_issues_nothing(
    make_pool, enterprise, owner, client_for
):
    requested = make_pool("100.00", approve=False)
    ended = make_pool("100.00")
    CreditPool.objects.filter(pk=ended.pk).update(valid_until=timezone.now())
    future = make_pool(
        "100.00",
        valid_from=NOW + timedelta(days=1),
        valid_until=NOW + timedelta(days=2),
    )
    body = {"accounts": [enterprise[0].pk], "count": 1, "face_value": "1.00"}
    before = written()

    for pool in (requested, ended, future):
        response = client_for(owner).post(issue_url(pool), body, format="json")
        assert_refused(response, 409, ["pool_not_active"])
        assert str(pool.pk) in response.json()["reasons"][0]["message"]
    assert written() == before


def test_a_replayed_issuance_gives_the_first_answer_and_issues_nothing_more(
    make_pool, enterprise, owner, client_for
):
    pool = make_pool("100.00")
    client = client_for(owner)
    body = {"accounts": [enterprise[1].pk], "count": 3, "face_value": "10.00"}

    first = client.post(
        issue_url(pool), body, format="json", HTTP_IDEMPOTENCY_KEY="issue-42"
    )
    after_first = written()
    replay = client.post(
        issue_url(pool),
        {**body, "face_value": "10"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="issue-42",
    )
    reused = client.post(
        issue_url(pool),
        {**body, "count": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="issue-42",
    )

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert len(first.json()["coupons"]) == 3
    assert written() == after_first
    assert Coupon.objects.filter(pool=pool).count() == 3
    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (D("70.00"), D("30.00"))
    assert_refused(reused, 409, ["idempotency_key_reused"])
    assert written() == after_first


def test_a_refused_issuance_is_replayed_as_refused(
    make_pool, enterprise, owner, operator, client_for
):
    """A 409 stored under a key stays the answer, even once the rule would pass."""
    pool = make_pool("100.00", approve=False)
    body = {"accounts": [enterprise[0].pk], "count": 1, "face_value": "1.00"}
    client = client_for(owner)

    first = client.post(issue_url(pool), body, format="json", HTTP_IDEMPOTENCY_KEY="r")
    coupon_services.approve_pool(pool=pool, actor=operator)
    replay = client.post(issue_url(pool), body, format="json", HTTP_IDEMPOTENCY_KEY="r")

    assert_refused(first, 409, ["pool_not_active"])
    assert replay.json() == first.json()
    assert Coupon.objects.count() == 0


# --- reading coupons ------------------------------------------------------------------


def use(account, amount, *, at=None, product="ecs", n=[0]):  # noqa: B006
    n[0] += 1
    at = at or timezone.now()
    record, _ = record_usage(
        external_id=f"api-{n[0]}",
        account=account,
        product=product,
        bill_type="pay_as_you_go",
        usage_start=at,
        usage_end=at + timedelta(minutes=5),
        amount=D(amount),
        billed_at=at,
    )
    return record


@pytest.fixture
def issued(make_pool, enterprise, owner):
    """40.00 coupon for the manager and member 1, 15.00 of it used by member 1."""
    manager, m1, _m2 = enterprise
    pool = make_pool("100.00")
    (coupon,) = coupon_services.issue_coupons(
        pool=pool, accounts=[manager, m1], count=1, face_value=D("40.00"), actor=owner
    )
    use(m1, "15.00")
    return pool, coupon


def test_a_coupon_shows_what_was_deducted_and_where_it_applies(
    issued, enterprise, owner, client_for
):
    manager, m1, _m2 = enterprise
    _pool, coupon = issued
    client = client_for(owner)

    before_end = client.get(f"{API}/coupons/{coupon.pk}/").json()
    relationship = FinancialRelationship.objects.get(member_account=m1, status="active")
    ended = terminate_relationship(relationship=relationship, actor=owner)
    after_end = client.get(f"{API}/coupons/{coupon.pk}/").json()
    listed = client.get(f"{API}/coupons/").json()

    assert (
        before_end["face_value"],
        before_end["remaining_value"],
        before_end["deducted_amount"],
        before_end["revoked_amount"],
        before_end["status"],
    ) == ("40.00", "25.00", "15.00", "0.00", "active")
    assert before_end["accounts"] == sorted([manager.pk, m1.pk])
    by_account = {row["account"]: row for row in after_end["applicability"]}
    assert by_account[manager.pk] == {
        "account": manager.pk,
        "applies_now": True,
        "not_applying_since": None,
    }
    assert by_account[m1.pk]["applies_now"] is False
    assert parse_datetime(by_account[m1.pk]["not_applying_since"]) == ended.end
    assert after_end["status"] == "active"  # valid until expiry all the same
    assert listed["count"] == 1
    assert listed["results"] == [after_end]


def test_a_coupon_past_its_validity_applies_to_nobody(
    issued, enterprise, owner, client_for
):
    manager, m1, _m2 = enterprise
    _pool, coupon = issued
    Asset.objects.filter(pk=coupon.asset_id).update(valid_until=timezone.now())

    body = client_for(owner).get(f"{API}/coupons/{coupon.pk}/").json()

    assert body["applicability"] == [
        {"account": a, "applies_now": False, "not_applying_since": None}
        for a in sorted([manager.pk, m1.pk])
    ]


def test_coupons_filters(issued, make_pool, enterprise, owner, client_for):
    manager, _m1, m2 = enterprise
    pool, coupon = issued
    other_pool = make_pool("50.00")
    (only_m2,) = coupon_services.issue_coupons(
        pool=other_pool, accounts=[m2], count=1, face_value=D("5.00"), actor=owner
    )
    client = client_for(owner)

    def ids(**query):
        response = client.get(f"{API}/coupons/", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [only_m2.pk, coupon.pk]
    assert ids(pool=pool.pk) == [coupon.pk]
    assert ids(account=m2.pk) == [only_m2.pk]
    assert ids(account=manager.pk) == [coupon.pk]
    assert ids(status="revoked") == []
    assert client.get(f"{API}/coupons/", {"pool": "x"}).status_code == 400
    assert client.get(f"{API}/coupons/", {"status": "gone"}).status_code == 400


def test_a_members_administrator_sees_its_coupons_and_only_its_accounts(
    issued, enterprise, grant, client_for
):
    """It may not see the management account: the coupon names only the
    accounts it may see; the pool itself is out of its reach."""
    _manager, m1, _m2 = enterprise
    pool, coupon = issued
    member_admin = UserFactory()
    grant(member_admin, m1, "owner")
    client = client_for(member_admin)

    detail = client.get(f"{API}/coupons/{coupon.pk}/")
    listed = client.get(f"{API}/coupons/").json()

    assert detail.status_code == 200
    assert detail.json()["accounts"] == [m1.pk]
    assert [row["account"] for row in detail.json()["applicability"]] == [m1.pk]
    assert detail.json()["remaining_value"] == "25.00"
    assert [row["id"] for row in listed["results"]] == [coupon.pk]
    assert client.get(f"{API}/credit-pools/{pool.pk}/").status_code == 404


@pytest.mark.parametrize("who", ["customer", "company_cbm", "unrelated_member"])
def test_a_coupon_out_of_reach_answers_like_a_missing_id(
    theirs, make_pool, enterprise, owner, company_cbm, grant, client_for, who
):
    pool = make_pool("100.00")
    _manager, m1, m2 = enterprise
    (m1_only,) = coupon_services.issue_coupons(
        pool=pool, accounts=[m1], count=1, face_value=D("5.00"), actor=owner
    )
    m2_admin = UserFactory()
    grant(m2_admin, m2, "owner")
    user = {"customer": owner, "company_cbm": company_cbm, "unrelated_member": m2_admin}
    coupon = m1_only.pk if who == "unrelated_member" else theirs["coupon"].pk
    client = client_for(user[who])

    for suffix, method in [("", "get"), ("revoke/", "post")]:
        send = getattr(client, method)
        out_of_reach = send(f"{API}/coupons/{coupon}/{suffix}")
        missing = send(f"{API}/coupons/{MISSING}/{suffix}")
        assert out_of_reach.status_code == 404, (suffix, out_of_reach.content)
        assert out_of_reach.content == missing.content
    assert coupon not in [
        r["id"] for r in client.get(f"{API}/coupons/").json()["results"]
    ]


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_the_coupon_list_costs_fixed_statements_whatever_the_rows(
    make_pool, enterprise, owner, operator, client_for, who
):
    manager, m1, m2 = enterprise
    pool = make_pool("1000.00")
    client = client_for(owner if who == "owner" else operator)

    def statements():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{API}/coupons/", {"page_size": 500})
        assert response.status_code == 200
        return len(captured), response.json()["count"]

    coupon_services.issue_coupons(
        pool=pool, accounts=[manager, m1], count=1, face_value=D("1.00"), actor=owner
    )
    few = statements()
    coupon_services.issue_coupons(
        pool=pool,
        accounts=[manager, m1, m2],
        count=6,
        face_value=D("2.00"),
        actor=owner,
    )
    use(m1, "3.00")
    many = statements()

    assert (few[1], many[1]) == (1, 7)
    assert many[0] == few[0]


# --- revoking coupons -----------------------------------------------------------------


def test_the_management_accounts_administrator_revokes_after_the_relationship_ended(
    issued, enterprise, owner, client_for, assert_ledger_clean
):
    _manager, m1, _m2 = enterprise
    pool, coupon = issued
    relationship = FinancialRelationship.objects.get(member_account=m1, status="active")
    terminate_relationship(relationship=relationship, actor=owner)
    client = client_for(owner)

    revoked = client.post(f"{API}/coupons/{coupon.pk}/revoke/")
    again = client.post(f"{API}/coupons/{coupon.pk}/revoke/")

    assert revoked.status_code == 200, revoked.content
    body = revoked.json()
    assert (
        body["to_pool"],
        body["revoked_amount"],
        body["remaining_value"],
        body["deducted_amount"],
        body["face_value"],
        body["status"],
        body["id"],
    ) == (True, "25.00", "0.00", "15.00", "40.00", "revoked", coupon.pk)
    pool_now = client.get(f"{API}/credit-pools/{pool.pk}/").json()
    assert (
        pool_now["remaining_amount"],
        pool_now["issued_amount"],
        pool_now["revoked_amount"],
    ) == ("85.00", "40.00", "25.00")
    assert_refused(again, 409, ["invalid_state"])
    assert again.json()["reasons"][0]["message"] == (
        "This coupon has already been revoked."
    )
    assert_ledger_clean()


def test_revoking_after_the_pool_expired_records_it_as_expired(
    issued, owner, client_for
):
    pool, coupon = issued
    CreditPool.objects.filter(pk=pool.pk).update(status="expired")

    response = client_for(owner).post(f"{API}/coupons/{coupon.pk}/revoke/")

    assert response.status_code == 200, response.content
    assert (response.json()["to_pool"], response.json()["revoked_amount"]) == (
        False,
        "25.00",
    )
    pool.refresh_from_db()
    assert (pool.remaining, pool.revoked_amount) == (D("60.00"), D("0.00"))


@pytest.mark.parametrize("who", ["member_owner", "use_on_manager", "company_cbm"])
def test_who_sees_a_coupon_but_does_not_manage_the_management_account_gets_403(
    issued, enterprise, grant, company_cbm, client_for, who
):
    manager, m1, _m2 = enterprise
    _pool, coupon = issued
    user = company_cbm
    if who != "company_cbm":
        user = UserFactory()
        grant(
            user,
            m1 if who == "member_owner" else manager,
            "owner" if who == "member_owner" else "use",
        )
    before = written()

    response = client_for(user).post(
        f"{API}/coupons/{coupon.pk}/revoke/", HTTP_IDEMPOTENCY_KEY="rv"
    )

    assert_refused(response, 403, ["no_permission"])
    assert manager.uid in response.json()["reasons"][0]["message"]
    assert written() == before


def test_a_revocation_with_a_key_is_made_once(issued, owner, client_for):
    _pool, coupon = issued
    client = client_for(owner)

    first = client.post(f"{API}/coupons/{coupon.pk}/revoke/", HTTP_IDEMPOTENCY_KEY="x")
    replay = client.post(f"{API}/coupons/{coupon.pk}/revoke/", HTTP_IDEMPOTENCY_KEY="x")

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()


# --- translations ---------------------------------------------------------------------


def test_pool_refusals_speak_chinese(make_pool, enterprise, owner, client_for):
    pool = make_pool("100.00")

    response = client_for(owner).post(
        issue_url(pool),
        {
            "accounts": [enterprise[0].pk],
            "count": 1,
            "face_value": "1.00",
            "valid_until": "2031-01-01T00:00:00Z",
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert_refused(response, 409, ["scope_not_editable"])
    assert response.json()["reasons"][0]["message"].startswith("代金券的适用产品")
    assert response.json()["detail"] == "代金券额度池请求被拒绝。"


def test_pool_field_errors_speak_chinese(company_cbm, pool_body, client_for):
    response = client_for(company_cbm).post(
        f"{API}/credit-pools/",
        pool_body(products=["nope"], valid_until="2029-01-01T00:00:00Z"),
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 400
    assert response.json() == {"products": {"0": ["nope 不在产品目录中。"]}}
    again = client_for(company_cbm).post(
        f"{API}/credit-pools/",
        pool_body(valid_until="2029-01-01T00:00:00Z"),
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert again.json() == {"valid_until": ["有效期的结束时间必须晚于开始时间。"]}
