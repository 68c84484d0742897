"""Balance transfer (SPEC §3.2): permission, every refusal reason, the effect,
and the transferable amount with its reasons."""

from decimal import Decimal

import pytest

from accounts import selectors, services
from accounts.models import Movement, TransferPair
from billing_portal.errors import ActionForbidden, TransferRefused
from tests.factories import UserFactory


def D(value) -> Decimal:
    return Decimal(value)


def codes(excinfo) -> list[str]:
    return [r.code for r in excinfo.value.reasons]


def transferable(account) -> selectors.Transferable:
    account.refresh_from_db()
    return selectors.get_transferable(account)


# --- the effect ----------------------------------------------------------------


@pytest.mark.parametrize("permission", ["owner", "manage"])
def test_transfer_moves_own_funds_to_the_cent(
    make_account,
    fund,
    transfer,
    grant,
    owner,
    remaining,
    permission,
    assert_ledger_clean,
):
    s, d = make_account(), make_account()
    grant(owner, s, permission)
    fund(s, "250.75")
    fund(d, "10.00")

    movement = transfer(s, d, "100.25", actor=owner)

    assert movement.kind == Movement.Kind.TRANSFER
    assert movement.account_id == s.pk
    assert movement.counterparty_id == d.pk
    assert movement.amount == D("100.25")
    assert movement.currency == "CNY"
    assert movement.actor == owner
    assert (s.cash_balance, s.own_cash, s.transferred_in_balance) == (
        D("150.50"),
        D("150.50"),
        D("0.00"),
    )
    assert (d.cash_balance, d.own_cash, d.transferred_in_balance) == (
        D("110.25"),
        D("10.00"),
        D("100.25"),
    )
    assert s.uncleared_amount == d.uncleared_amount == D("0.00")
    assert remaining(s, d) == D("100.25")
    assert remaining(d, s) is None
    assert_ledger_clean()


def test_repeated_transfers_accumulate_on_one_pair(
    make_account, fund, transfer, remaining, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")

    transfer(s, d, "40.00")
    transfer(s, d, "0.01")
    transfer(s, d, "9.99")

    assert TransferPair.objects.filter(source=s, destination=d).count() == 1
    assert remaining(s, d) == D("50.00")
    assert selectors.get_revocable(s, d).remaining_revocable == D("50.00")
    assert s.own_cash == D("50.00")
    assert d.transferred_in_balance == d.cash_balance == D("50.00")
    assert_ledger_clean()


def test_transfer_of_the_whole_transferable_amount_empties_own_cash(
    make_account, fund, transfer, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "60.00")

    transfer(s, d, "60.00")

    assert s.cash_balance == D("0.00")
    assert not s.has_overdue
    assert d.cash_balance == D("60.00")
    assert_ledger_clean()


def test_operator_may_transfer_without_any_access_row(
    make_account, fund, transfer, operator, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "20.00")

    movement = transfer(s, d, "5.00", actor=operator)

    assert movement.actor == operator
    assert s.cash_balance == D("15.00")
    assert d.transferred_in_balance == D("5.00")
    assert_ledger_clean()


# --- permission first (403) ----------------------------------------------------


@pytest.mark.parametrize("access", ["use", "none", "owner_of_destination_only"])
def test_no_permission_is_refused_before_any_business_rule(
    make_account,
    other_company,
    fund,
    charge,
    grant,
    set_status,
    ledger_snapshot,
    access,
):
    user = UserFactory()
    s = make_account()
    d = make_account(company=other_company, currency="USD")
    fund(s, "10.00")
    charge(s, "50.00")  # s is overdue
    set_status(s, "frozen")
    set_status(d, "closed")
    if access == "use":
        grant(user, s, "use")
    elif access == "owner_of_destination_only":
        grant(user, d, "owner")
    before = ledger_snapshot()

    with pytest.raises(ActionForbidden) as excinfo:
        services.transfer_balance(
            source=s, destination=d, amount=D("1000.00"), actor=user
        )

    assert excinfo.value.status == 403
    assert codes(excinfo) == ["no_permission"]
    assert s.uid in excinfo.value.reasons[0].message
    assert ledger_snapshot() == before


def test_no_permission_even_for_a_transfer_to_itself(make_account, fund, grant):
    user = UserFactory()
    s = make_account()
    grant(user, s, "use")
    fund(s, "10.00")

    with pytest.raises(ActionForbidden) as excinfo:
        services.transfer_balance(source=s, destination=s, amount=D("1.00"), actor=user)

    assert codes(excinfo) == ["no_permission"]


# --- one refusal reason at a time (409) ------------------------------------------


def test_same_account_is_refused(make_account, fund, transfer, ledger_snapshot):
    s = make_account()
    fund(s, "100.00")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, s, "10.00")

    assert excinfo.value.status == 409
    assert codes(excinfo) == ["same_account"]
    assert ledger_snapshot() == before


@pytest.mark.parametrize("side", ["source", "destination"])
@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_inactive_account_is_refused(
    make_account, fund, transfer, set_status, ledger_snapshot, side, status
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    inactive = s if side == "source" else d
    set_status(inactive, status)
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    assert codes(excinfo) == ["account_not_active"]
    message = excinfo.value.reasons[0].message
    assert inactive.uid in message
    assert status in message
    assert ledger_snapshot() == before


def test_both_inactive_accounts_are_listed_source_first(
    make_account, fund, transfer, set_status
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    set_status(s, "closed")
    set_status(d, "frozen")

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    assert codes(excinfo) == ["account_not_active", "account_not_active"]
    assert s.uid in excinfo.value.reasons[0].message
    assert "closed" in excinfo.value.reasons[0].message
    assert d.uid in excinfo.value.reasons[1].message
    assert "frozen" in excinfo.value.reasons[1].message


def test_currency_mismatch_is_refused(make_account, fund, transfer, ledger_snapshot):
    s, d = make_account(currency="CNY"), make_account(currency="USD")
    fund(s, "100.00")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    assert codes(excinfo) == ["currency_mismatch"]
    message = excinfo.value.reasons[0].message
    assert "CNY" in message
    assert "USD" in message
    assert ledger_snapshot() == before


@pytest.mark.parametrize(
    ("source_company", "destination_company", "expected_uids"),
    [
        ("none", "verified", ["source"]),
        ("unverified", "verified", ["source"]),
        ("verified", "none", ["destination"]),
        ("verified", "unverified", ["destination"]),
        ("none", "unverified", ["source", "destination"]),
        ("unverified", "unverified", ["source", "destination"]),
    ],
)
def test_company_not_verified_is_refused(
    make_account,
    company,
    unverified_company,
    fund,
    transfer,
    ledger_snapshot,
    source_company,
    destination_company,
    expected_uids,
):
    companies = {"none": None, "verified": company, "unverified": unverified_company}
    accounts = {
        "source": make_account(company=companies[source_company]),
        "destination": make_account(company=companies[destination_company]),
    }
    s, d = accounts["source"], accounts["destination"]
    fund(s, "100.00")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    assert codes(excinfo) == ["company_not_verified"] * len(expected_uids)
    for reason, side in zip(excinfo.value.reasons, expected_uids, strict=True):
        assert accounts[side].uid in reason.message
    assert ledger_snapshot() == before


def test_different_verified_companies_are_refused(
    make_account, other_company, fund, transfer, ledger_snapshot
):
    s, d = make_account(), make_account(company=other_company)
    fund(s, "100.00")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    assert codes(excinfo) == ["different_company"]
    assert s.uid in excinfo.value.reasons[0].message
    assert d.uid in excinfo.value.reasons[0].message
    assert ledger_snapshot() == before


def test_overdue_source_is_refused(make_account, fund, charge, transfer):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(s, "150.00")
    assert s.available_balance == D("-50.00")

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "10.00")

    # An overdue source has nothing transferable either (available < 0).
    assert codes(excinfo) == ["source_overdue", "exceeds_transferable"]
    assert "-50.00" in excinfo.value.reasons[0].message
    assert "0.00" in excinfo.value.reasons[1].message


def test_amount_above_transferable_is_refused_by_one_cent(
    make_account, fund, transfer, ledger_snapshot, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "60.00")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "60.01")

    assert codes(excinfo) == ["exceeds_transferable"]
    message = excinfo.value.reasons[0].message
    assert "60.01" in message
    assert "60.00" in message
    assert ledger_snapshot() == before

    transfer(s, d, "60.00")
    assert s.cash_balance == D("0.00")
    assert_ledger_clean()


def test_every_failing_reason_is_listed_in_order(
    make_account, other_company, fund, charge, transfer, set_status, ledger_snapshot
):
    s = make_account()
    d = make_account(company=other_company, currency="USD")
    fund(s, "10.00")
    charge(s, "30.00")
    set_status(s, "frozen")
    set_status(d, "closed")
    before = ledger_snapshot()

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "5.00")

    assert codes(excinfo) == [
        "account_not_active",
        "account_not_active",
        "currency_mismatch",
        "different_company",
        "source_overdue",
        "exceeds_transferable",
    ]
    assert excinfo.value.code == "account_not_active"
    assert excinfo.value.as_body()["code"] == "account_not_active"
    assert [r["code"] for r in excinfo.value.as_body()["reasons"]] == codes(excinfo)
    assert ledger_snapshot() == before


def test_same_account_and_exceeds_are_listed_together(make_account, fund, transfer):
    s = make_account()
    fund(s, "10.00")

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, s, "10.01")

    assert codes(excinfo) == ["same_account", "exceeds_transferable"]


def test_unverified_company_and_currency_mismatch_are_listed_together(
    make_account, unverified_company, fund, transfer
):
    s = make_account()
    d = make_account(company=unverified_company, currency="USD")
    fund(s, "10.00")

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "20.00")

    assert codes(excinfo) == [
        "currency_mismatch",
        "company_not_verified",
        "exceeds_transferable",
    ]


def test_refused_transfer_creates_no_pair(make_account, fund, transfer):
    s, d = make_account(), make_account()
    fund(s, "10.00")

    with pytest.raises(TransferRefused):
        transfer(s, d, "10.01")

    assert not TransferPair.objects.exists()
    assert not Movement.objects.filter(kind=Movement.Kind.TRANSFER).exists()


# --- transferred-in funds never leave again ------------------------------------


def test_transferred_in_funds_can_never_be_transferred_out_again(
    make_account, fund, transfer, assert_ledger_clean
):
    s, d, e = make_account(), make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "40.00")

    with pytest.raises(TransferRefused) as excinfo:
        transfer(d, e, "0.01")
    assert codes(excinfo) == ["exceeds_transferable"]
    assert transferable(d).transferable_amount == D("0.00")

    # Own funds of d are transferable, its transferred-in funds still are not.
    fund(d, "10.00")
    assert transferable(d).transferable_amount == D("10.00")
    transfer(d, e, "10.00")
    assert (d.own_cash, d.transferred_in_balance) == (D("0.00"), D("40.00"))
    assert (e.own_cash, e.transferred_in_balance) == (D("0.00"), D("10.00"))
    with pytest.raises(TransferRefused) as excinfo:
        transfer(d, e, "0.01")
    assert codes(excinfo) == ["exceeds_transferable"]

    # Nor back to the account that sent them (a revocation is the way back).
    with pytest.raises(TransferRefused) as excinfo:
        transfer(d, s, "0.01")
    assert codes(excinfo) == ["exceeds_transferable"]
    assert_ledger_clean()


def test_settlement_spends_transferred_in_first_so_own_funds_stay_transferable(
    make_account, fund, charge, transfer, assert_ledger_clean
):
    s, d, e = make_account(), make_account(), make_account()
    fund(s, "100.00")
    fund(d, "10.00")
    transfer(s, d, "40.00")
    charge(d, "30.00")
    services.settle_account(account=d)

    t = transferable(d)
    assert (t.cash_balance, t.transferred_in_balance, t.own_funds) == (
        D("20.00"),
        D("10.00"),
        D("10.00"),
    )
    assert t.transferable_amount == D("10.00")
    transfer(d, e, "10.00")
    assert d.cash_balance == d.transferred_in_balance == D("10.00")
    assert_ledger_clean()


# --- the transferable formula ---------------------------------------------------


@pytest.mark.parametrize(
    ("own", "transferred_in", "uncleared", "expected"),
    [
        ("100.00", "0", "0", "100.00"),
        ("100.00", "50.00", "0", "100.00"),
        ("100.00", "50.00", "80.00", "70.00"),
        ("30.00", "50.00", "10.00", "30.00"),
        ("0", "50.00", "0", "0.00"),
        ("100.00", "0", "100.00", "0.00"),
        ("20.00", "50.00", "60.00", "10.00"),
        ("20.00", "50.00", "69.99", "0.01"),
        ("0.01", "0", "0", "0.01"),
    ],
)
def test_transferable_is_own_cash_capped_by_available_balance(
    make_account,
    fund,
    charge,
    transfer,
    own,
    transferred_in,
    uncleared,
    expected,
    assert_ledger_clean,
):
    helper, s, d = make_account(), make_account(), make_account()
    if D(own):
        fund(s, own)
    if D(transferred_in):
        fund(helper, transferred_in)
        transfer(helper, s, transferred_in)
    if D(uncleared):
        charge(s, uncleared)  # billed, not settled

    t = transferable(s)

    cash = D(own) + D(transferred_in)
    available = cash - D(uncleared)
    assert t.cash_balance == cash
    assert t.transferred_in_balance == D(transferred_in)
    assert t.own_funds == D(own)
    assert t.uncleared_amount == D(uncleared)
    assert t.credit_limit == D("0.00")
    assert t.available_balance == available
    assert t.transferable_amount == max(D(0), min(cash - D(transferred_in), available))
    assert t.transferable_amount == D(expected)
    assert not t.blocked

    over = D(expected) + D("0.01")
    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, over)
    assert codes(excinfo) == ["exceeds_transferable"]
    if D(expected):
        transfer(s, d, expected)
        assert s.own_cash == D(own) - D(expected)
        assert s.available_balance == available - D(expected)
        assert not s.has_overdue
        assert d.transferred_in_balance == D(expected)
    assert_ledger_clean()


def test_own_cash_transferable_while_charges_stand_uncleared(
    make_account, fund, charge, transfer, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(s, "30.00")

    t = transferable(s)
    assert (t.available_balance, t.transferable_amount) == (D("70.00"), D("70.00"))
    assert [r.code for r in t.reasons] == ["uncleared_charges"]

    with pytest.raises(TransferRefused) as excinfo:
        transfer(s, d, "70.01")
    assert codes(excinfo) == ["exceeds_transferable"]

    transfer(s, d, "70.00")
    assert (s.cash_balance, s.uncleared_amount, s.available_balance) == (
        D("30.00"),
        D("30.00"),
        D("0.00"),
    )
    assert not s.has_overdue
    # The transfer did not settle anything.
    assert not Movement.objects.filter(kind=Movement.Kind.SETTLEMENT).exists()
    assert_ledger_clean()


# --- get_transferable reasons -----------------------------------------------------


def test_reasons_are_empty_when_all_cash_is_transferable(make_account, fund):
    s = make_account()
    fund(s, "100.00")

    t = transferable(s)

    assert t.transferable_amount == t.cash_balance == D("100.00")
    assert t.reasons == []
    assert not t.blocked


def test_reasons_are_empty_for_an_empty_account(make_account):
    t = transferable(make_account())

    assert t.transferable_amount == t.cash_balance == D("0.00")
    assert t.reasons == []


def test_transferred_in_funds_reason(make_account, fund, transfer):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "25.00")
    transfer(s, d, "40.00")

    t = transferable(d)

    assert t.transferable_amount == D("25.00")
    assert [r.code for r in t.reasons] == ["transferred_in_funds"]
    message = t.reasons[0].message
    assert "40.00" in message
    assert "65.00" in message


def test_only_transferred_in_funds_means_nothing_is_transferable(
    make_account, fund, transfer
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "40.00")

    t = transferable(d)

    assert t.transferable_amount == D("0.00")
    assert [r.code for r in t.reasons] == ["transferred_in_funds"]


def test_uncleared_charges_reason(make_account, fund, charge):
    s = make_account()
    fund(s, "100.00")
    charge(s, "12.34")

    t = transferable(s)

    assert t.transferable_amount == D("87.66")
    assert [r.code for r in t.reasons] == ["uncleared_charges"]
    message = t.reasons[0].message
    assert "12.34" in message
    assert "87.66" in message


def test_both_informational_reasons(make_account, fund, charge, transfer):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "20.00")
    transfer(s, d, "50.00")
    charge(d, "60.00")

    t = transferable(d)

    assert t.available_balance == D("10.00")
    assert t.transferable_amount == D("10.00")
    assert [r.code for r in t.reasons] == ["transferred_in_funds", "uncleared_charges"]


@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_inactive_account_transfers_nothing(make_account, fund, set_status, status):
    s = make_account()
    fund(s, "100.00")
    set_status(s, status)

    t = transferable(s)

    assert t.blocked
    assert t.transferable_amount == D("0.00")
    assert t.cash_balance == D("100.00")
    assert [r.code for r in t.reasons] == ["account_not_active"]


@pytest.mark.parametrize("company_kind", ["none", "unverified"])
def test_account_of_no_verified_company_transfers_nothing(
    make_account, unverified_company, fund, company_kind
):
    s = make_account(company=None if company_kind == "none" else unverified_company)
    fund(s, "100.00")

    t = transferable(s)

    assert t.blocked
    assert t.transferable_amount == D("0.00")
    assert [r.code for r in t.reasons] == ["company_not_verified"]


def test_overdue_account_transfers_nothing(make_account, fund, charge):
    s = make_account()
    fund(s, "100.00")
    charge(s, "150.00")

    t = transferable(s)

    assert t.blocked
    assert t.available_balance == D("-50.00")
    assert t.transferable_amount == D("0.00")
    assert [r.code for r in t.reasons] == ["source_overdue", "uncleared_charges"]


def test_blocking_and_informational_reasons_together(
    make_account, fund, transfer, set_status
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "5.00")
    transfer(s, d, "40.00")
    set_status(d, "closed")

    t = transferable(d)

    assert t.transferable_amount == D("0.00")
    assert [r.code for r in t.reasons] == [
        "account_not_active",
        "transferred_in_funds",
    ]


def test_blocked_account_with_no_cash_still_names_the_block(make_account, set_status):
    s = make_account()
    set_status(s, "frozen")

    t = transferable(s)

    assert t.transferable_amount == D("0.00")
    assert [r.code for r in t.reasons] == ["account_not_active"]
