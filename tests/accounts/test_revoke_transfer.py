"""Revocation (SPEC §3.3): permission, refusal reasons, the revocable terms with
their binding order, spent funds, and the effect."""

from decimal import Decimal

import pytest

from accounts import selectors, services
from accounts.models import Account, Company, Movement, TransferPair
from billing_portal.errors import ActionForbidden, RevocationRefused
from tests.factories import UserFactory


def D(value) -> Decimal:
    return Decimal(value)


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def revocable(source, destination) -> selectors.Revocable:
    source.refresh_from_db()
    destination.refresh_from_db()
    return selectors.get_revocable(source, destination)


def terms(r: selectors.Revocable) -> tuple:
    return (
        r.unspent_transferred_in,
        r.remaining_revocable,
        r.available_balance,
        r.revocable_amount,
        r.binding,
    )


# --- the effect ----------------------------------------------------------------


@pytest.mark.parametrize("permission", ["owner", "manage"])
def test_revocation_effect_to_the_cent(
    make_account,
    fund,
    transfer,
    revoke,
    remaining,
    grant,
    owner,
    permission,
    assert_ledger_clean,
):
    s, d = make_account(), make_account()
    grant(owner, s, permission)
    fund(s, "500.00")
    fund(d, "10.00")
    transfer(s, d, "123.45")

    movement = revoke(s, d, "23.40", actor=owner)

    assert movement.kind == Movement.Kind.REVOCATION
    assert movement.account_id == s.pk
    assert movement.counterparty_id == d.pk
    assert movement.amount == D("23.40")
    assert movement.currency == "CNY"
    assert movement.actor == owner
    assert (d.cash_balance, d.transferred_in_balance, d.own_cash) == (
        D("110.05"),
        D("100.05"),
        D("10.00"),
    )
    assert (s.cash_balance, s.own_cash, s.transferred_in_balance) == (
        D("399.95"),
        D("399.95"),
        D("0.00"),
    )
    assert remaining(s, d) == D("100.05")

    revoke(s, d, "100.05")

    assert (d.cash_balance, d.transferred_in_balance, d.own_cash) == (
        D("10.00"),
        D("0.00"),
        D("10.00"),
    )
    assert s.own_cash == D("500.00")
    assert remaining(s, d) == D("0.00")
    assert TransferPair.objects.filter(source=s, destination=d).count() == 1
    assert_ledger_clean()


def test_nothing_left_to_revoke_after_taking_everything_back(
    make_account, fund, transfer, revoke
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "10.00")
    transfer(s, d, "50.00")
    revoke(s, d, "50.00")

    assert terms(revocable(s, d)) == (
        D("0.00"),
        D("0.00"),
        D("10.00"),
        D("0.00"),
        "unspent_transferred_in",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "0.01")
    # A prior transfer exists; both zero terms are exceeded, tie in term order.
    assert codes(excinfo) == [
        "exceeds_transferred_in_balance",
        "exceeds_remaining_revocable",
    ]


def test_revoked_funds_return_as_transferable_own_funds(
    make_account, fund, transfer, revoke, assert_ledger_clean
):
    s, d, e = make_account(), make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "100.00")
    assert selectors.get_transferable(s).transferable_amount == D("0.00")

    revoke(s, d, "60.00")

    t = selectors.get_transferable(s)
    assert (t.own_funds, t.transferred_in_balance) == (D("60.00"), D("0.00"))
    assert t.transferable_amount == D("60.00")
    assert t.reasons == []
    transfer(s, e, "60.00")
    assert e.transferred_in_balance == D("60.00")
    assert_ledger_clean()


def test_revocation_does_not_settle_either_account(
    make_account, fund, charge, transfer, revoke, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(s, "5.00")
    transfer(s, d, "50.00")
    charge(d, "20.00")

    revoke(s, d, "10.00")

    assert (s.cash_balance, s.uncleared_amount) == (D("60.00"), D("5.00"))
    assert (d.cash_balance, d.uncleared_amount) == (D("40.00"), D("20.00"))
    assert not Movement.objects.filter(kind=Movement.Kind.SETTLEMENT).exists()
    assert_ledger_clean()


# --- permission first (403) ----------------------------------------------------


@pytest.mark.parametrize("access", ["use", "none", "owner_of_destination_only"])
def test_no_permission_is_refused_before_any_business_rule(
    make_account, fund, grant, set_status, ledger_snapshot, access
):
    user = UserFactory()
    s, d = make_account(), make_account(currency="USD", company=None)
    fund(d, "10.00")
    set_status(d, "frozen")
    if access == "use":
        grant(user, s, "use")
    elif access == "owner_of_destination_only":
        grant(user, d, "owner")
    before = ledger_snapshot()

    with pytest.raises(ActionForbidden) as excinfo:
        services.revoke_transfer(
            source=s, destination=d, amount=D("1000.00"), actor=user
        )

    assert excinfo.value.status == 403
    assert codes(excinfo) == ["no_permission"]
    assert s.uid in excinfo.value.reasons[0].message
    assert ledger_snapshot() == before


def test_permission_is_checked_on_the_source_not_the_destination(
    make_account, fund, transfer, revoke, grant, assert_ledger_clean
):
    user = UserFactory()
    s, d = make_account(), make_account()
    grant(user, s, "manage")
    grant(user, d, "use")
    fund(s, "100.00")
    transfer(s, d, "30.00")

    revoke(s, d, "30.00", actor=user)

    assert s.own_cash == D("100.00")
    assert_ledger_clean()


# --- refusal reasons (409) ------------------------------------------------------


@pytest.mark.parametrize("side", ["source", "destination"])
@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_inactive_account_is_refused(
    make_account, fund, transfer, revoke, set_status, ledger_snapshot, side, status
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    inactive = s if side == "source" else d
    set_status(inactive, status)
    before = ledger_snapshot()

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    assert excinfo.value.status == 409
    assert codes(excinfo) == ["account_not_active"]
    assert inactive.uid in excinfo.value.reasons[0].message
    assert status in excinfo.value.reasons[0].message
    assert ledger_snapshot() == before


def test_company_no_longer_verified_is_refused(
    make_account, company, fund, transfer, revoke, ledger_snapshot
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    Company.objects.filter(pk=company.pk).update(
        verification_status=Company.Verification.UNVERIFIED
    )
    before = ledger_snapshot()

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    # One reason per account, each naming its account.
    assert codes(excinfo) == ["company_not_verified", "company_not_verified"]
    assert s.uid in excinfo.value.reasons[0].message
    assert d.uid in excinfo.value.reasons[1].message
    assert ledger_snapshot() == before


def test_destination_without_company_is_refused(make_account, fund, transfer, revoke):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    Account.objects.filter(pk=d.pk).update(company=None)

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    assert codes(excinfo) == ["company_not_verified"]
    assert d.uid in excinfo.value.reasons[0].message


def test_destination_moved_to_another_company_is_refused(
    make_account, other_company, fund, transfer, revoke, ledger_snapshot
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    Account.objects.filter(pk=d.pk).update(company=other_company)
    before = ledger_snapshot()

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    assert codes(excinfo) == ["different_company"]
    assert ledger_snapshot() == before


def test_no_prior_transfer_is_refused(make_account, fund, revoke, ledger_snapshot):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "100.00")
    before = ledger_snapshot()

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    assert codes(excinfo) == ["no_prior_transfer"]
    assert s.uid in excinfo.value.reasons[0].message
    assert d.uid in excinfo.value.reasons[0].message
    assert not TransferPair.objects.exists()
    assert ledger_snapshot() == before

    r = revocable(s, d)
    assert not r.has_prior_transfer
    assert r.remaining_revocable == D("0.00")
    assert r.revocable_amount == D("0.00")


def test_a_transfer_in_the_other_direction_is_no_prior_transfer(
    make_account, fund, transfer, revoke
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(d, s, "10.00")

    assert codes(excinfo) == ["no_prior_transfer"]
    assert TransferPair.objects.filter(source=d, destination=s).count() == 0


def test_revoking_from_itself_is_no_prior_transfer(make_account, fund, revoke):
    s = make_account()
    fund(s, "100.00")

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, s, "10.00")

    assert codes(excinfo) == ["no_prior_transfer"]


def test_rule_reasons_and_no_prior_transfer_are_listed_together(
    make_account, other_company, fund, revoke, set_status
):
    s, d = make_account(), make_account(company=other_company)
    fund(d, "100.00")
    set_status(d, "frozen")

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")

    assert codes(excinfo) == [
        "account_not_active",
        "different_company",
        "no_prior_transfer",
    ]


def test_rule_reasons_and_exceeded_terms_are_listed_together(
    make_account, fund, transfer, revoke, set_status
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    set_status(s, "closed")

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "50.01")

    assert codes(excinfo) == [
        "account_not_active",
        "exceeds_transferred_in_balance",
        "exceeds_remaining_revocable",
        "would_cause_overdue",
    ]


# --- the revocable terms and their order ------------------------------------------


def test_all_terms_equal_ties_name_them_in_order(
    make_account, fund, transfer, revoke, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")

    r = revocable(s, d)
    assert r.has_prior_transfer
    assert terms(r) == (
        D("50.00"),
        D("50.00"),
        D("50.00"),
        D("50.00"),
        "unspent_transferred_in",
    )
    assert r.terms() == {
        "unspent_transferred_in": D("50.00"),
        "remaining_revocable": D("50.00"),
        "available_balance": D("50.00"),
    }

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "50.01")
    assert codes(excinfo) == [
        "exceeds_transferred_in_balance",
        "exceeds_remaining_revocable",
        "would_cause_overdue",
    ]
    for reason in excinfo.value.reasons:
        assert "50.01" in reason.message
        assert "50.00" in reason.message

    revoke(s, d, "50.00")
    assert d.cash_balance == D("0.00")
    assert_ledger_clean()


def test_pair_term_binds_when_others_sent_more(
    make_account, fund, transfer, revoke, assert_ledger_clean
):
    s1, s2, d = make_account(), make_account(), make_account()
    fund(s1, "100.00")
    fund(s2, "100.00")
    transfer(s1, d, "50.00")
    transfer(s2, d, "30.00")

    assert terms(revocable(s2, d)) == (
        D("80.00"),
        D("30.00"),
        D("80.00"),
        D("30.00"),
        "remaining_revocable",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s2, d, "30.01")
    assert codes(excinfo) == ["exceeds_remaining_revocable"]
    assert "30.00" in excinfo.value.reasons[0].message

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s2, d, "80.01")
    assert codes(excinfo) == [
        "exceeds_remaining_revocable",
        "exceeds_transferred_in_balance",
        "would_cause_overdue",
    ]

    revoke(s2, d, "30.00")
    assert d.transferred_in_balance == D("50.00")
    assert s2.own_cash == D("100.00")
    # s1's pair is untouched: transferred-in funds are one pool per account,
    # the pair term limits each sender separately.
    assert terms(revocable(s1, d)) == (
        D("50.00"),
        D("50.00"),
        D("50.00"),
        D("50.00"),
        "unspent_transferred_in",
    )
    assert_ledger_clean()


def test_unspent_term_binds_binding_first_then_the_rest(
    make_account, fund, charge, transfer, revoke
):
    s, d = make_account(), make_account()
    fund(s, "200.00")
    fund(d, "25.00")
    transfer(s, d, "100.00")
    charge(d, "70.00")  # billed, not settled: counts as spent transferred-in funds

    assert terms(revocable(s, d)) == (
        D("30.00"),
        D("100.00"),
        D("55.00"),
        D("30.00"),
        "unspent_transferred_in",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "30.01")
    assert codes(excinfo) == ["exceeds_transferred_in_balance"]

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "60.00")
    assert codes(excinfo) == ["exceeds_transferred_in_balance", "would_cause_overdue"]

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "100.01")
    assert codes(excinfo) == [
        "exceeds_transferred_in_balance",
        "would_cause_overdue",
        "exceeds_remaining_revocable",
    ]


def test_available_term_binds_first_when_destination_is_overdue(
    make_account, fund, charge, transfer, revoke
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    charge(d, "80.00")
    assert d.available_balance == D("-30.00")

    r = revocable(s, d)
    assert terms(r) == (
        D("0.00"),
        D("50.00"),
        D("-30.00"),
        D("0.00"),
        "available_balance",
    )

    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "10.00")
    assert codes(excinfo) == ["would_cause_overdue", "exceeds_transferred_in_balance"]


# --- spent funds ------------------------------------------------------------------


def test_funds_already_spent_cannot_be_revoked_from_own_top_ups(
    make_account, fund, charge, transfer, revoke, remaining, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    charge(d, "50.00")
    services.settle_account(account=d)
    d.refresh_from_db()
    assert (d.cash_balance, d.transferred_in_balance) == (D("0.00"), D("0.00"))

    fund(d, "80.00")

    assert (d.own_cash, d.transferred_in_balance) == (D("80.00"), D("0.00"))
    assert terms(revocable(s, d)) == (
        D("0.00"),
        D("50.00"),
        D("80.00"),
        D("0.00"),
        "unspent_transferred_in",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "0.01")
    assert codes(excinfo) == ["exceeds_transferred_in_balance"]
    d.refresh_from_db()
    assert d.own_cash == D("80.00")
    # Spending does not reduce the pair term.
    assert remaining(s, d) == D("50.00")
    assert_ledger_clean()


def test_partly_spent_transfer_revokes_only_the_unspent_part(
    make_account, fund, charge, transfer, revoke, remaining, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    charge(d, "20.00")
    fund(d, "100.00")  # settles the charge from transferred-in funds first

    assert (d.own_cash, d.transferred_in_balance, d.uncleared_amount) == (
        D("100.00"),
        D("30.00"),
        D("0.00"),
    )
    assert remaining(s, d) == D("50.00")
    assert terms(revocable(s, d)) == (
        D("30.00"),
        D("50.00"),
        D("130.00"),
        D("30.00"),
        "unspent_transferred_in",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "30.01")
    assert codes(excinfo) == ["exceeds_transferred_in_balance"]

    revoke(s, d, "30.00")

    assert (d.cash_balance, d.own_cash, d.transferred_in_balance) == (
        D("100.00"),
        D("100.00"),
        D("0.00"),
    )
    assert s.own_cash == D("80.00")
    assert remaining(s, d) == D("20.00")
    assert revocable(s, d).revocable_amount == D("0.00")
    assert_ledger_clean()


def test_billed_but_unsettled_charges_count_as_spent(
    make_account, fund, charge, transfer, revoke, remaining, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "50.00")
    charge(d, "20.00")

    assert (d.cash_balance, d.transferred_in_balance, d.uncleared_amount) == (
        D("50.00"),
        D("50.00"),
        D("20.00"),
    )
    assert d.unspent_transferred_in == D("30.00")
    assert terms(revocable(s, d)) == (
        D("30.00"),
        D("50.00"),
        D("30.00"),
        D("30.00"),
        "unspent_transferred_in",
    )
    with pytest.raises(RevocationRefused) as excinfo:
        revoke(s, d, "30.01")
    assert codes(excinfo) == ["exceeds_transferred_in_balance", "would_cause_overdue"]

    revoke(s, d, "30.00")

    assert (d.cash_balance, d.transferred_in_balance, d.uncleared_amount) == (
        D("20.00"),
        D("20.00"),
        D("20.00"),
    )
    assert d.available_balance == D("0.00")
    assert not d.has_overdue
    assert s.own_cash == D("80.00")
    assert remaining(s, d) == D("20.00")
    assert not Movement.objects.filter(kind=Movement.Kind.SETTLEMENT).exists()
    assert_ledger_clean()


def test_unsettled_charges_are_spent_from_transferred_in_before_own_funds(
    make_account, fund, charge, transfer, revoke, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "100.00")
    transfer(s, d, "50.00")
    charge(d, "20.00")

    assert terms(revocable(s, d)) == (
        D("30.00"),
        D("50.00"),
        D("130.00"),
        D("30.00"),
        "unspent_transferred_in",
    )
    revoke(s, d, "30.00")
    assert (d.own_cash, d.transferred_in_balance, d.uncleared_amount) == (
        D("100.00"),
        D("20.00"),
        D("20.00"),
    )
    assert_ledger_clean()


def test_spending_does_not_reduce_the_pair_term(
    make_account, fund, charge, transfer, remaining
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "60.00")
    charge(d, "45.00")
    services.settle_account(account=d)

    assert remaining(s, d) == D("60.00")
    r = revocable(s, d)
    assert r.remaining_revocable == D("60.00")
    assert r.unspent_transferred_in == D("15.00")
    assert r.revocable_amount == D("15.00")
