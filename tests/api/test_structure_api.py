"""The enterprise-structure API (SPEC §8 rows for the management account,
relationships and folders): status codes, bodies, bad input naming the field,
and isolation between companies (another company's objects do not exist)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest

from accounts import services
from accounts.models import Account, Company, FinancialRelationship, Folder
from accounts.models.structure import RelationshipPermission
from billing_portal.models import AuditEvent
from tests.api.helpers import API
from tests.factories import AccountFactory, UserFactory

MISSING = 999999
CHECK = RelationshipPermission.CHECK_TARGET_CONSUMPTION
SYNC = RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY
T_CONFIRM = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
T_TERMINATE = datetime(2025, 3, 10, 8, 30, 0, 654321, tzinfo=UTC)
ISO_CONFIRM = "2025-03-01T12:00:00.123456Z"
ISO_TERMINATE = "2025-03-10T08:30:00.654321Z"


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


@dataclass
class World:
    company: Company
    other_company: Company
    hq: Account
    m1: Account
    m2: Account
    b_hq: Account
    b_member: Account
    b_relationship: FinancialRelationship
    b_folder: Folder
    a_folder: Folder
    operator: object
    hq_owner: object
    hq_viewer: object
    m1_owner: object
    m1_manager: object
    b_owner: object


@pytest.fixture
def world(company, other_company, make_account, operator, owner, grant):
    """Acme: HQ (management account), members m1 and m2, a folder "Eng".
    Globex: its HQ with a pending relationship to its member, a folder "Ops".
    ``owner`` owns Acme HQ; ``b_owner`` owns both Globex accounts."""
    hq = make_account(name="Acme HQ")
    m1 = make_account(name="Acme M1")
    m2 = make_account(name="Acme M2")
    services.set_management_account(company=company, account=hq, actor=operator)
    b_hq = AccountFactory(company=other_company, name="Globex HQ")
    b_member = AccountFactory(company=other_company, name="Globex M")
    services.set_management_account(company=other_company, account=b_hq, actor=operator)
    users = {
        name: UserFactory(username=name)
        for name in ("hq_viewer", "m1_owner", "m1_manager", "b_owner")
    }
    grant(owner, hq, "owner")
    grant(users["hq_viewer"], hq, "use")
    grant(users["m1_owner"], m1, "owner")
    grant(users["m1_manager"], m1, "manage")
    grant(users["b_owner"], b_hq, "owner")
    grant(users["b_owner"], b_member, "owner")
    b_relationship = services.invite_member(
        management_account=b_hq,
        member_account=b_member,
        type="trusteeship",
        permissions=[CHECK],
        actor=operator,
    )
    return World(
        company=company,
        other_company=other_company,
        hq=hq,
        m1=m1,
        m2=m2,
        b_hq=b_hq,
        b_member=b_member,
        b_relationship=b_relationship,
        b_folder=services.create_folder(
            company=other_company, name="Ops", actor=operator
        ),
        a_folder=services.create_folder(company=company, name="Eng", actor=operator),
        operator=operator,
        hq_owner=owner,
        **users,
    )


def rel_body(world, **overrides):
    body = {
        "management_account": world.hq.pk,
        "member_account": world.m1.pk,
        "type": "trusteeship",
        "permissions": [CHECK],
    }
    body.update(overrides)
    return body


def invite(world, **overrides) -> FinancialRelationship:
    data = rel_body(world, **overrides)
    return services.invite_member(
        management_account=Account.objects.get(pk=data["management_account"]),
        member_account=Account.objects.get(pk=data["member_account"]),
        type=data["type"],
        permissions=data["permissions"],
        actor=world.hq_owner,
    )


def reason_codes(response) -> list[str]:
    return [r["code"] for r in response.data["reasons"]]


def state() -> dict:
    return {
        "relationships": list(
            FinancialRelationship.objects.order_by("pk").values_list(
                "pk", "status", "permissions", "start", "end"
            )
        ),
        "folders": list(
            Folder.objects.order_by("pk").values_list("pk", "name", "parent", "depth")
        ),
        "placements": list(Account.objects.order_by("pk").values_list("pk", "folder")),
        "managers": list(
            Company.objects.order_by("pk").values_list("pk", "management_account")
        ),
        "audit": AuditEvent.objects.count(),
    }


# --- PUT /companies/{id}/management-account/ ---------------------------------------


def test_operator_sets_the_management_account(world, client_for):
    response = client_for(world.operator).put(
        f"{API}/companies/{world.company.pk}/management-account/",
        {"account": world.m2.pk},
        format="json",
    )

    # HQ has no open relationship yet: it may be replaced.
    assert response.status_code == 200, response.content
    assert response.data["id"] == world.company.pk
    assert response.data["management_account"] == world.m2.pk
    world.company.refresh_from_db()
    assert world.company.management_account_id == world.m2.pk


@pytest.mark.parametrize("who", ["hq_owner", "m1_owner"])
def test_customers_may_not_set_the_management_account(world, client_for, who):
    before = state()

    response = client_for(getattr(world, who)).put(
        f"{API}/companies/{world.company.pk}/management-account/",
        {"account": world.m1.pk if who == "m1_owner" else world.hq.pk},
        format="json",
    )

    assert response.status_code == 403, response.content
    assert response.data["code"] == "no_permission"
    assert state() == before


def test_management_account_refusals_are_409_with_reasons(
    world, client_for, unverified_company
):
    client = client_for(world.operator)
    invite(world)
    before = state()

    foreign = client.put(
        f"{API}/companies/{world.company.pk}/management-account/",
        {"account": world.b_hq.pk},
        format="json",
    )
    replaced = client.put(
        f"{API}/companies/{world.company.pk}/management-account/",
        {"account": world.m2.pk},
        format="json",
    )
    unverified = client.put(
        f"{API}/companies/{unverified_company.pk}/management-account/",
        {"account": AccountFactory(company=unverified_company).pk},
        format="json",
    )

    assert (foreign.status_code, reason_codes(foreign)) == (
        409,
        ["different_company", "invalid_state"],
    )
    assert (replaced.status_code, reason_codes(replaced)) == (409, ["invalid_state"])
    assert (unverified.status_code, reason_codes(unverified)) == (
        409,
        ["company_not_verified"],
    )
    assert state()["managers"] == before["managers"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "account"),
        ({"account": None}, "account"),
        ({"account": "abc"}, "account"),
        ({"account": MISSING}, "account"),
        ({"account": "{m2}", "company": "{company}"}, "company"),
    ],
)
def test_management_account_bad_input(world, client_for, body, field):
    body = {
        k: {"{m2}": world.m2.pk, "{company}": world.company.pk}.get(v, v)
        for k, v in body.items()
    }
    before = state()

    response = client_for(world.operator).put(
        f"{API}/companies/{world.company.pk}/management-account/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


# --- POST /relationships/ and the lifecycle -----------------------------------------


@pytest.mark.parametrize("type_", ["trusteeship", "financial_management"])
def test_invite_returns_the_pending_relationship(world, client_for, type_):
    response = client_for(world.hq_owner).post(
        f"{API}/relationships/",
        rel_body(world, type=type_, permissions=[SYNC, CHECK]),
        format="json",
    )

    assert response.status_code == 201, response.content
    relationship = FinancialRelationship.objects.get(pk=response.data["id"])
    assert {
        k: response.data[k]
        for k in (
            "management_account",
            "member_account",
            "type",
            "permissions",
            "status",
            "start_time",
            "end_time",
            "invited_by",
        )
    } == {
        "management_account": world.hq.pk,
        "member_account": world.m1.pk,
        "type": type_,
        "permissions": sorted([CHECK, SYNC]),
        "status": "pending",
        "start_time": None,
        "end_time": None,
        "invited_by": world.hq_owner.pk,
    }
    assert relationship.status == "pending"


def test_confirm_then_terminate_answer_status_and_iso_times(world, client_for):
    relationship = invite(world)
    path = f"{API}/relationships/{relationship.pk}"

    with at(T_CONFIRM):
        confirmed = client_for(world.m1_owner).post(f"{path}/confirm/")
    with at(T_TERMINATE):
        terminated = client_for(world.hq_owner).post(f"{path}/terminate/")
    detail = client_for(world.m1_owner).get(f"{path}/")

    assert confirmed.status_code == 200, confirmed.content
    assert (
        confirmed.data["status"],
        confirmed.data["start_time"],
        confirmed.data["end_time"],
    ) == ("active", ISO_CONFIRM, None)
    assert confirmed.data["responded_by"] == world.m1_owner.pk
    assert terminated.status_code == 200, terminated.content
    assert (
        terminated.data["status"],
        terminated.data["start_time"],
        terminated.data["end_time"],
    ) == ("terminated", ISO_CONFIRM, ISO_TERMINATE)
    assert terminated.data["ended_by"] == world.hq_owner.pk
    assert detail.status_code == 200
    assert detail.data == terminated.data


@pytest.mark.parametrize(
    ("action", "who", "status"),
    [("reject", "m1_owner", "rejected"), ("cancel", "hq_owner", "cancelled")],
)
def test_reject_and_cancel_end_the_invitation(world, client_for, action, who, status):
    relationship = invite(world)

    response = client_for(getattr(world, who)).post(
        f"{API}/relationships/{relationship.pk}/{action}/"
    )

    assert response.status_code == 200, response.content
    assert (
        response.data["status"],
        response.data["start_time"],
        response.data["end_time"],
    ) == (status, None, None)
    relationship.refresh_from_db()
    assert relationship.status == status


@pytest.mark.parametrize(
    ("action", "who"),
    [
        ("confirm", "hq_owner"),
        ("confirm", "m1_manager"),
        ("reject", "hq_owner"),
        ("reject", "m1_manager"),
        ("cancel", "m1_owner"),
        ("cancel", "hq_viewer"),
    ],
)
def test_actions_on_a_visible_relationship_without_the_right_are_403(
    world, client_for, action, who
):
    relationship = invite(world)
    before = state()

    response = client_for(getattr(world, who)).post(
        f"{API}/relationships/{relationship.pk}/{action}/"
    )

    assert response.status_code == 403, response.content
    assert response.data["code"] == "no_permission"
    assert state() == before


@pytest.mark.parametrize("action", ["confirm", "reject", "cancel"])
def test_actions_on_an_active_relationship_are_409_invalid_state(
    world, client_for, action
):
    relationship = invite(world)
    services.confirm_relationship(relationship=relationship, actor=world.operator)
    before = state()

    response = client_for(world.operator).post(
        f"{API}/relationships/{relationship.pk}/{action}/"
    )

    assert response.status_code == 409, response.content
    assert response.data["code"] == "invalid_state"
    assert reason_codes(response) == ["invalid_state"]
    assert state() == before


@pytest.mark.parametrize("action", ["confirm", "reject", "cancel", "terminate"])
def test_actions_refuse_a_body_field(world, client_for, action):
    relationship = invite(world)
    before = state()

    response = client_for(world.operator).post(
        f"{API}/relationships/{relationship.pk}/{action}/",
        {"start_time": "2020-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert response.data == {"start_time": ["Unknown field."]}
    assert state() == before


def test_terminate_a_pending_relationship_is_409(world, client_for):
    relationship = invite(world)

    response = client_for(world.hq_owner).post(
        f"{API}/relationships/{relationship.pk}/terminate/"
    )

    assert response.status_code == 409
    assert reason_codes(response) == ["invalid_state"]


def test_invite_refusals_are_409_with_every_reason(world, client_for, operator):
    dollars = AccountFactory(company=world.other_company, currency="USD")
    services.charge_usage(
        usage_account=dollars, amount=Decimal("1.00"), effective_at=T_CONFIRM
    )
    before = state()

    response = client_for(operator).post(
        f"{API}/relationships/",
        rel_body(world, member_account=dollars.pk),
        format="json",
    )

    assert response.status_code == 409, response.content
    assert response.data["code"] == "different_company"
    assert reason_codes(response) == [
        "different_company",
        "member_overdue",
        "currency_mismatch",
    ]
    assert all(r["message"] for r in response.data["reasons"])
    assert state() == before


def test_inviting_a_member_with_an_open_relationship_is_409(world, client_for):
    invite(world)

    response = client_for(world.hq_owner).post(
        f"{API}/relationships/",
        rel_body(world, type="financial_management"),
        format="json",
    )

    assert response.status_code == 409
    assert reason_codes(response) == ["member_has_active_relationship"]


@pytest.mark.parametrize("who", ["hq_viewer", "m1_owner"])
def test_invite_without_manage_on_the_management_account_is_403(
    world, client_for, grant, who
):
    user = getattr(world, who)
    if who == "m1_owner":
        grant(user, world.hq, "use")  # sees HQ, may not act for it
    before = state()

    response = client_for(user).post(
        f"{API}/relationships/", rel_body(world), format="json"
    )

    assert response.status_code == 403, response.content
    assert response.data["code"] == "no_permission"
    assert state() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_time": "2025-01-01T00:00:00Z"}, "start_time"),
        ({"status": "active"}, "status"),
        ({"type": "partnership"}, "type"),
        ({"type": None}, "type"),
        (
            {"permissions": ["CHECK_TARGET_CONSUMPTION", "SEE_EVERYTHING"]},
            "permissions",
        ),
        ({"permissions": "CHECK_TARGET_CONSUMPTION"}, "permissions"),
        ({"permissions": [None]}, "permissions"),
        ({"management_account": "hq"}, "management_account"),
        ({"management_account": MISSING}, "management_account"),
        ({"member_account": MISSING}, "member_account"),
        ({"member_account": [1]}, "member_account"),
        ({"member_account": None}, "member_account"),
    ],
)
def test_invite_bad_input_is_400_naming_the_field(world, client_for, change, field):
    before = state()

    response = client_for(world.hq_owner).post(
        f"{API}/relationships/", rel_body(world, **change), format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


@pytest.mark.parametrize("missing", ["management_account", "member_account", "type"])
def test_invite_missing_field_is_400(world, client_for, missing):
    body = rel_body(world)
    del body[missing]

    response = client_for(world.hq_owner).post(
        f"{API}/relationships/", body, format="json"
    )

    assert response.status_code == 400
    assert list(response.data) == [missing]


def test_invite_without_permissions_means_none(world, client_for):
    body = rel_body(world)
    del body["permissions"]

    response = client_for(world.hq_owner).post(
        f"{API}/relationships/", body, format="json"
    )

    assert response.status_code == 201
    assert response.data["permissions"] == []


# --- PUT /relationships/{id}/permissions/ ------------------------------------------


def test_permissions_put_while_active(world, client_for):
    relationship = invite(world)
    services.confirm_relationship(relationship=relationship, actor=world.m1_owner)

    response = client_for(world.hq_owner).put(
        f"{API}/relationships/{relationship.pk}/permissions/",
        {"permissions": [SYNC, "FORBID_MANAGE_INVOICE"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.data["permissions"] == ["FORBID_MANAGE_INVOICE", SYNC]
    assert response.data["status"] == "active"
    event = AuditEvent.objects.filter(action="relationship.permissions").get()
    assert event.before == {"permissions": [CHECK]}
    assert event.after == {"permissions": ["FORBID_MANAGE_INVOICE", SYNC]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "permissions"),
        ({"permissions": ["NOPE"]}, "permissions"),
        ({"permissions": None}, "permissions"),
        ({"permissions": [], "status": "active"}, "status"),
    ],
)
def test_permissions_put_bad_input(world, client_for, body, field):
    relationship = invite(world)
    before = state()

    response = client_for(world.hq_owner).put(
        f"{API}/relationships/{relationship.pk}/permissions/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


def test_permissions_put_by_the_member_is_403_and_after_the_end_409(world, client_for):
    relationship = invite(world)
    path = f"{API}/relationships/{relationship.pk}/permissions/"

    forbidden = client_for(world.m1_owner).put(path, {"permissions": []}, format="json")
    services.cancel_relationship(relationship=relationship, actor=world.hq_owner)
    ended = client_for(world.hq_owner).put(path, {"permissions": []}, format="json")

    assert forbidden.status_code == 403
    assert forbidden.data["code"] == "no_permission"
    assert ended.status_code == 409
    assert reason_codes(ended) == ["invalid_state"]
    relationship.refresh_from_db()
    assert relationship.permissions == [CHECK]


# --- GET /relationships/ -----------------------------------------------------------


def test_relationship_lists_are_scoped(world, client_for):
    a_rel = invite(world)
    a_other = invite(world, member_account=world.m2.pk)

    def ids(user):
        response = client_for(user).get(f"{API}/relationships/")
        assert response.status_code == 200
        assert set(response.data) == {"count", "next", "previous", "results"}
        return [row["id"] for row in response.data["results"]]

    b_rel = world.b_relationship.pk
    assert sorted(ids(world.operator)) == sorted([a_rel.pk, a_other.pk, b_rel])
    assert sorted(ids(world.hq_owner)) == sorted([a_rel.pk, a_other.pk])
    assert ids(world.m1_owner) == [a_rel.pk]
    assert ids(world.b_owner) == [b_rel]


# --- "which relationships were active at t" (SPEC §3.6) ---------------------------

T_REESTABLISH = datetime(2025, 4, 2, 9, 0, 0, 5, tzinfo=UTC)


def _active_at(client, when: str) -> list[int]:
    response = client.get(f"{API}/relationships/", {"active_at": when})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.data["results"]]


def test_relationships_active_at_an_instant(world, client_for):
    """Two periods of one pair (terminated, then re-established) and a pending
    invitation: start <= t < end, compared to the microsecond; open = no end."""
    first = invite(world)
    with at(T_CONFIRM):
        services.confirm_relationship(relationship=first, actor=world.m1_owner)
    with at(T_TERMINATE):
        services.terminate_relationship(relationship=first, actor=world.hq_owner)
    second = invite(world)
    with at(T_REESTABLISH):
        services.confirm_relationship(relationship=second, actor=world.m1_owner)
    invite(world, member_account=world.m2.pk)  # pending: never active
    client = client_for(world.hq_owner)

    assert _active_at(client, "2025-03-01T12:00:00.123455Z") == []
    assert _active_at(client, ISO_CONFIRM) == [first.pk]
    assert _active_at(client, "2025-03-10T08:30:00.654320Z") == [first.pk]
    assert _active_at(client, ISO_TERMINATE) == []
    assert _active_at(client, "2025-04-02T09:00:00.000004Z") == []
    assert _active_at(client, "2025-04-02T09:00:00.000005Z") == [second.pk]
    assert _active_at(client, "2125-01-01T00:00:00Z") == [second.pk]
    # An offset names the same instant; without one, the time is UTC.
    assert _active_at(client, "2025-03-01T20:00:00.123456+08:00") == [first.pk]
    assert _active_at(client, "2025-03-01T12:00:00.123456") == [first.pk]
    # Without the parameter: every visible relationship, whatever its state.
    listed = client.get(f"{API}/relationships/").data["results"]
    assert len(listed) == 3


def test_active_at_lists_only_visible_relationships(world, client_for):
    relationship = invite(world)
    with at(T_CONFIRM):
        services.confirm_relationship(relationship=relationship, actor=world.m1_owner)
    with at(T_CONFIRM):
        services.confirm_relationship(
            relationship=world.b_relationship, actor=world.b_owner
        )

    assert _active_at(client_for(world.b_owner), ISO_CONFIRM) == [
        world.b_relationship.pk
    ]
    assert _active_at(client_for(world.hq_owner), ISO_CONFIRM) == [relationship.pk]
    assert _active_at(client_for(UserFactory()), ISO_CONFIRM) == []


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-13-01T00:00:00Z", "", "2025-03-01T25:00:00Z", "1"]
)
def test_an_invalid_active_at_is_a_400(world, client_for, value):
    response = client_for(world.hq_owner).get(
        f"{API}/relationships/", {"active_at": value}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"active_at"}


# --- isolation between companies --------------------------------------------------


def _same_404(response, missing):
    assert response.status_code == 404, response.content
    assert missing.status_code == 404
    assert response.content == missing.content


RELATIONSHIP_PATHS = [
    ("get", "/relationships/{id}/", None),
    ("post", "/relationships/{id}/confirm/", None),
    ("post", "/relationships/{id}/reject/", None),
    ("post", "/relationships/{id}/cancel/", None),
    ("post", "/relationships/{id}/terminate/", None),
    ("put", "/relationships/{id}/permissions/", {"permissions": []}),
]
FOLDER_PATHS = [
    ("get", "/folders/{id}/", None),
    ("patch", "/folders/{id}/", {"name": "Taken"}),
    ("delete", "/folders/{id}/", None),
    ("post", "/folders/{id}/accounts/", {"accounts": []}),
]


def _call(client, method, path, body):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "path", "body"), RELATIONSHIP_PATHS)
def test_another_companys_relationship_does_not_exist(
    world, client_for, method, path, body
):
    a_rel = invite(world)
    client = client_for(world.b_owner)
    before = state()

    response = _call(client, method, API + path.format(id=a_rel.pk), body)
    missing = _call(client, method, API + path.format(id=MISSING), body)

    _same_404(response, missing)
    assert state() == before


@pytest.mark.parametrize(("method", "path", "body"), FOLDER_PATHS)
def test_another_companys_folder_does_not_exist(world, client_for, method, path, body):
    client = client_for(world.b_owner)
    before = state()

    response = _call(client, method, API + path.format(id=world.a_folder.pk), body)
    missing = _call(client, method, API + path.format(id=MISSING), body)

    _same_404(response, missing)
    assert state() == before


def test_another_companys_management_account_path_does_not_exist(world, client_for):
    client = client_for(world.b_owner)
    body = {"account": world.b_hq.pk}

    response = client.put(
        f"{API}/companies/{world.company.pk}/management-account/", body, format="json"
    )
    missing = client.put(
        f"{API}/companies/{MISSING}/management-account/", body, format="json"
    )

    _same_404(response, missing)


def _named(world, what):
    return {
        "a_hq": world.hq.pk,
        "a_member": world.m1.pk,
        "a_folder": world.a_folder.pk,
        "a_company": world.company.pk,
        "b_hq": world.b_hq.pk,
        "b_member": world.b_member.pk,
        "b_folder": world.b_folder.pk,
        "b_company": world.other_company.pk,
    }.get(what, what)


BODIES_NAMING_A = [
    (
        "post",
        "/relationships/",
        {
            "management_account": "a_hq",
            "member_account": "b_member",
            "type": "trusteeship",
        },
        "management_account",
    ),
    (
        "post",
        "/relationships/",
        {
            "management_account": "b_hq",
            "member_account": "a_member",
            "type": "trusteeship",
        },
        "member_account",
    ),
    ("post", "/folders/", {"company": "a_company", "name": "X"}, "company"),
    (
        "post",
        "/folders/",
        {"company": "b_company", "name": "X", "parent": "a_folder"},
        "parent",
    ),
    ("patch", "/folders/b_folder/", {"parent": "a_folder"}, "parent"),
    ("post", "/folders/b_folder/accounts/", {"accounts": ["a_member"]}, "accounts"),
    (
        "put",
        "/companies/b_company/management-account/",
        {"account": "a_hq"},
        "account",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES_NAMING_A)
def test_naming_another_companys_object_is_400_like_a_missing_id(
    world, client_for, method, path, body, field
):
    client = client_for(world.b_owner)
    path = API + "/".join(str(_named(world, part)) for part in path.split("/"))

    def fill(replacement):
        def value(v):
            if isinstance(v, list):
                return [value(x) for x in v]
            if isinstance(v, str) and v.startswith("a_"):
                return replacement if replacement is not None else _named(world, v)
            return _named(world, v)

        return {k: value(v) for k, v in body.items()}

    before = state()

    response = getattr(client, method)(path, fill(None), format="json")
    missing = getattr(client, method)(path, fill(MISSING), format="json")

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert missing.status_code == 400
    a_id = fill(None)[field]
    a_id = a_id[0] if isinstance(a_id, list) else a_id
    assert str(missing.data).replace(str(MISSING), str(a_id)) == str(response.data)
    assert state() == before


def test_folder_lists_never_contain_another_companys_folders(world, client_for):
    def names(user, query=""):
        response = client_for(user).get(f"{API}/folders/{query}")
        assert response.status_code == 200
        return [(row["company"], row["name"]) for row in response.data["results"]]

    acme, globex = world.company.pk, world.other_company.pk
    assert names(world.b_owner) == [(globex, "Globex"), (globex, "Ops")]
    assert names(world.b_owner, f"?company={acme}") == []
    assert names(world.m1_owner) == [(acme, "Acme"), (acme, "Eng")]
    assert names(world.operator, f"?company={globex}") == [
        (globex, "Globex"),
        (globex, "Ops"),
    ]
    assert len(names(world.operator)) == 4


# --- folders ---------------------------------------------------------------------


def test_create_folder_without_parent_goes_under_the_root(world, client_for):
    root = Folder.objects.get(company=world.company, parent__isnull=True)

    absent = client_for(world.hq_owner).post(
        f"{API}/folders/", {"company": world.company.pk, "name": "Sales"}, format="json"
    )
    null = client_for(world.hq_owner).post(
        f"{API}/folders/",
        {"company": world.company.pk, "name": "Legal", "parent": None},
        format="json",
    )

    assert absent.status_code == 201, absent.content
    assert {k: absent.data[k] for k in ("company", "name", "parent", "depth")} == {
        "company": world.company.pk,
        "name": "Sales",
        "parent": root.pk,
        "depth": 1,
    }
    assert absent.data["accounts"] == []
    assert null.status_code == 201
    assert (null.data["parent"], null.data["depth"]) == (root.pk, 1)


def test_create_folder_under_a_parent(world, client_for):
    response = client_for(world.operator).post(
        f"{API}/folders/",
        {"company": world.company.pk, "name": "Backend", "parent": world.a_folder.pk},
        format="json",
    )

    assert response.status_code == 201
    assert (response.data["parent"], response.data["depth"]) == (world.a_folder.pk, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"company": "{acme}", "name": "X", "colour": "red"}, "colour"),
        ({"company": "{acme}", "name": "X", "depth": 1}, "depth"),
        ({"company": "{acme}"}, "name"),
        ({"company": "{acme}", "name": ""}, "name"),
        ({"company": "{acme}", "name": "x" * 101}, "name"),
        ({"company": "{acme}", "name": ["X"]}, "name"),
        ({"name": "X"}, "company"),
        ({"company": "acme", "name": "X"}, "company"),
        ({"company": "{acme}", "name": "X", "parent": "{globex_folder}"}, "parent"),
        ({"company": "{acme}", "name": "X", "parent": MISSING}, "parent"),
    ],
)
def test_create_folder_bad_input(world, client_for, body, field):
    values = {
        "{acme}": world.company.pk,
        "{globex_folder}": world.b_folder.pk,
    }
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = state()

    response = client_for(world.operator).post(f"{API}/folders/", body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


def test_create_folder_refusals_are_409(world, client_for):
    client = client_for(world.operator)
    parent = world.a_folder
    for level in range(2, 6):
        response = client.post(
            f"{API}/folders/",
            {"company": world.company.pk, "name": f"L{level}", "parent": parent.pk},
            format="json",
        )
        assert (response.status_code, response.data["depth"]) == (201, level)
        parent = Folder.objects.get(pk=response.data["id"])
    before = state()

    too_deep = client.post(
        f"{API}/folders/",
        {"company": world.company.pk, "name": "L6", "parent": parent.pk},
        format="json",
    )
    taken = client.post(
        f"{API}/folders/", {"company": world.company.pk, "name": "Eng"}, format="json"
    )

    assert too_deep.status_code == 409
    assert reason_codes(too_deep) == ["folder_depth_exceeded"]
    assert taken.status_code == 409
    assert reason_codes(taken) == ["folder_name_taken"]
    assert state() == before


@pytest.mark.parametrize("who", ["m1_owner", "hq_viewer"])
def test_folder_writes_need_the_management_accounts_manage_right(
    world, client_for, make_account, who
):
    client = client_for(getattr(world, who))
    folder = world.a_folder
    before = state()

    responses = [
        client.post(
            f"{API}/folders/", {"company": world.company.pk, "name": "X"}, format="json"
        ),
        client.patch(f"{API}/folders/{folder.pk}/", {"name": "Y"}, format="json"),
        client.delete(f"{API}/folders/{folder.pk}/"),
        client.post(
            f"{API}/folders/{folder.pk}/accounts/",
            {"accounts": [world.m1.pk]},
            format="json",
        ),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert {r.data["code"] for r in responses} == {"no_permission"}
    assert state() == before
    # Reading is fine for anyone of the company.
    assert client.get(f"{API}/folders/{folder.pk}/").status_code == 200


def test_folder_get_patch_delete(world, client_for):
    client = client_for(world.hq_owner)
    root = Folder.objects.get(company=world.company, parent__isnull=True)
    child = services.create_folder(
        company=world.company, name="Child", actor=world.operator
    )

    detail = client.get(f"{API}/folders/{world.a_folder.pk}/")
    renamed = client.patch(
        f"{API}/folders/{world.a_folder.pk}/", {"name": "Engineering"}, format="json"
    )
    moved = client.patch(
        f"{API}/folders/{child.pk}/", {"parent": world.a_folder.pk}, format="json"
    )
    not_empty = client.delete(f"{API}/folders/{world.a_folder.pk}/")
    root_delete = client.delete(f"{API}/folders/{root.pk}/")
    root_move = client.patch(
        f"{API}/folders/{root.pk}/", {"parent": child.pk}, format="json"
    )
    cycle = client.patch(
        f"{API}/folders/{world.a_folder.pk}/", {"parent": child.pk}, format="json"
    )
    deleted = client.delete(f"{API}/folders/{child.pk}/")

    assert detail.status_code == 200
    assert (detail.data["name"], detail.data["parent"], detail.data["depth"]) == (
        "Eng",
        root.pk,
        1,
    )
    assert (renamed.status_code, renamed.data["name"]) == (200, "Engineering")
    assert (moved.status_code, moved.data["parent"], moved.data["depth"]) == (
        200,
        world.a_folder.pk,
        2,
    )
    assert (not_empty.status_code, reason_codes(not_empty)) == (
        409,
        ["folder_not_empty"],
    )
    assert (root_delete.status_code, reason_codes(root_delete)) == (
        409,
        ["root_folder"],
    )
    assert (root_move.status_code, reason_codes(root_move)) == (409, ["root_folder"])
    assert (cycle.status_code, reason_codes(cycle)) == (409, ["folder_cycle"])
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not Folder.objects.filter(pk=child.pk).exists()
    assert client.get(f"{API}/folders/{child.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parent": None}, "parent"),
        ({"parent": MISSING}, "parent"),
        ({"name": ""}, "name"),
        ({"depth": 2}, "depth"),
        ({"company": 1}, "company"),
    ],
)
def test_folder_patch_bad_input(world, client_for, body, field):
    before = state()

    response = client_for(world.operator).patch(
        f"{API}/folders/{world.a_folder.pk}/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


def test_folder_patch_to_another_companys_folder_is_409_for_an_operator(
    world, client_for
):
    response = client_for(world.operator).patch(
        f"{API}/folders/{world.a_folder.pk}/",
        {"parent": world.b_folder.pk},
        format="json",
    )

    assert response.status_code == 409
    assert reason_codes(response) == ["different_company"]


def test_place_accounts(world, client_for):
    client = client_for(world.hq_owner)
    other = services.create_folder(
        company=world.company, name="Other", actor=world.operator
    )

    first = client.post(
        f"{API}/folders/{world.a_folder.pk}/accounts/",
        {"accounts": [world.m1.pk, world.m2.pk]},
        format="json",
    )
    second = client.post(
        f"{API}/folders/{other.pk}/accounts/",
        {"accounts": [world.m1.pk]},
        format="json",
    )

    assert first.status_code == 200, first.content
    assert second.status_code == 200
    placed = dict(Account.objects.values_list("pk", "folder"))
    assert (placed[world.m1.pk], placed[world.m2.pk]) == (other.pk, world.a_folder.pk)
    # HQ's owner may name the members as targets but does not see them: their
    # ids are not listed to it (SPEC §1); an operator sees them.
    assert first.data["accounts"] == second.data["accounts"] == []
    operator = client_for(world.operator)
    assert operator.get(f"{API}/folders/{world.a_folder.pk}/").data["accounts"] == [
        world.m2.pk
    ]
    assert operator.get(f"{API}/folders/{other.pk}/").data["accounts"] == [world.m1.pk]


def test_place_accounts_of_another_company_is_409_for_an_operator(world, client_for):
    before = state()

    response = client_for(world.operator).post(
        f"{API}/folders/{world.a_folder.pk}/accounts/",
        {"accounts": [world.m1.pk, world.b_member.pk]},
        format="json",
    )

    assert response.status_code == 409
    assert reason_codes(response) == ["different_company"]
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accounts": []}, "accounts"),
        ({"accounts": [MISSING]}, "accounts"),
        ({"accounts": "1"}, "accounts"),
        ({}, "accounts"),
        ({"accounts": [1], "folder": 1}, "folder"),
    ],
)
def test_place_accounts_bad_input(world, client_for, body, field):
    before = state()

    response = client_for(world.operator).post(
        f"{API}/folders/{world.a_folder.pk}/accounts/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.data) == [field]
    assert state() == before


def test_anonymous_requests_are_401(world, api_client):
    for method, path in [
        ("get", "/relationships/"),
        ("post", "/relationships/"),
        ("get", f"/relationships/{world.b_relationship.pk}/"),
        ("get", "/folders/"),
        ("post", f"/folders/{world.b_folder.pk}/accounts/"),
        ("put", f"/companies/{world.company.pk}/management-account/"),
    ]:
        response = getattr(api_client, method)(API + path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Token")
