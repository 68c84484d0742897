"""The admin of the enterprise structure (issue 4): financial relationships
(changelist, invite, confirm/reject/cancel/terminate, permissions) and the
resource directory (tree, add, place, move, delete), scoped per company."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts import services
from accounts.models import Account, Company, FinancialRelationship, Folder
from accounts.models.structure import RelationshipPermission
from billing_portal import roles
from billing_portal.errors import ActionForbidden, DirectoryRefused, RelationshipRefused
from billing_portal.models import AuditEvent
from tests.accounts.conftest_admin import (
    confirmation_fields,
    disabled_button,
    parse,
    refusal_items,
    result_rows,
    review_and_confirm,
    table_rows,
)
from tests.factories import AccountFactory, UserFactory

MISSING = 999999
CHECK = RelationshipPermission.CHECK_TARGET_CONSUMPTION
SYNC = RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY
T_CONFIRM = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
Status = FinancialRelationship.Status


@dataclass
class World:
    company: Company
    other_company: Company
    hq: Account
    m1: Account
    m2: Account
    m_usd: Account
    b_hq: Account
    b_member: Account
    b_relationship: FinancialRelationship
    b_folder: Folder
    operator: object
    hq_owner: object
    hq_viewer: object
    m1_owner: object
    b_owner: object
    cbm: object

    def user(self, role):
        return getattr(self, role)


@pytest.fixture
def world(company, other_company, make_account, operator, owner, grant):
    """Acme: HQ (management account, owned by ``hq_owner``), members m1 (owned by
    ``m1_owner``), m2 and a dollar account. Globex: its HQ with a pending
    relationship and a folder, both accounts owned by ``b_owner``."""
    hq = make_account(name="Acme HQ", uid="1000000000000001")
    m1 = make_account(name="Acme M1", uid="1000000000000002")
    m2 = make_account(name="Acme M2", uid="1000000000000003")
    m_usd = make_account(name="Acme Dollar", uid="1000000000000004", currency="USD")
    services.set_management_account(company=company, account=hq, actor=operator)
    b_hq = AccountFactory(
        company=other_company, name="Globex HQ", uid="2000000000000001"
    )
    b_member = AccountFactory(
        company=other_company, name="Globex M", uid="2000000000000002"
    )
    services.set_management_account(company=other_company, account=b_hq, actor=operator)
    users = {
        name: UserFactory(username=name)
        for name in ("hq_viewer", "m1_owner", "b_owner", "cbm")
    }
    users["cbm"].groups.add(roles.ensure_groups()[roles.CBM])
    # Test setup, not a write under test: the business manager is a plain field.
    Company.objects.filter(pk=company.pk).update(business_manager=users["cbm"])
    grant(owner, hq, "owner")
    grant(users["hq_viewer"], hq, "use")
    grant(users["m1_owner"], m1, "owner")
    grant(users["b_owner"], b_hq, "owner")
    grant(users["b_owner"], b_member, "owner")
    b_relationship = services.invite_member(
        management_account=b_hq,
        member_account=b_member,
        type="financial_management",
        permissions=[],
        actor=operator,
    )
    b_folder = services.create_folder(
        company=other_company, name="Globex Ops", actor=operator
    )
    return World(
        company=company,
        other_company=other_company,
        hq=hq,
        m1=m1,
        m2=m2,
        m_usd=m_usd,
        b_hq=b_hq,
        b_member=b_member,
        b_relationship=b_relationship,
        b_folder=b_folder,
        operator=operator,
        hq_owner=owner,
        **users,
    )


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def rel_url(action, pk):
    if action in ("change", "permissions"):
        return url(f"accounts_financialrelationship_{action}", pk)
    return url("accounts_financialrelationship_action", pk, action)


def login(client, world, role):
    client.force_login(world.user(role))
    return client


def invite(world, member=None, type="trusteeship", permissions=()):
    return services.invite_member(
        management_account=world.hq,
        member_account=member or world.m1,
        type=type,
        permissions=list(permissions),
        actor=world.hq_owner,
    )


def messages_shown(response) -> list[str]:
    root = parse(response)
    return [
        li.text for ul in root.with_class("messagelist") for li in ul.find_all("li")
    ]


def logs(obj) -> list[tuple]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)),
            object_id=str(obj.pk),
        )
        .order_by("pk")
        .values_list("user", "action_flag", "change_message")
    )


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
        "log_entries": LogEntry.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def same_as_missing(client, method, make_url, pk, data=None):
    """The answer for ``pk`` equals the answer for an id that does not exist."""

    def outcome(key):
        call = client.post if method == "post" else client.get
        response = call(make_url(key), data or {}, follow=True)
        return (
            response.status_code,
            response.redirect_chain,
            [m.replace(str(key), "{id}") for m in messages_shown(response)],
        )

    seen, missing = outcome(pk), outcome(MISSING)
    assert seen == missing
    assert seen[1] == [(url("index"), 302)]
    assert len(seen[2]) == 1
    assert "ID \u201c{id}\u201d doesn\u2019t exist" in seen[2][0]
    return seen


# --- relationships: changelist and change page ------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("operator", ["a_m2", "a_m1", "b"]),
        ("hq_owner", ["a_m2", "a_m1"]),
        ("hq_viewer", ["a_m2", "a_m1"]),
        ("m1_owner", ["a_m1"]),
        ("cbm", ["a_m2", "a_m1"]),
        ("b_owner", ["b"]),
    ],
)
def test_relationship_changelist_is_scoped_per_role(client, world, role, expected):
    a_m1 = invite(world, permissions=[CHECK, SYNC])
    a_m2 = invite(world, member=world.m2, type="financial_management")
    ids = {"a_m1": a_m1.pk, "a_m2": a_m2.pk, "b": world.b_relationship.pk}
    login(client, world, role)

    response = client.get(url("accounts_financialrelationship_changelist"))

    assert response.status_code == 200
    rows = result_rows(response)
    assert [int(row[0]) for row in rows] == [ids[name] for name in expected]
    html = response.content.decode()
    # The invite page is offered to those who may invite (the administrators of
    # a management account, operators); the others are told who invites.
    note = parse(response).find("p", id="invite-note")
    if role in ("operator", "hq_owner", "b_owner"):
        assert url("accounts_financialrelationship_invite") in html
        assert note is None
    else:
        assert url("accounts_financialrelationship_invite") not in html
        assert note.text.startswith(
            "Only the owner or manage administrators of a company's enterprise "
            "management account invite member accounts"
        )
    if "a_m1" in expected:
        row = rows[expected.index("a_m1")]
        assert row[1:] == [
            "Acme HQ (1000000000000001)",
            "Acme M1 (1000000000000002)",
            "Trusteeship (pay on behalf)",
            "Pending",
            "-",
            "-",
            # Each permission by its sentence (one list item each), not its code.
            f"{CHECK.label}{SYNC.label}",
        ]
    if "b" not in expected:
        assert "Globex" not in html


def test_change_page_shows_the_actions_the_user_may_take(client, world):
    relationship = invite(world, permissions=[CHECK])

    def links(role):
        login(client, world, role)
        response = client.get(rel_url("change", relationship.pk))
        assert response.status_code == 200
        html = response.content.decode()
        assert "Trusteeship: while active" in html
        assert "invoices and cash withdrawals are not part of this product" in html
        return [
            name
            for name in ("confirm", "reject", "cancel", "terminate", "permissions")
            if rel_url(name, relationship.pk) in html
        ]

    assert links("m1_owner") == ["confirm", "reject"]
    assert links("hq_owner") == ["cancel", "permissions"]
    assert links("hq_viewer") == []
    assert links("operator") == ["confirm", "reject", "cancel", "permissions"]
    services.confirm_relationship(relationship=relationship, actor=world.m1_owner)
    assert links("m1_owner") == []
    assert links("hq_owner") == ["terminate", "permissions"]


# --- relationships: invite --------------------------------------------------------


def test_invite_form_offers_the_management_account_and_target_accounts(client, world):
    login(client, world, "hq_owner")

    response = client.get(url("accounts_financialrelationship_invite"))

    assert response.status_code == 200
    form = response.context_data["form"]
    assert list(form.fields["management_account"].queryset) == [world.hq]
    assert set(form.fields["member_account"].queryset) == {
        world.hq,
        world.m1,
        world.m2,
        world.m_usd,
    }
    html = response.content.decode()
    for code in RelationshipPermission.values:
        assert f'value="{code}"' in html
    assert "invoices and cash withdrawals are not part of this product" in html


@pytest.mark.parametrize("role", ["hq_viewer", "m1_owner"])
def test_invite_page_explains_who_can_invite_instead_of_an_empty_form(
    client, world, role
):
    login(client, world, role)

    response = client.get(url("accounts_financialrelationship_invite"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "only the owner or manage administrators of a company" in html
    assert "Send invitation" not in html
    assert not response.context_data["form"].fields["management_account"].queryset


def test_inviting_the_management_account_itself_says_so(client, world):
    login(client, world, "hq_owner")

    response = client.post(
        url("accounts_financialrelationship_invite"),
        {
            "management_account": world.hq.pk,
            "member_account": world.hq.pk,
            "type": "financial_management",
        },
    )

    assert f"Account {world.hq.uid} cannot be invited as a member of itself" in (
        response.content.decode()
    )
    assert not FinancialRelationship.objects.filter(member_account=world.hq).exists()


def test_invite_creates_a_pending_relationship(client, world):
    login(client, world, "hq_owner")

    response = client.post(
        url("accounts_financialrelationship_invite"),
        {
            "management_account": world.hq.pk,
            "member_account": world.m1.pk,
            "type": "trusteeship",
            "permissions": [SYNC, CHECK],
        },
        follow=True,
    )

    relationship = FinancialRelationship.objects.get(member_account=world.m1)
    assert response.redirect_chain == [(rel_url("change", relationship.pk), 302)]
    assert response.status_code == 200
    assert (relationship.status, relationship.type, relationship.permissions) == (
        Status.PENDING,
        "trusteeship",
        sorted([CHECK, SYNC]),
    )
    assert relationship.invited_by == world.hq_owner
    assert logs(relationship) == [(world.hq_owner.pk, ADDITION, "Invited member.")]
    assert any("pending until" in m for m in messages_shown(response))


def test_invite_refusal_shows_every_reason_and_writes_nothing(client, world, operator):
    services.charge_usage(
        usage_account=world.m_usd, amount=Decimal("3.00"), effective_at=T_CONFIRM
    )
    invite(world, member=world.m1)
    login(client, world, "hq_owner")
    before = state()

    usd = client.post(
        url("accounts_financialrelationship_invite"),
        {
            "management_account": world.hq.pk,
            "member_account": world.m_usd.pk,
            "type": "trusteeship",
        },
    )
    taken = client.post(
        url("accounts_financialrelationship_invite"),
        {
            "management_account": world.hq.pk,
            "member_account": world.m1.pk,
            "type": "financial_management",
        },
    )

    assert usd.status_code == 200
    items = refusal_items(usd)
    assert [item.rsplit(" ", 1)[1] for item in items] == [
        "member_overdue",
        "currency_mismatch",
    ]
    assert "1000000000000004" in items[0]
    assert "-3.00" in items[0]
    assert "The invitation was refused. Nothing was saved." in usd.content.decode()
    assert [i.rsplit(" ", 1)[1] for i in refusal_items(taken)] == [
        "member_has_active_relationship"
    ]
    assert state() == before


def test_invite_of_another_companys_account_by_an_operator_lists_the_reasons(
    client, world
):
    login(client, world, "operator")
    before = state()

    response = client.post(
        url("accounts_financialrelationship_invite"),
        {
            "management_account": world.hq.pk,
            "member_account": world.b_member.pk,
            "type": "trusteeship",
        },
    )

    assert [i.rsplit(" ", 1)[1] for i in refusal_items(response)] == [
        "different_company",
        "member_has_active_relationship",
    ]
    assert state() == before


@pytest.mark.parametrize(
    ("role", "field", "value"),
    [
        ("hq_owner", "member_account", "b_member"),
        ("hq_owner", "management_account", "m1"),
        ("hq_viewer", "management_account", "hq"),
    ],
)
def test_invite_form_refuses_accounts_out_of_reach(client, world, role, field, value):
    login(client, world, role)
    data = {
        "management_account": world.hq.pk,
        "member_account": world.m1.pk,
        "type": "trusteeship",
    }
    data[field] = getattr(world, value).pk
    before = state()

    response = client.post(url("accounts_financialrelationship_invite"), data)

    assert response.status_code == 200
    assert list(response.context_data["form"].errors) == [field]
    assert state() == before


# --- relationships: actions -------------------------------------------------------


ACTION_CASES = [
    # action, who acts, status before, status after, done message
    ("confirm", "m1_owner", "pending", "active", "The relationship is active."),
    ("reject", "m1_owner", "pending", "rejected", "The invitation was rejected."),
    ("cancel", "hq_owner", "pending", "cancelled", "The invitation was cancelled."),
    (
        "terminate",
        "hq_owner",
        "active",
        "terminated",
        "The relationship was terminated.",
    ),
]


def relationship_in(world, status):
    relationship = invite(world)
    if status == "active":
        with mock.patch("django.utils.timezone.now", return_value=T_CONFIRM):
            services.confirm_relationship(
                relationship=relationship, actor=world.m1_owner
            )
    relationship.refresh_from_db()
    return relationship


@pytest.mark.parametrize(("action", "who", "before", "after", "done"), ACTION_CASES)
def test_action_confirmation_page_then_post_acts(
    client, world, action, who, before, after, done
):
    relationship = relationship_in(world, before)
    login(client, world, who)
    unchanged = state()

    page = client.get(rel_url(action, relationship.pk))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme HQ (1000000000000001)" in html
    assert "Acme M1 (1000000000000002)" in html
    assert str(page.context_data["question"]) in html
    assert page.context_data["refusal"] is None
    assert state() == unchanged

    response = client.post(
        rel_url(action, relationship.pk), confirmation_fields(page), follow=True
    )

    assert response.redirect_chain == [(rel_url("change", relationship.pk), 302)]
    assert done in messages_shown(response)
    relationship.refresh_from_db()
    assert relationship.status == after
    if after == "active":
        assert relationship.start is not None
        assert relationship.end is None
    if after == "terminated":
        assert relationship.start == T_CONFIRM
        assert relationship.end > T_CONFIRM
    assert logs(relationship)[-1] == (world.user(who).pk, CHANGE, done)


@pytest.mark.parametrize(("action", "who", "before", "after", "done"), ACTION_CASES)
def test_operator_may_take_every_action(
    client, world, action, who, before, after, done
):
    relationship = relationship_in(world, before)
    login(client, world, "operator")

    response = review_and_confirm(client, rel_url(action, relationship.pk))

    assert response.status_code == 302
    relationship.refresh_from_db()
    assert relationship.status == after


@pytest.mark.parametrize(
    ("action", "status", "who"),
    [
        ("confirm", "pending", "hq_owner"),
        ("reject", "pending", "hq_owner"),
        ("confirm", "pending", "cbm"),
        ("cancel", "pending", "m1_owner"),
        ("terminate", "active", "m1_owner"),
        ("terminate", "active", "hq_viewer"),
    ],
)
def test_actions_without_the_right_are_403(client, world, action, status, who):
    relationship = relationship_in(world, status)
    login(client, world, who)
    before = state()

    assert client.get(rel_url(action, relationship.pk)).status_code == 403
    assert client.post(rel_url(action, relationship.pk)).status_code == 403
    assert state() == before


@pytest.mark.parametrize(
    ("action", "status", "who"),
    [
        ("confirm", "active", "m1_owner"),
        ("reject", "active", "m1_owner"),
        ("cancel", "active", "hq_owner"),
        ("terminate", "pending", "hq_owner"),
        ("confirm", "active", "operator"),
    ],
)
def test_an_action_in_the_wrong_state_shows_invalid_state(
    client, world, action, status, who
):
    relationship = relationship_in(world, status)
    login(client, world, who)
    before = state()

    response = review_and_confirm(client, rel_url(action, relationship.pk))

    assert response.status_code == 200
    items = refusal_items(response)
    assert [i.rsplit(" ", 1)[1] for i in items] == ["invalid_state"]
    assert "Refused. Nothing changed." in response.content.decode()
    assert state() == before


def test_trusteeship_confirmation_of_an_overdue_member_is_refused_on_the_page(
    client, world, operator
):
    relationship = invite(world)
    services.charge_usage(
        usage_account=world.m1, amount=Decimal("0.50"), effective_at=T_CONFIRM
    )
    login(client, world, "m1_owner")
    before = state()

    response = review_and_confirm(client, rel_url("confirm", relationship.pk))

    assert [i.rsplit(" ", 1)[1] for i in refusal_items(response)] == ["member_overdue"]
    assert state() == before


@pytest.mark.parametrize(
    "view",
    ["change", "history", "confirm", "reject", "cancel", "terminate", "permissions"],
)
@pytest.mark.parametrize("role", ["hq_owner", "m1_owner", "cbm", "hq_viewer"])
def test_another_companys_relationship_is_answered_like_a_missing_id(
    client, world, view, role
):
    login(client, world, role)
    before = state()

    for method in ("get", "post"):
        if view in ("change", "history") and method == "post":
            continue
        same_as_missing(
            client,
            method,
            lambda pk, v=view: (
                url("accounts_financialrelationship_history", pk)
                if v == "history"
                else rel_url(v, pk)
            ),
            world.b_relationship.pk,
        )

    assert state() == before


# --- relationships: permissions ---------------------------------------------------


def test_permissions_view_shows_and_saves_the_codes(client, world):
    relationship = relationship_in(world, "active")
    services.set_relationship_permissions(
        relationship=relationship, permissions=[CHECK], actor=world.hq_owner
    )
    login(client, world, "hq_owner")

    page = client.get(rel_url("permissions", relationship.pk))
    response = client.post(
        rel_url("permissions", relationship.pk),
        {"permissions": [SYNC, "FORBID_WITHDRAW_CASH"]},
        follow=True,
    )

    assert page.status_code == 200
    assert page.context_data["form"].initial == {"permissions": [CHECK]}
    assert "invoices and cash withdrawals are not part of this product" in (
        page.content.decode()
    )
    assert response.redirect_chain == [(rel_url("change", relationship.pk), 302)]
    assert "Permissions saved." in messages_shown(response)
    relationship.refresh_from_db()
    assert relationship.permissions == ["FORBID_WITHDRAW_CASH", SYNC]
    assert logs(relationship)[-1] == (
        world.hq_owner.pk,
        CHANGE,
        "Changed permissions.",
    )
    event = AuditEvent.objects.filter(action="relationship.permissions").first()
    assert (event.before, event.after) == (
        {"permissions": [CHECK]},
        {"permissions": ["FORBID_WITHDRAW_CASH", SYNC]},
    )


def test_permissions_view_unticking_every_code_clears_them(client, world):
    relationship = invite(world, permissions=[CHECK, SYNC])
    login(client, world, "hq_owner")

    response = client.post(rel_url("permissions", relationship.pk), {})

    assert response.status_code == 302
    relationship.refresh_from_db()
    assert relationship.permissions == []


def test_permissions_view_refusals(client, world):
    relationship = relationship_in(world, "active")
    login(client, world, "m1_owner")
    assert client.get(rel_url("permissions", relationship.pk)).status_code == 403

    services.terminate_relationship(relationship=relationship, actor=world.hq_owner)
    login(client, world, "hq_owner")
    before = state()
    bad_code = client.post(
        rel_url("permissions", relationship.pk), {"permissions": ["NOPE"]}
    )
    ended = client.post(rel_url("permissions", relationship.pk), {"permissions": []})

    assert list(bad_code.context_data["form"].errors) == ["permissions"]
    assert [i.rsplit(" ", 1)[1] for i in refusal_items(ended)] == ["invalid_state"]
    assert state() == before


# --- the directory tree -----------------------------------------------------------


def tree_sections(response) -> dict[str, list[list[str]]]:
    """Company heading → rows of [folder, here, subtree] as the page shows them."""
    sections = {}
    for panel in parse(response).with_class("portal-panel"):
        title = panel.find("h2").text.split(" \u2014 ")[0]
        rows = table_rows(panel.find("tbody"))
        sections[title] = [row[:3] for row in rows]
    return sections


@pytest.fixture
def tree(world):
    """Acme: Eng (Backend (API)), Sales; accounts spread over them."""
    op = world.operator
    eng = services.create_folder(company=world.company, name="Eng", actor=op)
    backend = services.create_folder(
        company=world.company, name="Backend", parent=eng, actor=op
    )
    api = services.create_folder(
        company=world.company, name="API", parent=backend, actor=op
    )
    sales = services.create_folder(company=world.company, name="Sales", actor=op)
    services.place_accounts(folder=backend, accounts=[world.m1, world.m2], actor=op)
    services.place_accounts(folder=api, accounts=[world.m_usd], actor=op)
    return {"eng": eng, "backend": backend, "api": api, "sales": sales}


ACME_TREE = [
    ["Acme (root)", "1", "4"],
    ["\u2514 Eng", "0", "3"],
    ["\u2514 Backend", "2", "3"],
    ["\u2514 API", "1", "1"],
    ["\u2514 Sales", "0", "0"],
]
GLOBEX_TREE = [["Globex (root)", "2", "2"], ["\u2514 Globex Ops", "0", "0"]]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("operator", {"Acme": ACME_TREE, "Globex": GLOBEX_TREE}),
        ("hq_owner", {"Acme": ACME_TREE}),
        ("m1_owner", {"Acme": ACME_TREE}),
        ("cbm", {"Acme": ACME_TREE}),
        ("b_owner", {"Globex": GLOBEX_TREE}),
    ],
)
def test_directory_tree_shows_each_visible_company_with_counts(
    client, world, tree, role, expected
):
    login(client, world, role)

    response = client.get(url("accounts_folder_changelist"))

    assert response.status_code == 200
    assert tree_sections(response) == expected
    html = response.content.decode()
    if "Globex" not in expected:
        assert "Globex" not in html
    if "Acme" not in expected:
        assert "Backend" not in html


def test_directory_tree_offers_management_links_only_to_managers(client, world, tree):
    links = {
        "add": url("accounts_folder_add_to", world.company.pk),
        "place": url("accounts_folder_place", tree["eng"].pk),
        "move": url("accounts_folder_move", tree["eng"].pk),
        "remove": url("accounts_folder_remove", tree["sales"].pk),
    }
    root = Folder.objects.get(company=world.company, parent__isnull=True)

    def shown(role):
        login(client, world, role)
        html = client.get(url("accounts_folder_changelist")).content.decode()
        return sorted(name for name, link in links.items() if link in html), (
            url("accounts_folder_move", root.pk) in html
        )

    assert shown("hq_owner") == (["add", "move", "place", "remove"], False)
    assert shown("operator") == (["add", "move", "place", "remove"], False)
    assert shown("m1_owner") == ([], False)
    assert shown("hq_viewer") == ([], False)
    page = parse(client.get(url("accounts_folder_changelist")))
    assert "Read-only: only billing operators and the owner or manage" in page.text


def test_deleting_a_folder_that_holds_something_is_greyed_with_the_services_reason(
    client, world, tree
):
    login(client, world, "hq_owner")

    page = client.get(url("accounts_folder_changelist"))

    html = page.content.decode()
    assert url("accounts_folder_remove", tree["sales"].pk) in html  # empty
    for name in ("eng", "backend", "api"):
        assert url("accounts_folder_remove", tree[name].pk) not in html
    greyed = {span.attrs["title"] for span in parse(page).with_class("portal-disabled")}
    with pytest.raises(DirectoryRefused) as refused:
        services.delete_folder(folder=tree["eng"], actor=world.hq_owner)
    assert refused.value.reasons[0].message in greyed
    assert greyed == {
        "Folder Eng still holds accounts or folders; empty it first.",
        "Folder Backend still holds accounts or folders; empty it first.",
        "Folder API still holds accounts or folders; empty it first.",
    }
    assert "Only an empty folder (no accounts and no folders in it)" in (
        parse(page).text
    )


# --- the directory: add, place, move, delete --------------------------------------


def test_add_folder_under_the_root_by_default(client, world):
    login(client, world, "hq_owner")
    root = Folder.objects.get(company=world.company, parent__isnull=True)

    page = client.get(url("accounts_folder_add_to", world.company.pk))
    parents = set(page.context_data["form"].fields["parent"].queryset)
    response = client.post(
        url("accounts_folder_add_to", world.company.pk), {"name": "Legal"}, follow=True
    )

    assert page.status_code == 200
    assert parents == {root}
    assert response.redirect_chain == [(url("accounts_folder_changelist"), 302)]
    assert "Folder created." in messages_shown(response)
    folder = Folder.objects.get(company=world.company, name="Legal")
    assert (folder.parent_id, folder.depth) == (root.pk, 1)
    assert logs(folder) == [(world.hq_owner.pk, ADDITION, "Created folder.")]


def test_a_name_of_emoji_is_kept_whole_and_one_too_long_is_refused(client, world):
    """The browser's maxlength counts UTF-16 units (an emoji counts twice) and
    would cut such a name silently: the input has none, the server counts
    characters and names the field when there are too many."""
    login(client, world, "hq_owner")
    add = url("accounts_folder_add_to", world.company.pk)
    page = parse(client.get(add))
    name_input = page.find("input", name="name")
    assert name_input is not None
    assert "maxlength" not in name_input.attrs
    emoji = "\U0001f600" * 100  # 100 characters, 200 UTF-16 units
    client.post(add, {"name": emoji})
    assert Folder.objects.filter(company=world.company, name=emoji).exists()
    refused = client.post(add, {"name": emoji + "x"})
    assert refused.status_code == 200
    errors = refused.context_data["form"].errors
    assert list(errors) == ["name"]
    assert "at most 100 characters (it has 101)" in errors["name"][0]
    assert not Folder.objects.filter(name=emoji + "x").exists()


def test_add_folder_refusals_are_shown_and_nothing_written(client, world, tree):
    login(client, world, "hq_owner")
    parent = tree["api"]
    for name in ("L4", "L5"):
        parent = services.create_folder(
            company=world.company, name=name, parent=parent, actor=world.operator
        )
    before = state()

    too_deep = client.post(
        url("accounts_folder_add_to", world.company.pk),
        {"name": "L6", "parent": parent.pk},
    )
    taken = client.post(
        url("accounts_folder_add_to", world.company.pk), {"name": "Eng"}
    )
    foreign_parent = client.post(
        url("accounts_folder_add_to", world.company.pk),
        {"name": "X", "parent": world.b_folder.pk},
    )

    assert [i.rsplit(" ", 1)[1] for i in refusal_items(too_deep)] == [
        "folder_depth_exceeded"
    ]
    assert [i.rsplit(" ", 1)[1] for i in refusal_items(taken)] == ["folder_name_taken"]
    assert list(foreign_parent.context_data["form"].errors) == ["parent"]
    assert state() == before


@pytest.mark.parametrize("role", ["m1_owner", "hq_viewer", "cbm"])
def test_directory_views_are_403_for_users_who_may_not_manage(
    client, world, tree, role
):
    login(client, world, role)
    folder = tree["eng"]
    before = state()

    answers = [
        client.get(url("accounts_folder_add_to", world.company.pk)).status_code,
        client.post(
            url("accounts_folder_add_to", world.company.pk), {"name": "X"}
        ).status_code,
        client.post(
            url("accounts_folder_place", folder.pk), {"accounts": [world.m1.pk]}
        ).status_code,
        client.post(url("accounts_folder_move", folder.pk), {"name": "Y"}).status_code,
        client.post(url("accounts_folder_remove", tree["sales"].pk)).status_code,
    ]

    assert answers == [403] * 5
    assert state() == before


def test_place_accounts_moves_them_out_of_their_previous_folder(client, world, tree):
    login(client, world, "hq_owner")

    page = client.get(url("accounts_folder_place", tree["sales"].pk))
    response = client.post(
        url("accounts_folder_place", tree["sales"].pk),
        {"accounts": [world.m1.pk, world.hq.pk]},
        follow=True,
    )

    assert page.status_code == 200
    assert set(page.context_data["form"].fields["accounts"].queryset) == {
        world.hq,
        world.m1,
        world.m2,
        world.m_usd,
    }
    assert "Acme M1 (1000000000000002) \u2014 now in Backend" in (page.content.decode())
    assert response.redirect_chain == [(url("accounts_folder_changelist"), 302)]
    assert "Accounts moved into Sales." in messages_shown(response)
    assert set(tree["sales"].accounts.all()) == {world.m1, world.hq}
    assert list(tree["backend"].accounts.all()) == [world.m2]
    assert logs(tree["sales"]) == [(world.hq_owner.pk, CHANGE, "Placed accounts.")]
    assert tree_sections(response)["Acme"] == [
        ["Acme (root)", "0", "4"],
        ["\u2514 Eng", "0", "2"],
        ["\u2514 Backend", "1", "2"],
        ["\u2514 API", "1", "1"],
        ["\u2514 Sales", "2", "2"],
    ]


def test_place_accounts_refuses_another_companys_account(client, world, tree):
    login(client, world, "operator")
    before = state()

    response = client.post(
        url("accounts_folder_place", tree["sales"].pk),
        {"accounts": [world.m1.pk, world.b_member.pk]},
    )

    assert response.status_code == 200
    assert list(response.context_data["form"].errors) == ["accounts"]
    assert state() == before


def test_move_folder_with_its_subtree(client, world, tree):
    login(client, world, "hq_owner")

    page = client.get(url("accounts_folder_move", tree["backend"].pk))
    response = client.post(
        url("accounts_folder_move", tree["backend"].pk),
        {"name": "Backend", "parent": tree["sales"].pk},
        follow=True,
    )

    assert page.context_data["form"].initial == {
        "name": "Backend",
        "parent": tree["eng"].pk,
    }
    assert tree["backend"] not in page.context_data["form"].fields["parent"].queryset
    assert "Folder saved." in messages_shown(response)
    assert [
        (f.parent_id, f.depth)
        for f in Folder.objects.filter(
            pk__in=[tree["backend"].pk, tree["api"].pk]
        ).order_by("depth")
    ] == [(tree["sales"].pk, 2), (tree["backend"].pk, 3)]
    assert logs(tree["backend"]) == [
        (world.hq_owner.pk, CHANGE, "Renamed or moved folder.")
    ]


def test_move_refusals_are_shown_and_nothing_written(client, world, tree):
    login(client, world, "hq_owner")
    deep = tree["api"]
    for name in ("L4", "L5"):
        deep = services.create_folder(
            company=world.company, name=name, parent=deep, actor=world.operator
        )
    root = Folder.objects.get(company=world.company, parent__isnull=True)
    before = state()

    def codes(folder, parent):
        response = client.post(
            url("accounts_folder_move", folder.pk),
            {"name": folder.name, "parent": parent.pk},
        )
        assert response.status_code == 200
        return [i.rsplit(" ", 1)[1] for i in refusal_items(response)]

    # Eng's subtree is 4 levels high (Eng, Backend, API, L4, L5): under Sales
    # its deepest folder would be at level 6.
    assert codes(tree["eng"], tree["sales"]) == ["folder_depth_exceeded"]
    assert codes(tree["eng"], tree["api"]) == ["folder_cycle"]
    assert codes(root, tree["sales"]) == ["root_folder"]
    assert state() == before


def test_delete_folder_confirmation_then_delete(client, world, tree):
    login(client, world, "hq_owner")

    page = client.get(url("accounts_folder_remove", tree["sales"].pk))
    response = client.post(
        url("accounts_folder_remove", tree["sales"].pk),
        confirmation_fields(page),
        follow=True,
    )

    assert page.status_code == 200
    assert "Only an empty folder can be deleted." in page.content.decode()
    assert Folder.objects.filter(pk=tree["sales"].pk).exists() is False
    assert response.redirect_chain == [(url("accounts_folder_changelist"), 302)]
    assert "Folder deleted." in messages_shown(response)


def test_delete_refusals_are_shown(client, world, tree):
    login(client, world, "hq_owner")
    root = Folder.objects.get(company=world.company, parent__isnull=True)
    before = state()

    def codes(folder):
        response = review_and_confirm(client, url("accounts_folder_remove", folder.pk))
        assert response.status_code == 200
        return [i.rsplit(" ", 1)[1] for i in refusal_items(response)]

    assert codes(tree["eng"]) == ["folder_not_empty"]  # subfolders
    assert codes(tree["api"]) == ["folder_not_empty"]  # an account
    assert codes(root) == ["root_folder"]
    assert state() == before


@pytest.mark.parametrize("view", ["place", "move", "remove", "change"])
@pytest.mark.parametrize("role", ["hq_owner", "m1_owner", "cbm"])
def test_another_companys_folder_is_answered_like_a_missing_id(
    client, world, view, role
):
    login(client, world, role)
    before = state()

    for method in ("get", "post") if view != "change" else ("get",):
        same_as_missing(
            client,
            method,
            lambda pk, v=view: url(f"accounts_folder_{v}", pk),
            world.b_folder.pk,
            data={"name": "Mine", "accounts": [world.m1.pk]},
        )

    assert state() == before


@pytest.mark.parametrize("role", ["hq_owner", "m1_owner"])
def test_another_companys_directory_is_answered_like_a_missing_id(client, world, role):
    login(client, world, role)
    before = state()

    for method in ("get", "post"):
        same_as_missing(
            client,
            method,
            lambda pk: url("accounts_folder_add_to", pk),
            world.other_company.pk,
            data={"name": "Mine"},
        )

    assert state() == before


# --- relationships: a button only where it can succeed ----------------------------


def test_the_members_other_administrators_see_that_only_its_owner_answers(
    client, world, grant
):
    relationship = invite(world, type="financial_management")
    m1_manager = UserFactory(username="m1_manager")
    grant(m1_manager, world.m1, "manage")
    client.force_login(m1_manager)

    page = client.get(rel_url("change", relationship.pk))

    html = page.content.decode()
    assert rel_url("confirm", relationship.pk) not in html
    assert rel_url("reject", relationship.pk) not in html
    tools = parse(page).with_class("object-tools")[0]
    with pytest.raises(ActionForbidden) as forbidden:
        services.confirm_relationship(relationship=relationship, actor=m1_manager)
    sentence = forbidden.value.reasons[0].message
    assert sentence == (
        "Only an owner of account 1000000000000002 can accept or reject its invitation."
    )
    for label in ("Confirm", "Reject"):
        assert disabled_button(tools, label)["title"] == sentence
    assert [
        li.text for li in parse(page).find_all("li", **{"data-reason": "no_permission"})
    ] == [
        sentence,
        sentence,
    ]


def test_confirming_a_trusteeship_of_an_overdue_member_is_greyed_with_why(
    client, world, charge
):
    relationship = invite(world, type="trusteeship")
    charge(world.m1, "10.00")  # no cash: overdue since the invitation
    login(client, world, "m1_owner")

    page = client.get(rel_url("change", relationship.pk))

    html = page.content.decode()
    assert rel_url("confirm", relationship.pk) not in html
    assert rel_url("reject", relationship.pk) in html  # rejecting still works
    with pytest.raises(RelationshipRefused) as refused:
        services.confirm_relationship(relationship=relationship, actor=world.m1_owner)
    sentence = refused.value.reasons[0].message
    assert sentence.startswith("Account 1000000000000002 has an overdue payment")
    confirm = disabled_button(parse(page).with_class("object-tools")[0], "Confirm")
    assert confirm["title"] == sentence
    shown = parse(page).find_all("li", **{"data-reason": "member_overdue"})
    assert [li.text for li in shown] == [sentence]
