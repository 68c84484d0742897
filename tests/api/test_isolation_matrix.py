"""The generated isolation matrix (SPEC §1, §8; issue 12): every API route with
an id in its path x every method it answers x another company's object of the
kind the id names → answered exactly like an id that does not exist (same
status, same body), and nothing written.

The routes come from ``billing_portal.api_urls``: a new endpoint with an id in
its path fails here until its kind is known below, so no endpoint escapes the
matrix.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import URLPattern
from django.utils import timezone

from accounts import services
from accounts.models import AccessException, AccessRequest, Folder
from billing_portal.api_urls import urlpatterns
from coupons import services as coupon_services
from sharing import services as sharing_services
from tests.api.helpers import API
from tests.credit_helpers import make_cbm, set_limit, set_quota
from tests.factories import AccountFactory, UserFactory

MISSING = 999999
METHODS = ("get", "post", "put", "patch", "delete")

#: The kind of object each path parameter names: the first segment's for
#: ``pk``, else by the parameter's name.
KIND_OF_SEGMENT = {
    "companies": "company",
    "accounts": "account",
    "transfers": "transfer",
    "revocations": "revocation",
    "relationships": "relationship",
    "folders": "folder",
    "contracts": "contract",
    "access-requests": "access_request",
    "access-exceptions": "access_exception",
    "assets": "asset",
    "credit-pools": "pool",
    "coupons": "coupon",
}
KIND_OF_PARAMETER = {"account": "account", "folder": "folder", "user_id": "user"}


def routes() -> list[tuple[str, list[str], list[str]]]:
    """(route, its int parameters, the methods its view answers)."""
    found = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        converters = pattern.pattern.converters
        params = [name for name, conv in converters.items() if conv.regex == "[0-9]+"]
        if not params:
            continue
        view = pattern.callback.view_class
        methods = [m for m in METHODS if hasattr(view, m)]
        found.append((str(pattern.pattern), params, methods))
    return found


ROUTES = routes()


def kind_of(route: str, param: str) -> str:
    if param == "pk":
        return KIND_OF_SEGMENT[route.split("/")[0]]
    return KIND_OF_PARAMETER[param]


def test_every_route_with_an_id_is_in_the_matrix():
    unknown = [
        (route, param)
        for route, params, _methods in ROUTES
        for param in params
        if (param == "pk" and route.split("/")[0] not in KIND_OF_SEGMENT)
        or (param != "pk" and param not in KIND_OF_PARAMETER)
    ]
    assert unknown == []
    assert len(ROUTES) >= 40


def url_of(route: str, values: dict[str, int]) -> str:
    path = route
    for name, value in values.items():
        path = path.replace(f"<int:{name}>", str(value))
    return f"{API}/{path}"


@pytest.fixture
def other_company_world(other_company, operator, fund):
    """Company B: one object of every kind, made by the services."""
    now = timezone.now()
    b1 = AccountFactory(company=other_company)
    b2 = AccountFactory(company=other_company)
    b_owner = UserFactory()
    for account in (b1, b2):
        services.grant_access(
            account=account, user=b_owner, permission="owner", actor=operator
        )
    fund(b1, "500.00")
    transfer = services.transfer_balance(
        source=b1, destination=b2, amount=Decimal("50.00"), actor=operator
    )
    revocation = services.revoke_transfer(
        source=b1, destination=b2, amount=Decimal("5.00"), actor=operator
    )
    services.set_management_account(company=other_company, account=b1, actor=operator)
    relationship = services.invite_member(
        management_account=b1,
        member_account=b2,
        type="financial_management",
        permissions=[],
        actor=b_owner,
    )
    relationship = services.confirm_relationship(
        relationship=relationship, actor=b_owner
    )
    root = Folder.objects.get(company=other_company, parent__isnull=True)
    folder = services.create_folder(
        company=other_company, name="B team", parent=root, actor=operator
    )
    set_quota(other_company, "1000.00", actor=operator)
    _status, contract = set_limit(b2, "100.00", actor=b_owner)
    cbm = make_cbm("cbm-b")
    other_company.business_manager = cbm
    other_company.save(update_fields=["business_manager"])
    request = AccessRequest.objects.create(
        account=b2, business_manager=cbm, requested_by=b_owner
    )
    exception_request = AccessRequest.objects.create(
        account=b1, business_manager=cbm, requested_by=b_owner, status="granted"
    )
    exception = AccessException.objects.create(
        account=b1, request=exception_request, granted_by=cbm, start=now
    )
    asset = sharing_services.provision_asset(
        type="scu_package",
        owner=b1,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        capacity=Decimal("10.00"),
        actor=operator,
    )
    sharing_services.share_with_accounts(asset=asset, accounts=[b2], actor=b_owner)
    pool = coupon_services.request_pool(
        company=other_company,
        distribution_target="enterprise_management_account",
        management_account=b1,
        products=[],
        bill_types=["pay_as_you_go"],
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        amount=Decimal("100.00"),
        actor=cbm,
    )
    coupon_services.approve_pool(pool=pool, actor=operator)
    (coupon,) = coupon_services.issue_coupons(
        pool=pool, accounts=[b2], count=1, face_value=Decimal("5.00"), actor=b_owner
    )
    return {
        "company": other_company.pk,
        "account": b2.pk,
        "transfer": transfer.pk,
        "revocation": revocation.pk,
        "relationship": relationship.pk,
        "folder": folder.pk,
        "contract": contract.pk,
        "access_request": request.pk,
        "access_exception": exception.pk,
        "asset": asset.pk,
        "pool": pool.pk,
        "coupon": coupon.pk,
        "user": b_owner.pk,
    }


@pytest.fixture
def customer(company, owner, grant, fund):
    """A customer of company A with two accounts (one owned, one to use)."""
    a1 = AccountFactory(company=company)
    a2 = AccountFactory(company=company)
    grant(owner, a1, "owner")
    grant(owner, a2, "manage")
    fund(a1, "100.00")
    return owner


@pytest.fixture
def company_a_cbm(company):
    user = make_cbm("cbm-a")
    company.business_manager = user
    company.save(update_fields=["business_manager"])
    return user


@pytest.mark.parametrize("who", ["customer", "company_a_cbm"])
def test_another_companys_objects_answer_like_missing_ids_everywhere(
    request, other_company_world, client_for, db_state, who
):
    client = client_for(request.getfixturevalue(who))
    before = db_state()
    checked = 0
    for route, params, methods in ROUTES:
        theirs = {p: other_company_world[kind_of(route, p)] for p in params}
        missing = dict.fromkeys(params, MISSING)
        for method in methods:
            send = getattr(client, method)
            answer = send(url_of(route, theirs), {}, format="json")
            expected = send(url_of(route, missing), {}, format="json")
            where = f"{method.upper()} {route} as {who}"
            assert answer.status_code == expected.status_code == 404, (
                where,
                answer.status_code,
                answer.content,
            )
            assert answer.content == expected.content, where
            checked += 1
    assert checked >= 45  # every route x method (46 when this was written)
    assert db_state() == before
