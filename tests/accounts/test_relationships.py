"""Financial relationships (SPEC §3.6): the management account, invitations with
every refusal, the lifecycle and its periods, trusteeship charge posting, and the
two permission codes that take effect (CHECK_TARGET_CONSUMPTION,
SYNCHRONIZE_FINANCE_IDENTITY)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Account, Charge, Company, FinancialRelationship, Movement
from accounts.models.structure import RelationshipPermission
from billing_portal.errors import ActionForbidden, RelationshipRefused
from billing_portal.models import AuditEvent
from sharing.services import record_usage
from tests.api.helpers import API
from tests.factories import AccountFactory, UserFactory

D = Decimal
FM = FinancialRelationship.Type.FINANCIAL_MANAGEMENT
TR = FinancialRelationship.Type.TRUSTEESHIP
BOTH_TYPES = [FM, TR]
Status = FinancialRelationship.Status
CHECK = RelationshipPermission.CHECK_TARGET_CONSUMPTION
SYNC = RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY
MICRO = timedelta(microseconds=1)

# Instants with full precision: "active at t" is start <= t < end, exactly.
T_INVITE = datetime(2025, 2, 20, 9, 0, 0, 0, tzinfo=UTC)
T_START = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
T_END = datetime(2025, 3, 10, 8, 30, 0, 654321, tzinfo=UTC)


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def ago(**delta):
    return timezone.now() - timedelta(**delta)


def at(instant):
    """Freeze the clock the services read (``timezone.now()``)."""
    return mock.patch("django.utils.timezone.now", return_value=instant)


@dataclass
class Enterprise:
    company: Company
    hq: Account
    member: Account
    hq_owner: object
    hq_manager: object
    hq_viewer: object
    member_owner: object
    member_manager: object


@pytest.fixture
def ent(company, make_account, operator, owner, grant):
    """Acme (verified): HQ is its management account; Member is another of its
    accounts. ``owner`` owns HQ; ``member_owner`` owns Member."""
    hq = make_account(name="HQ")
    member = make_account(name="Member")
    services.set_management_account(company=company, account=hq, actor=operator)
    hq_manager = UserFactory(username="hq-manager")
    hq_viewer = UserFactory(username="hq-viewer")
    member_owner = UserFactory(username="member-owner")
    member_manager = UserFactory(username="member-manager")
    grant(owner, hq, "owner")
    grant(hq_manager, hq, "manage")
    grant(hq_viewer, hq, "use")
    grant(member_owner, member, "owner")
    grant(member_manager, member, "manage")
    company.refresh_from_db()
    return Enterprise(
        company=company,
        hq=hq,
        member=member,
        hq_owner=owner,
        hq_manager=hq_manager,
        hq_viewer=hq_viewer,
        member_owner=member_owner,
        member_manager=member_manager,
    )


def invite(ent, *, type=TR, permissions=(), actor=None, member=None, manager=None):
    return services.invite_member(
        management_account=manager or ent.hq,
        member_account=member or ent.member,
        type=type,
        permissions=list(permissions),
        actor=actor or ent.hq_owner,
    )


def confirm(ent, relationship, when=T_START, actor=None):
    with at(when):
        return services.confirm_relationship(
            relationship=relationship, actor=actor or ent.member_owner
        )


def terminate(ent, relationship, when=T_END, actor=None):
    with at(when):
        return services.terminate_relationship(
            relationship=relationship, actor=actor or ent.hq_owner
        )


def active(ent, *, type=TR, permissions=(), when=T_START):
    return confirm(ent, invite(ent, type=type, permissions=permissions), when)


def usage(account, external_id, amount, usage_start, billed_at=None):
    record, created = record_usage(
        external_id=external_id,
        account=account,
        product="ecs",
        bill_type="pay_as_you_go",
        usage_start=usage_start,
        usage_end=usage_start + timedelta(hours=1),
        amount=D(amount),
        billed_at=billed_at or usage_start + timedelta(hours=2),
    )
    assert created
    return record


def balances(account) -> tuple[Decimal, Decimal, Decimal]:
    account.refresh_from_db()
    return account.cash_balance, account.uncleared_amount, account.available_balance


def nothing_written():
    return (
        FinancialRelationship.objects.count(),
        AuditEvent.objects.count(),
        list(Company.objects.order_by("pk").values_list("pk", "management_account")),
    )


# --- the enterprise management account --------------------------------------------


def test_operator_designates_the_management_account_and_it_is_recorded(
    company, make_account, operator
):
    hq = make_account(name="HQ")

    result = services.set_management_account(
        company=company, account=hq, actor=operator
    )

    company.refresh_from_db()
    assert result.management_account_id == hq.pk == company.management_account_id
    event = AuditEvent.objects.get(action="company.set_management_account")
    assert event.actor == operator
    assert (event.target_type, event.target_id) == ("accounts.company", str(company.pk))
    assert event.before == {"management_account": None}
    assert event.after == {"management_account": hq.pk}


def test_management_account_refused_for_an_unverified_company(
    unverified_company, operator
):
    account = AccountFactory(company=unverified_company)
    before = nothing_written()

    with pytest.raises(RelationshipRefused) as excinfo:
        services.set_management_account(
            company=unverified_company, account=account, actor=operator
        )

    assert codes(excinfo) == ["company_not_verified"]
    assert nothing_written() == before


def test_management_account_refused_for_an_account_of_another_company(
    company, other_company, operator
):
    foreign = AccountFactory(company=other_company)

    with pytest.raises(RelationshipRefused) as excinfo:
        services.set_management_account(
            company=company, account=foreign, actor=operator
        )

    assert codes(excinfo) == ["different_company"]
    company.refresh_from_db()
    assert company.management_account_id is None


def test_management_account_every_reason_at_once(
    unverified_company, other_company, operator
):
    foreign = AccountFactory(company=other_company)

    with pytest.raises(RelationshipRefused) as excinfo:
        services.set_management_account(
            company=unverified_company, account=foreign, actor=operator
        )

    assert codes(excinfo) == ["company_not_verified", "different_company"]


@pytest.mark.parametrize("state", ["pending", "active"])
def test_management_account_not_replaced_while_the_old_one_has_open_relationships(
    ent, operator, make_account, state
):
    relationship = invite(ent)
    if state == "active":
        confirm(ent, relationship)
    newcomer = make_account(name="New HQ")
    before = nothing_written()

    with pytest.raises(RelationshipRefused) as excinfo:
        services.set_management_account(
            company=ent.company, account=newcomer, actor=operator
        )

    assert codes(excinfo) == ["invalid_state"]
    assert nothing_written() == before
    # Re-designating the same account is not a replacement.
    services.set_management_account(company=ent.company, account=ent.hq, actor=operator)
    ent.company.refresh_from_db()
    assert ent.company.management_account_id == ent.hq.pk


@pytest.mark.parametrize("ended", ["terminated", "rejected", "cancelled"])
def test_management_account_replaced_once_its_relationships_are_ended(
    ent, operator, make_account, ended
):
    relationship = invite(ent)
    if ended == "terminated":
        terminate(ent, confirm(ent, relationship))
    elif ended == "rejected":
        services.reject_relationship(relationship=relationship, actor=ent.member_owner)
    else:
        services.cancel_relationship(relationship=relationship, actor=ent.hq_owner)
    newcomer = make_account(name="New HQ")

    services.set_management_account(
        company=ent.company, account=newcomer, actor=operator
    )

    ent.company.refresh_from_db()
    assert ent.company.management_account_id == newcomer.pk
    event = AuditEvent.objects.filter(action="company.set_management_account").first()
    assert event.before == {"management_account": ent.hq.pk}
    assert event.after == {"management_account": newcomer.pk}
    # The old management account no longer invites.
    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, member=make_account())
    assert codes(excinfo) == ["not_management_account"]


# --- invitations ------------------------------------------------------------------


@pytest.mark.parametrize("type_", BOTH_TYPES)
@pytest.mark.parametrize("actor", ["hq_owner", "hq_manager", "operator"])
def test_invitation_is_pending_with_its_permissions(ent, operator, type_, actor):
    user = operator if actor == "operator" else getattr(ent, actor)

    with at(T_INVITE):
        relationship = invite(
            ent, type=type_, permissions=[CHECK, SYNC, CHECK], actor=user
        )

    relationship.refresh_from_db()
    assert relationship.status == Status.PENDING
    assert relationship.type == type_
    assert (relationship.management_account_id, relationship.member_account_id) == (
        ent.hq.pk,
        ent.member.pk,
    )
    assert relationship.permissions == sorted([CHECK, SYNC])
    assert (relationship.start, relationship.end) == (None, None)
    assert relationship.invited_at == T_INVITE
    assert relationship.invited_by == user
    event = AuditEvent.objects.get(action="relationship.invite")
    assert event.actor == user
    assert event.after == {"type": type_, "permissions": sorted([CHECK, SYNC])}
    # A pending invitation is not a payment relationship at any time.
    assert selectors.get_payment_relationship_at(ent.hq, ent.member, T_START) is None


@pytest.mark.parametrize("type_", BOTH_TYPES)
@pytest.mark.parametrize("who", ["hq_viewer", "member_owner", "stranger"])
def test_invitation_needs_owner_or_manage_on_the_management_account(ent, type_, who):
    user = UserFactory(username="stranger") if who == "stranger" else getattr(ent, who)
    before = nothing_written()

    with pytest.raises(ActionForbidden) as excinfo:
        invite(ent, type=type_, actor=user)

    assert codes(excinfo) == ["no_permission"]
    assert excinfo.value.status == 403
    assert nothing_written() == before


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_invitation_from_an_account_that_is_not_the_management_account(
    ent, make_account, grant, type_
):
    other = make_account(name="Not HQ")
    grant(ent.hq_owner, other, "owner")
    before = nothing_written()

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=type_, manager=other)

    assert codes(excinfo) == ["not_management_account"]
    assert nothing_written() == before


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_invitation_of_itself(ent, type_):
    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=type_, member=ent.hq)

    assert codes(excinfo) == ["same_account"]
    assert FinancialRelationship.objects.count() == 0


@pytest.mark.parametrize("type_", BOTH_TYPES)
@pytest.mark.parametrize("where", ["unverified", "no_company"])
def test_invitation_of_a_member_without_a_verified_company(
    ent, unverified_company, type_, where
):
    company = unverified_company if where == "unverified" else None
    member = AccountFactory(company=company)

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=type_, member=member)

    assert codes(excinfo) == ["company_not_verified"]
    assert FinancialRelationship.objects.count() == 0


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_invitation_of_an_account_of_another_company(ent, other_company, type_):
    member = AccountFactory(company=other_company)

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=type_, member=member)

    assert codes(excinfo) == ["different_company"]
    assert FinancialRelationship.objects.count() == 0


@pytest.mark.parametrize("type_", BOTH_TYPES)
@pytest.mark.parametrize("existing_type", BOTH_TYPES)
@pytest.mark.parametrize("state", ["pending", "active"])
def test_invitation_of_a_member_with_an_open_relationship(
    ent, type_, existing_type, state
):
    existing = invite(ent, type=existing_type)
    if state == "active":
        confirm(ent, existing)
    before = nothing_written()

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=type_)

    assert codes(excinfo) == ["member_has_active_relationship"]
    assert nothing_written() == before


def test_trusteeship_invitation_refused_while_the_member_is_overdue(ent, charge):
    charge(ent.member, "0.01")
    assert ent.member.has_overdue

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=TR)

    assert codes(excinfo) == ["member_overdue"]
    assert "-0.01" in excinfo.value.reasons[0].message
    assert FinancialRelationship.objects.count() == 0


def test_trusteeship_invitation_refused_across_currencies(ent, make_account):
    dollars = make_account(name="Dollars", currency="USD")

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=TR, member=dollars)

    assert codes(excinfo) == ["currency_mismatch"]
    assert FinancialRelationship.objects.count() == 0


def test_financial_management_allows_an_overdue_member_of_another_currency(
    ent, make_account, charge
):
    """The member pays its own bills: neither rule applies."""
    dollars = make_account(name="Dollars", currency="USD")
    charge(dollars, "3.00")

    relationship = invite(ent, type=FM, member=dollars)

    assert relationship.status == Status.PENDING


def test_invitation_lists_every_reason_in_order(
    ent, make_account, grant, other_company, operator, charge
):
    """Not the management account, another company, already in a relationship
    there, overdue and in dollars: every reason, in the documented order."""
    b_hq = AccountFactory(company=other_company, name="Globex HQ")
    services.set_management_account(company=other_company, account=b_hq, actor=operator)
    b_member = AccountFactory(company=other_company, currency="USD")
    services.invite_member(
        management_account=b_hq,
        member_account=b_member,
        type=FM,
        permissions=[],
        actor=operator,
    )
    charge(b_member, "2.50")
    not_hq = make_account(name="Not HQ")
    grant(ent.hq_owner, not_hq, "owner")
    before = nothing_written()

    with pytest.raises(RelationshipRefused) as excinfo:
        invite(ent, type=TR, manager=not_hq, member=b_member)

    assert codes(excinfo) == [
        "not_management_account",
        "different_company",
        "member_has_active_relationship",
        "member_overdue",
        "currency_mismatch",
    ]
    assert nothing_written() == before


# --- the lifecycle ----------------------------------------------------------------


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_confirmation_starts_the_period_at_that_instant(ent, type_):
    relationship = invite(ent, type=type_)

    confirmed = confirm(ent, relationship, T_START)

    relationship.refresh_from_db()
    assert confirmed.status == relationship.status == Status.ACTIVE
    assert relationship.start == T_START
    assert relationship.end is None
    assert relationship.responded_at == T_START
    assert relationship.responded_by == ent.member_owner
    event = AuditEvent.objects.get(action="relationship.confirm")
    assert event.after == {"status": "active", "start": T_START.isoformat()}


def test_operator_may_confirm_and_reject_for_the_member(ent, operator, make_account):
    relationship = confirm(ent, invite(ent), actor=operator)
    assert relationship.status == Status.ACTIVE
    assert relationship.responded_by == operator

    other = make_account()
    rejected = services.reject_relationship(
        relationship=invite(ent, member=other), actor=operator
    )
    assert rejected.status == Status.REJECTED


def test_member_owner_rejects(ent):
    relationship = invite(ent)

    with at(T_START):
        services.reject_relationship(relationship=relationship, actor=ent.member_owner)

    relationship.refresh_from_db()
    assert relationship.status == Status.REJECTED
    assert (relationship.start, relationship.end) == (None, None)
    assert relationship.responded_at == T_START
    assert relationship.responded_by == ent.member_owner
    event = AuditEvent.objects.get(action="relationship.rejected")
    assert (event.before, event.after) == (
        {"status": "pending"},
        {"status": "rejected"},
    )


@pytest.mark.parametrize("who", ["hq_owner", "hq_manager"])
def test_management_account_cancels_its_invitation(ent, who):
    relationship = invite(ent)

    services.cancel_relationship(relationship=relationship, actor=getattr(ent, who))

    relationship.refresh_from_db()
    assert relationship.status == Status.CANCELLED
    assert (relationship.start, relationship.end) == (None, None)
    assert relationship.responded_by == getattr(ent, who)


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_termination_ends_the_period_at_that_instant(ent, type_):
    relationship = active(ent, type=type_)

    terminate(ent, relationship, T_END)

    relationship.refresh_from_db()
    assert relationship.status == Status.TERMINATED
    assert (relationship.start, relationship.end) == (T_START, T_END)
    assert relationship.ended_by == ent.hq_owner
    event = AuditEvent.objects.get(action="relationship.terminate")
    assert event.before == {"status": "active"}
    assert event.after == {"status": "terminated", "end": T_END.isoformat()}


ACTIONS = {
    "confirm": services.confirm_relationship,
    "reject": services.reject_relationship,
    "cancel": services.cancel_relationship,
    "terminate": services.terminate_relationship,
}
ALLOWED = {"pending": {"confirm", "reject", "cancel"}, "active": {"terminate"}}
WRONG_TRANSITIONS = [
    (state, action)
    for state in ["pending", "active", "rejected", "cancelled", "terminated"]
    for action in ACTIONS
    if action not in ALLOWED.get(state, set())
]


def relationship_in(ent, state):
    relationship = invite(ent)
    if state in ("active", "terminated"):
        confirm(ent, relationship)
    if state == "terminated":
        terminate(ent, relationship)
    if state == "rejected":
        services.reject_relationship(relationship=relationship, actor=ent.member_owner)
    if state == "cancelled":
        services.cancel_relationship(relationship=relationship, actor=ent.hq_owner)
    relationship.refresh_from_db()
    assert relationship.status == state
    return relationship


@pytest.mark.parametrize(("state", "action"), WRONG_TRANSITIONS)
def test_every_wrong_transition_is_invalid_state(ent, operator, state, action):
    relationship = relationship_in(ent, state)
    row = FinancialRelationship.objects.filter(pk=relationship.pk).values().get()
    events = AuditEvent.objects.count()

    with pytest.raises(RelationshipRefused) as excinfo:
        ACTIONS[action](relationship=relationship, actor=operator)

    assert codes(excinfo) == ["invalid_state"]
    assert FinancialRelationship.objects.filter(pk=relationship.pk).values().get() == (
        row
    )
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("state", ["rejected", "cancelled", "terminated"])
def test_permissions_of_an_ended_relationship_cannot_change(ent, operator, state):
    relationship = relationship_in(ent, state)

    with pytest.raises(RelationshipRefused) as excinfo:
        services.set_relationship_permissions(
            relationship=relationship, permissions=[CHECK], actor=operator
        )

    assert codes(excinfo) == ["invalid_state"]
    relationship.refresh_from_db()
    assert relationship.permissions == []


@pytest.mark.parametrize("action", ["confirm", "reject"])
@pytest.mark.parametrize(
    "who", ["member_manager", "hq_owner", "hq_manager", "hq_viewer", "stranger"]
)
def test_only_the_members_owner_answers_an_invitation(ent, action, who):
    relationship = invite(ent)
    user = UserFactory(username="stranger") if who == "stranger" else getattr(ent, who)

    with pytest.raises(ActionForbidden) as excinfo:
        ACTIONS[action](relationship=relationship, actor=user)

    assert codes(excinfo) == ["no_permission"]
    relationship.refresh_from_db()
    assert relationship.status == Status.PENDING


@pytest.mark.parametrize(
    ("action", "state"), [("cancel", "pending"), ("terminate", "active")]
)
@pytest.mark.parametrize("who", ["member_owner", "hq_viewer"])
def test_only_the_management_accounts_administrators_cancel_or_terminate(
    ent, action, state, who
):
    relationship = relationship_in(ent, state)

    with pytest.raises(ActionForbidden) as excinfo:
        ACTIONS[action](relationship=relationship, actor=getattr(ent, who))

    assert codes(excinfo) == ["no_permission"]
    relationship.refresh_from_db()
    assert relationship.status == state


def test_trusteeship_confirmation_refused_when_the_member_became_overdue(
    ent, charge, fund
):
    relationship = invite(ent, type=TR)
    charge(ent.member, "4.20")

    with pytest.raises(RelationshipRefused) as excinfo:
        confirm(ent, relationship)

    assert codes(excinfo) == ["member_overdue"]
    relationship.refresh_from_db()
    assert relationship.status == Status.PENDING
    assert relationship.start is None

    # Once the member has paid, the same invitation can be confirmed.
    fund(ent.member, "4.20")
    assert confirm(ent, relationship).status == Status.ACTIVE


def test_financial_management_confirmation_ignores_overdue(ent, charge):
    relationship = invite(ent, type=FM)
    charge(ent.member, "4.20")

    assert confirm(ent, relationship).status == Status.ACTIVE


# --- periods and the as-of-time selector ------------------------------------------


@pytest.mark.parametrize("type_", BOTH_TYPES)
def test_payment_relationship_at_the_boundaries(ent, type_):
    relationship = terminate(ent, active(ent, type=type_, when=T_START), T_END)
    get = selectors.get_payment_relationship_at

    assert get(ent.hq, ent.member, T_START - MICRO) is None
    assert get(ent.hq, ent.member, T_START) == relationship
    assert get(ent.hq, ent.member, T_START + MICRO) == relationship
    assert get(ent.hq, ent.member, T_END - MICRO) == relationship
    assert get(ent.hq, ent.member, T_END) is None
    assert get(ent.hq, ent.member, T_END + MICRO) is None
    # Directed: the member does not manage the management account.
    assert get(ent.member, ent.hq, T_START) is None


def test_open_relationship_is_active_from_its_start_on(ent):
    relationship = active(ent, type=FM, when=T_START)
    get = selectors.get_payment_relationship_at

    assert get(ent.hq, ent.member, T_START - MICRO) is None
    assert get(ent.hq, ent.member, T_START) == relationship
    assert get(ent.hq, ent.member, datetime(2099, 1, 1, tzinfo=UTC)) == relationship


def test_reestablishing_opens_a_new_period_and_keeps_the_old_one(ent):
    first = terminate(ent, active(ent, type=TR, when=T_START), T_END)
    second_start = T_END + timedelta(days=5)
    second_end = second_start + timedelta(days=7)

    second = invite(ent, type=FM, permissions=[CHECK])
    confirm(ent, second, second_start)
    terminate(ent, second, second_end)
    third = confirm(ent, invite(ent, type=TR), second_end + timedelta(days=1))

    rows = list(
        FinancialRelationship.objects.filter(
            management_account=ent.hq, member_account=ent.member
        )
        .order_by("start")
        .values_list("pk", "type", "status", "start", "end")
    )
    assert rows == [
        (first.pk, TR, Status.TERMINATED, T_START, T_END),
        (second.pk, FM, Status.TERMINATED, second_start, second_end),
        (third.pk, TR, Status.ACTIVE, second_end + timedelta(days=1), None),
    ]
    get = selectors.get_payment_relationship_at
    assert get(ent.hq, ent.member, T_END - MICRO) == first
    assert get(ent.hq, ent.member, T_END) is None
    assert get(ent.hq, ent.member, second_start) == second
    assert get(ent.hq, ent.member, second_end) is None
    assert get(ent.hq, ent.member, second_end + timedelta(days=2)) == third
    # The trusteeship payer follows the type of each period.
    payer = selectors.get_trusteeship_payer
    assert payer(ent.member, T_START) == ent.hq
    assert payer(ent.member, second_start) is None
    assert payer(ent.member, second_end + timedelta(days=2)) == ent.hq


@pytest.mark.parametrize("ended", ["rejected", "cancelled"])
def test_a_new_invitation_after_rejection_or_cancellation(ent, ended):
    first = relationship_in(ent, ended)

    second = invite(ent)

    assert second.pk != first.pk
    assert second.status == Status.PENDING
    first.refresh_from_db()
    assert first.status == ended


# --- permissions while active -----------------------------------------------------


def test_permissions_added_and_removed_while_active_are_recorded(ent):
    relationship = active(ent, permissions=[CHECK])

    services.set_relationship_permissions(
        relationship=relationship,
        permissions=[SYNC, RelationshipPermission.FORBID_WITHDRAW_CASH, CHECK],
        actor=ent.hq_manager,
    )
    services.set_relationship_permissions(
        relationship=relationship, permissions=[SYNC], actor=ent.hq_owner
    )

    relationship.refresh_from_db()
    assert relationship.status == Status.ACTIVE
    assert relationship.permissions == [SYNC]
    events = list(
        AuditEvent.objects.filter(action="relationship.permissions")
        .order_by("id")
        .values_list("actor", "before", "after")
    )
    assert events == [
        (
            ent.hq_manager.pk,
            {"permissions": [CHECK]},
            {"permissions": [CHECK, "FORBID_WITHDRAW_CASH", SYNC]},
        ),
        (
            ent.hq_owner.pk,
            {"permissions": [CHECK, "FORBID_WITHDRAW_CASH", SYNC]},
            {"permissions": [SYNC]},
        ),
    ]


@pytest.mark.parametrize("who", ["member_owner", "hq_viewer"])
def test_permissions_are_set_by_the_management_accounts_administrators(ent, who):
    relationship = active(ent, permissions=[CHECK])

    with pytest.raises(ActionForbidden) as excinfo:
        services.set_relationship_permissions(
            relationship=relationship, permissions=[], actor=getattr(ent, who)
        )

    assert codes(excinfo) == ["no_permission"]
    relationship.refresh_from_db()
    assert relationship.permissions == [CHECK]


# --- trusteeship charge posting ---------------------------------------------------


def test_trusteeship_posts_charges_by_usage_start(ent, fund, assert_ledger_clean):
    fund(ent.hq, "500.00")
    fund(ent.member, "100.00")
    # The member's own bill from before: it keeps it.
    own = usage(ent.member, "before-1", "7.25", T_START - timedelta(days=3))
    assert balances(ent.member) == (D("100.00"), D("7.25"), D("92.75"))
    relationship = active(ent, type=TR, when=T_START)

    # Billed during the relationship, but for usage just before it started.
    just_before = usage(
        ent.member, "just-before", "1.10", T_START - MICRO, billed_at=T_START
    )
    at_start = usage(ent.member, "at-start", "2.20", T_START)
    during = usage(ent.member, "during", "3.30", T_START + timedelta(days=1))
    terminate(ent, relationship, T_END)
    # Billed after the termination, for usage while it was active.
    late = usage(
        ent.member,
        "late",
        "4.40",
        T_END - MICRO,
        billed_at=T_END + timedelta(days=2),
    )
    at_end = usage(ent.member, "at-end", "5.50", T_END)
    after = usage(ent.member, "after", "6.60", T_END + timedelta(days=1))

    payers = {
        record.external_id: (
            record.payer_id,
            record.charge.payer_account_id,
            record.charge.usage_account_id,
            record.charge.effective_at,
        )
        for record in (own, just_before, at_start, during, late, at_end, after)
    }
    member, hq = ent.member.pk, ent.hq.pk
    assert payers == {
        "before-1": (member, member, member, T_START - timedelta(days=3)),
        "just-before": (member, member, member, T_START - MICRO),
        "at-start": (hq, hq, member, T_START),
        "during": (hq, hq, member, T_START + timedelta(days=1)),
        "late": (hq, hq, member, T_END - MICRO),
        "at-end": (member, member, member, T_END),
        "after": (member, member, member, T_END + timedelta(days=1)),
    }
    # 7.25 + 1.10 + 5.50 + 6.60 on the member; 2.20 + 3.30 + 4.40 on HQ.
    assert balances(ent.member) == (D("100.00"), D("20.45"), D("79.55"))
    assert balances(ent.hq) == (D("500.00"), D("9.90"), D("490.10"))
    # HQ's ledger names the member as the counterparty of what it pays for it.
    hq_charges = Movement.objects.filter(
        kind=Movement.Kind.USAGE_CHARGE, account=ent.hq
    )
    assert sorted(hq_charges.values_list("amount", "counterparty")) == [
        (D("2.20"), member),
        (D("3.30"), member),
        (D("4.40"), member),
    ]
    assert not Movement.objects.filter(
        kind=Movement.Kind.USAGE_CHARGE, account=ent.member, counterparty__isnull=False
    ).exists()
    assert_ledger_clean()

    # Each pays its own share from its own cash.
    services.settle_account(account=ent.member)
    services.settle_account(account=ent.hq)
    assert balances(ent.member) == (D("79.55"), D("0.00"), D("79.55"))
    assert balances(ent.hq) == (D("490.10"), D("0.00"), D("490.10"))
    assert_ledger_clean()


def test_trusteeship_member_keeps_its_uncleared_and_its_cash(
    ent, fund, charge, transfer, assert_ledger_clean
):
    fund(ent.member, "50.00")
    charge(ent.member, "12.34", hours_ago=24 * 400)
    active(ent, type=TR, when=ago(hours=2))

    usage(ent.member, "covered", "8.00", ago(hours=1))

    assert balances(ent.member) == (D("50.00"), D("12.34"), D("37.66"))
    assert balances(ent.hq) == (D("0.00"), D("8.00"), D("-8.00"))
    assert Charge.objects.get(payer_account=ent.member).outstanding == D("12.34")
    # The member keeps its transfer rights over its own funds.
    transfer(ent.member, ent.hq, "30.00", actor=ent.member_owner)
    assert balances(ent.member) == (D("20.00"), D("12.34"), D("7.66"))
    assert balances(ent.hq) == (D("30.00"), D("8.00"), D("22.00"))
    assert_ledger_clean()


def test_financial_management_member_pays_its_own_bills(ent, assert_ledger_clean):
    active(ent, type=FM, when=T_START)

    record = usage(ent.member, "fm", "9.99", T_START + timedelta(hours=1))

    assert record.payer_id == ent.member.pk
    assert balances(ent.member) == (D("0.00"), D("9.99"), D("-9.99"))
    assert balances(ent.hq) == (D("0.00"), D("0.00"), D("0.00"))
    assert_ledger_clean()


def test_a_pending_trusteeship_pays_nothing(ent, assert_ledger_clean):
    with at(T_INVITE):
        invite(ent, type=TR)

    record = usage(ent.member, "pending", "1.00", T_START)

    assert record.payer_id == ent.member.pk
    assert balances(ent.hq)[1] == D("0.00")
    assert_ledger_clean()


# --- CHECK_TARGET_CONSUMPTION -----------------------------------------------------


def visible(user, account) -> bool:
    return selectors.list_visible_accounts(user).filter(pk=account.pk).exists()


@pytest.mark.parametrize("who", ["hq_owner", "hq_manager"])
def test_check_target_consumption_shows_the_member_read_only(
    ent, fund, client_for, who, operator
):
    fund(ent.hq, "10.00")
    fund(ent.member, "40.00")
    usage(ent.member, "m-1", "2.50", T_START - timedelta(days=1))
    user = getattr(ent, who)
    client = client_for(user)
    assert not visible(user, ent.member)
    relationship = invite(ent, type=FM, permissions=[CHECK])
    assert not visible(user, ent.member)  # pending is not enough
    confirm(ent, relationship)

    assert visible(user, ent.member)
    detail = client.get(f"{API}/accounts/{ent.member.pk}/")
    assert detail.status_code == 200, detail.content
    assert (
        detail.data["cash_balance"],
        detail.data["uncleared_amount"],
        detail.data["available_balance"],
    ) == ("40.00", "2.50", "37.50")
    ledger = client.get(f"{API}/accounts/{ent.member.pk}/ledger/")
    assert ledger.status_code == 200
    assert ledger.data["count"] == 2
    assert [row["kind"] for row in ledger.data["results"]] == [
        "usage_charge",
        "top_up",
    ]
    # Read-only: moving the member's money needs an access right on it.
    refused = client.post(
        f"{API}/transfers/",
        {"source": ent.member.pk, "destination": ent.hq.pk, "amount": "1.00"},
        format="json",
    )
    assert refused.status_code == 403, refused.content
    assert refused.data["code"] == "no_permission"
    assert balances(ent.member) == (D("40.00"), D("2.50"), D("37.50"))
    # The member's administrators do not see the management account in return.
    assert not visible(ent.member_owner, ent.hq)

    # Removing the permission hides the member again.
    services.set_relationship_permissions(
        relationship=relationship, permissions=[SYNC], actor=ent.hq_owner
    )
    assert not visible(user, ent.member)
    assert client.get(f"{API}/accounts/{ent.member.pk}/").status_code == 404
    assert client.get(f"{API}/accounts/{ent.member.pk}/ledger/").status_code == 404

    # Granted again, then the relationship ends: hidden once more.
    services.set_relationship_permissions(
        relationship=relationship, permissions=[CHECK], actor=ent.hq_owner
    )
    assert client.get(f"{API}/accounts/{ent.member.pk}/").status_code == 200
    terminate(ent, relationship)
    assert not visible(user, ent.member)
    assert client.get(f"{API}/accounts/{ent.member.pk}/").status_code == 404
    assert client.get(f"{API}/accounts/{ent.member.pk}/ledger/").status_code == 404


def test_without_check_target_consumption_the_member_stays_hidden(ent, client_for):
    active(ent, type=TR, permissions=[SYNC, RelationshipPermission.CHECK_FINANCE_INFO])

    assert not visible(ent.hq_owner, ent.member)
    response = client_for(ent.hq_owner).get(f"{API}/accounts/{ent.member.pk}/")
    assert response.status_code == 404


def test_check_target_consumption_is_for_the_management_accounts_users_only(
    ent, make_account, grant
):
    outsider = UserFactory(username="elsewhere")
    grant(outsider, make_account(name="Unrelated"), "owner")
    active(ent, permissions=[CHECK])

    assert not visible(outsider, ent.member)


# --- SYNCHRONIZE_FINANCE_IDENTITY -------------------------------------------------


def test_credit_limit_authority_follows_synchronize_finance_identity(ent):
    authority = selectors.get_credit_limit_authority
    assert authority(ent.member) is None
    relationship = invite(ent, type=FM, permissions=[SYNC])
    assert authority(ent.member) is None  # pending

    confirm(ent, relationship)
    assert authority(ent.member) == ent.hq
    assert authority(ent.hq) is None

    services.set_relationship_permissions(
        relationship=relationship, permissions=[CHECK], actor=ent.hq_owner
    )
    assert authority(ent.member) is None
    services.set_relationship_permissions(
        relationship=relationship, permissions=[SYNC], actor=ent.hq_owner
    )
    assert authority(ent.member) == ent.hq

    terminate(ent, relationship)
    assert authority(ent.member) is None


def test_accounts_of_a_company_without_a_management_account_invite_nobody(
    other_company, operator
):
    b1 = AccountFactory(company=other_company)
    b2 = AccountFactory(company=other_company)

    with pytest.raises(RelationshipRefused) as excinfo:
        services.invite_member(
            management_account=b1,
            member_account=b2,
            type=FM,
            permissions=[],
            actor=operator,
        )

    assert codes(excinfo) == ["not_management_account"]
    assert FinancialRelationship.objects.count() == 0


def test_management_account_page_shows_whose_usage_it_paid(ent, client):
    """The demo's promise: a trusteeship member's usage visibly posts to the
    management account (its account page names the member on the charge)."""
    active(ent)
    usage(ent.member, "paid-by-hq", "12.34", T_START + timedelta(hours=1))
    client.force_login(ent.hq_owner)
    page = client.get(f"/admin/accounts/account/{ent.hq.pk}/change/")
    assert page.status_code == 200
    ledger = page.content.decode().split('id="ledger"')[1]
    row = ledger.split("Usage charge #")[1].split("</tr>")[0]
    assert f"Member ({ent.member.uid})" in row
    assert "12.34" in row


def test_account_pages_say_who_pays_under_a_trusteeship(ent, client):
    active(ent)
    client.force_login(ent.member_owner)
    page = client.get(f"/admin/accounts/account/{ent.member.pk}/change/").content
    note = page.decode().split('id="relationship"')[1].split("</p>")[0]
    assert "Trusteeship member of HQ" in note
    assert "are billed to HQ" in note
    client.force_login(ent.hq_owner)
    page = client.get(f"/admin/accounts/account/{ent.hq.pk}/change/").content
    note = page.decode().split('id="relationship"')[1].split("</p>")[0]
    assert "Enterprise management account of 1 member account." in note
