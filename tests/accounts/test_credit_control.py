"""Credit control (SPEC §3.4, §3.5): quotas, limits and their contracts, the
bounds of a limit per currency, the effect of a limit on money, the disabled
conditions at their thresholds and the access-request cycle."""

import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts import selectors, services
from accounts.models import (
    AccessException,
    AccessRequest,
    Account,
    Company,
    Contract,
    CreditLimitChange,
    CreditQuota,
    FinancialRelationship,
    OverdueEpisode,
)
from accounts.models.structure import RelationshipPermission
from billing_portal.errors import (
    AccessRequestRefused,
    ActionForbidden,
    CreditControlRefused,
    TransferRefused,
)
from billing_portal.models import Notification
from tests.credit_helpers import (
    D,
    activate_limit,
    codes,
    confirm,
    make_cbm,
    portal_rows,
    set_limit,
    set_quota,
    sms_rows,
)
from tests.factories import AccountFactory, UserFactory

Outcome = CreditLimitChange.Outcome
PENDING, CONFIRMED, WITHDRAWN = (
    Contract.Status.PENDING,
    Contract.Status.CONFIRMED,
    Contract.Status.WITHDRAWN,
)
MICRO = timedelta(microseconds=1)


@dataclass
class Acme:
    company: Company
    main: Account
    owner: object
    co_owner: object
    manager: object
    viewer: object


@pytest.fixture
def acme(company, make_account, operator, owner, grant):
    """Acme (verified, quota 1000.00 CNY). Main has two owners, a manager and a
    viewer; its mobile number gets the SMS."""
    main = make_account(name="Main", mobile="+8613800138001")
    co_owner = UserFactory(username="co-owner")
    manager = UserFactory(username="manager")
    viewer = UserFactory(username="viewer")
    grant(owner, main, "owner")
    grant(co_owner, main, "owner")
    grant(manager, main, "manage")
    grant(viewer, main, "use")
    set_quota(company, "1000.00", actor=operator)
    return Acme(company, main, owner, co_owner, manager, viewer)


@pytest.fixture
def thresholds(settings):
    """Receivables thresholds per currency and the long-overdue days (§3.5)."""
    settings.ACCOUNTS_RECEIVABLE_THRESHOLD = {"CNY": D("500.00"), "USD": D("80.00")}
    settings.LONG_OVERDUE_DAYS = 30
    return settings


def partner_pays(account, operator, name="Fast Partner Ltd"):
    services.update_account(
        account=account,
        actor=operator,
        partner_name=name,
        partner_mode=Account.PartnerMode.PAY_ON_BEHALF,
    )
    account.refresh_from_db()
    return account


def past_episode(account, *, ended_before, length, at=None):
    """An overdue episode of history (no money moves): [end - length, end)."""
    end = (at or timezone.now()) - ended_before
    return OverdueEpisode.objects.create(account=account, start=end - length, end=end)


def unchanged(account, limit="0.00"):
    account.refresh_from_db()
    return account.credit_limit == D(limit)


# --- quotas -------------------------------------------------------------------------


def test_operator_sets_a_quota_per_currency(company, operator):
    cny = set_quota(company, "1000.00", actor=operator)
    usd = set_quota(company, "250.50", actor=operator, currency="USD")
    again = set_quota(company, "800.00", actor=operator)

    assert again.pk == cny.pk
    rows = {
        (q.currency, q.amount, q.updated_by)
        for q in CreditQuota.objects.filter(company=company)
    }
    assert rows == {("CNY", D("800.00"), operator), ("USD", D("250.50"), operator)}
    assert usd.currency == "USD"
    assert selectors.get_quota(company, "CNY") == D("800.00")
    assert selectors.get_quota(company, "USD") == D("250.50")


def test_quota_lowered_below_what_is_allocated_keeps_limits_and_refuses_increases(
    acme, make_account, operator, grant
):
    other = make_account(name="Other")
    grant(acme.owner, other, "owner")
    activate_limit(acme.main, "600.00", admin=acme.owner, owner=acme.owner)
    activate_limit(other, "300.00", admin=acme.owner, owner=acme.owner)

    set_quota(acme.company, "500.00", actor=operator)

    acme.main.refresh_from_db()
    other.refresh_from_db()
    assert (acme.main.credit_limit, other.credit_limit) == (D("600.00"), D("300.00"))
    assert selectors.get_company_allocation(acme.company, "CNY") == {
        "currency": "CNY",
        "quota": D("500.00"),
        "allocated": D("900.00"),
        "over_allocated": True,
    }
    bounds = selectors.get_credit_bounds(other)
    assert (bounds.quota, bounds.allocated_to_others, bounds.max_allocatable) == (
        D("500.00"),
        D("600.00"),
        D("-100.00"),
    )
    assert bounds.over_allocated

    # An increase of either limit is refused while over the quota ...
    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(acme.main, "600.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(other, "300.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    assert sms_rows(acme.main).count() == 1
    assert sms_rows(other).count() == 1

    # ... a decrease is allowed, still over the quota (400 + 300 > 500) ...
    assert set_limit(acme.main, "400.00", actor=acme.owner) == ("active", None)
    assert acme.main.credit_limit == D("400.00")
    assert selectors.get_company_allocation(acme.company, "CNY")["over_allocated"]
    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(other, "300.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]

    # ... and once within the quota, increases up to what is left are allowed.
    set_limit(acme.main, "100.00", actor=acme.owner)
    allocation = selectors.get_company_allocation(acme.company, "CNY")
    assert (allocation["allocated"], allocation["over_allocated"]) == (
        D("400.00"),
        False,
    )
    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(other, "400.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    assert "400.00" in excinfo.value.reasons[0].message
    assert set_limit(other, "400.00", actor=acme.owner) == ("active", None)
    assert other.credit_limit == D("400.00")
    assert selectors.get_company_allocation(acme.company, "CNY") == {
        "currency": "CNY",
        "quota": D("500.00"),
        "allocated": D("500.00"),
        "over_allocated": False,
    }
    assert [r.params["limit"] for r in sms_rows(acme.main)] == [
        "600.00",
        "400.00",
        "100.00",
    ]
    assert [r.params["limit"] for r in sms_rows(other)] == ["300.00", "400.00"]


# --- the first limit and its contract -------------------------------------------------


def test_first_limit_inactive_until_confirmed_then_active_and_exactly_one_sms(
    acme, fund
):
    main = acme.main
    fund(main, "50.00")

    status, contract = set_limit(main, "300.00", actor=acme.manager)

    # Saved as pending, not in effect.
    assert status == "pending_contract"
    assert (contract.status, contract.limit, contract.currency) == (
        PENDING,
        D("300.00"),
        "CNY",
    )
    assert contract.kind == Contract.Kind.CREDIT_CONTROL
    assert contract.terms_version == settings.CREDIT_CONTROL_TERMS_VERSION
    assert contract.created_by == acme.manager
    assert contract.confirmed_at is None
    assert contract.confirmed_by is None
    assert main.credit_limit == D("0.00")
    assert main.available_balance == D("50.00")
    assert selectors.get_pending_contract(main) == contract
    # The owners (only) get an in-portal notice; no SMS yet.
    notices = portal_rows(main)
    assert sorted(n.to for n in notices) == ["co-owner", "owner"]
    assert {n.user for n in notices} == {acme.owner, acme.co_owner}
    assert {n.template for n in notices} == {"credit_contract_pending"}
    assert {n.status for n in notices} == {Notification.Status.QUEUED}
    assert notices[0].params == {
        "account": main.uid,
        "name": "Main",
        "limit": "300.00",
        "currency": "CNY",
        "contract": contract.pk,
    }
    assert sms_rows(main).count() == 0
    history = list(CreditLimitChange.objects.filter(account=main))
    assert [(h.before, h.after, h.outcome, h.contract, h.actor) for h in history] == [
        (D("0.00"), D("300.00"), Outcome.PENDING_CONTRACT, contract, acme.manager)
    ]

    before = timezone.now()
    confirmed = confirm(contract, actor=acme.owner, ip="203.0.113.7")
    after = timezone.now()

    contract.refresh_from_db()
    assert contract.status == CONFIRMED
    assert contract.confirmed_by == acme.owner
    assert before <= contract.confirmed_at <= after
    assert contract.confirmed_from == "203.0.113.7"
    assert confirmed.pk == contract.pk
    main.refresh_from_db()
    assert main.credit_limit == D("300.00")
    assert main.available_balance == D("350.00")
    assert selectors.get_pending_contract(main) is None
    # Exactly one SMS, to the account's mobile, when the limit took effect.
    sms = list(sms_rows(main))
    assert len(sms) == 1
    assert (sms[0].to, sms[0].template, sms[0].status) == (
        "+8613800138001",
        "credit_limit_changed",
        Notification.Status.QUEUED,
    )
    assert sms[0].params == {
        "account": main.uid,
        "name": "Main",
        "limit": "300.00",
        "currency": "CNY",
    }
    assert portal_rows(main).count() == 2
    latest = CreditLimitChange.objects.filter(account=main).first()
    assert (latest.before, latest.after, latest.outcome, latest.contract) == (
        D("0.00"),
        D("300.00"),
        Outcome.APPLIED,
        contract,
    )
    assert latest.actor == acme.owner


def test_an_account_without_a_mobile_number_gets_no_sms(acme, make_account, grant):
    silent = make_account(name="Silent", mobile="")
    grant(acme.owner, silent, "owner")

    activate_limit(silent, "10.00", admin=acme.owner, owner=acme.owner)

    assert silent.credit_limit == D("10.00")
    assert sms_rows(silent).count() == 0


def test_later_changes_take_effect_at_once_with_one_sms_each(acme, fund):
    main = acme.main
    fund(main, "20.00")
    first = activate_limit(main, "300.00", admin=acme.manager, owner=acme.owner)

    assert set_limit(main, "450.50", actor=acme.manager) == ("active", None)
    assert main.credit_limit == D("450.50")
    assert main.available_balance == D("470.50")
    assert set_limit(main, "120.00", actor=acme.owner) == ("active", None)
    assert main.credit_limit == D("120.00")

    assert [(s.template, s.params["limit"]) for s in sms_rows(main)] == [
        ("credit_limit_changed", "300.00"),
        ("credit_limit_changed", "450.50"),
        ("credit_limit_changed", "120.00"),
    ]
    assert list(Contract.objects.filter(account=main)) == [first]
    history = CreditLimitChange.objects.filter(account=main).order_by("pk")
    assert [(h.before, h.after, h.outcome) for h in history] == [
        (D("0.00"), D("300.00"), Outcome.PENDING_CONTRACT),
        (D("0.00"), D("300.00"), Outcome.APPLIED),
        (D("300.00"), D("450.50"), Outcome.APPLIED),
        (D("450.50"), D("120.00"), Outcome.APPLIED),
    ]

    # The same limit again changes nothing and sends nothing.
    assert set_limit(main, "120.00", actor=acme.owner) == ("active", None)
    assert sms_rows(main).count() == 3


def test_cancel_to_zero_when_no_credit_is_in_use(acme, fund, charge):
    main = acme.main
    fund(main, "150.00")
    activate_limit(main, "300.00", admin=acme.owner, owner=acme.owner)
    charge(main, "150.00")  # uncleared == cash: no credit in use

    assert set_limit(main, "0", actor=acme.manager) == ("active", None)

    assert main.credit_limit == D("0.00")
    assert main.available_balance == D("0.00")
    assert not main.has_overdue
    assert [s.params["limit"] for s in sms_rows(main)] == ["300.00", "0.00"]


def test_cancel_refused_while_credit_is_in_use_and_lowering_stops_at_it(
    acme, fund, charge
):
    main = acme.main
    fund(main, "50.00")
    activate_limit(main, "300.00", admin=acme.owner, owner=acme.owner)
    charge(main, "120.00")  # credit in use: 120 - 50 = 70

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "0", actor=acme.owner)
    assert codes(excinfo) == ["credit_in_use"]
    assert "70.00" in excinfo.value.reasons[0].message

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "69.99", actor=acme.owner)
    assert codes(excinfo) == ["below_min_allocatable"]
    assert unchanged(main, "300.00")
    assert selectors.get_credit_bounds(main).min_allocatable == D("70.00")

    assert set_limit(main, "70.00", actor=acme.owner) == ("active", None)
    assert main.available_balance == D("0.00")
    assert not main.has_overdue
    assert sms_rows(main).count() == 2


def test_first_limit_below_the_credit_in_use_is_refused(acme, fund, charge):
    main = acme.main
    fund(main, "30.00")
    charge(main, "100.00")  # overdue by 70: the first limit must cover it

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "69.99", actor=acme.owner)
    assert codes(excinfo) == ["below_min_allocatable"]
    assert Contract.objects.filter(account=main).count() == 0

    status, contract = set_limit(main, "70.00", actor=acme.owner)
    assert (status, contract.limit) == ("pending_contract", D("70.00"))


@pytest.mark.parametrize("withdrawer", ["manager", "owner", "operator"])
def test_withdraw_a_pending_contract_drops_its_limit(acme, operator, withdrawer):
    main = acme.main
    _status, contract = set_limit(main, "300.00", actor=acme.manager)
    actor = operator if withdrawer == "operator" else getattr(acme, withdrawer)

    before = timezone.now()
    services.withdraw_contract(contract=contract, actor=actor)

    contract.refresh_from_db()
    assert contract.status == WITHDRAWN
    assert contract.withdrawn_by == actor
    assert before <= contract.withdrawn_at <= timezone.now()
    assert contract.confirmed_at is None
    assert unchanged(main)
    assert selectors.get_pending_contract(main) is None
    withdrawn = portal_rows(main, "credit_contract_withdrawn")
    assert sorted(n.to for n in withdrawn) == ["co-owner", "owner"]
    assert withdrawn[0].params["limit"] == "300.00"
    assert sms_rows(main).count() == 0
    latest = CreditLimitChange.objects.filter(account=main).first()
    assert (latest.outcome, latest.before, latest.after, latest.actor) == (
        Outcome.WITHDRAWN,
        D("0.00"),
        D("0.00"),
        actor,
    )

    # A new request starts over with a new pending contract.
    status, again = set_limit(main, "200.00", actor=acme.manager)
    assert status == "pending_contract"
    assert again.pk != contract.pk
    assert again.status == PENDING
    assert main.credit_limit == D("0.00")

    # A withdrawn contract can no longer be confirmed.
    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(contract, actor=acme.owner)
    assert codes(excinfo) == ["invalid_state"]


def test_withdraw_refused_for_a_viewer_and_for_a_confirmed_contract(acme):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.manager)

    with pytest.raises(ActionForbidden) as excinfo:
        services.withdraw_contract(contract=contract, actor=acme.viewer)
    assert codes(excinfo) == ["no_permission"]
    contract.refresh_from_db()
    assert contract.status == PENDING

    confirm(contract, actor=acme.owner)
    with pytest.raises(CreditControlRefused) as excinfo:
        services.withdraw_contract(contract=contract, actor=acme.manager)
    assert codes(excinfo) == ["invalid_state"]
    contract.refresh_from_db()
    assert contract.status == CONFIRMED
    assert unchanged(acme.main, "300.00")


@pytest.mark.parametrize("amount", ["400.00", "0"])
def test_contract_pending_refuses_another_change(acme, amount):
    main = acme.main
    _status, contract = set_limit(main, "300.00", actor=acme.manager)

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, amount, actor=acme.owner)

    assert codes(excinfo) == ["contract_pending"]
    assert list(Contract.objects.filter(account=main)) == [contract]
    assert unchanged(main)
    assert CreditLimitChange.objects.filter(account=main).count() == 1


def test_a_confirmed_contract_cannot_be_confirmed_again(acme):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.manager)
    confirm(contract, actor=acme.owner)

    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(contract, actor=acme.co_owner)

    assert codes(excinfo) == ["invalid_state"]
    contract.refresh_from_db()
    assert contract.confirmed_by == acme.owner
    assert sms_rows(acme.main).count() == 1


# --- bounds: min and max allocatable, per currency ---------------------------------


def test_max_allocatable_counts_other_accounts_active_and_pending_limits(
    acme, make_account, other_company, operator, grant
):
    main = acme.main
    active_one = make_account(name="Active")
    pending_one = make_account(name="Pending")
    dollars = make_account(name="Dollars", currency="USD")
    elsewhere = AccountFactory(company=other_company)
    for account in (active_one, pending_one, dollars, elsewhere):
        grant(acme.owner, account, "owner")
    set_quota(acme.company, "900.00", actor=operator, currency="USD")
    set_quota(other_company, "5000.00", actor=operator)
    activate_limit(active_one, "300.00", admin=acme.owner, owner=acme.owner)
    set_limit(pending_one, "200.00", actor=acme.owner)  # pending counts too
    activate_limit(dollars, "900.00", admin=acme.owner, owner=acme.owner)
    activate_limit(elsewhere, "5000.00", admin=acme.owner, owner=acme.owner)

    bounds = selectors.get_credit_bounds(main)
    assert (
        bounds.quota,
        bounds.allocated_to_others,
        bounds.min_allocatable,
        bounds.max_allocatable,
        bounds.credit_in_use,
    ) == (D("1000.00"), D("500.00"), D("0.00"), D("500.00"), D("0.00"))

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "500.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    message = excinfo.value.reasons[0].message
    assert "500.01" in message
    assert "500.00" in message
    assert "1000.00" in message

    status, contract = set_limit(main, "500.00", actor=acme.owner)
    assert (status, contract.limit) == ("pending_contract", D("500.00"))
    # Main's pending limit now takes the rest of the CNY quota from the others.
    assert selectors.get_credit_bounds(active_one).max_allocatable == D("300.00")
    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(active_one, "300.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    assert selectors.get_company_allocation(acme.company, "CNY") == {
        "currency": "CNY",
        "quota": D("1000.00"),
        "allocated": D("1000.00"),
        "over_allocated": False,
    }


def test_a_pending_contract_stands_in_for_its_accounts_active_limit(
    acme, make_account, operator
):
    """Allocated = each account's limit, or its pending contract's limit
    instead (not both): summed in SQL, the same as account by account."""
    raised = make_account(name="Raised")
    plain = make_account(name="Plain")
    Account.objects.filter(pk=raised.pk).update(credit_limit=D("100.00"))
    Account.objects.filter(pk=plain.pk).update(credit_limit=D("40.00"))
    Contract.objects.create(
        account=raised, limit=D("300.00"), currency="CNY", terms_version="t"
    )
    set_quota(acme.company, "1000.00", actor=operator)
    assert selectors.allocated_to_others(acme.main) == D("340.00")
    assert selectors.allocated_to_others(raised) == D("40.00")
    assert (
        selectors.get_company_allocation(acme.company, "CNY")["allocated"]
        == D("340.00") + acme.main.credit_limit
    )


def test_a_quota_in_one_currency_allows_no_limit_in_another(
    acme, make_account, operator, grant
):
    dollars = make_account(name="Dollars", currency="USD")
    grant(acme.owner, dollars, "owner")

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(dollars, "0.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_max_allocatable"]
    assert selectors.get_credit_bounds(dollars).max_allocatable == D("0.00")

    set_quota(acme.company, "100.00", actor=operator, currency="USD")
    status, contract = set_limit(dollars, "100.00", actor=acme.owner)
    assert (status, contract.currency) == ("pending_contract", "USD")
    # The USD limit takes nothing from the CNY quota.
    assert selectors.get_credit_bounds(acme.main).max_allocatable == D("1000.00")


def test_a_usd_quota_allows_no_cny_limit(other_company, operator, owner, grant):
    account = AccountFactory(company=other_company, currency="CNY")
    grant(owner, account, "owner")
    set_quota(other_company, "5000.00", actor=operator, currency="USD")

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(account, "0.01", actor=owner)

    assert codes(excinfo) == ["exceeds_max_allocatable"]
    bounds = selectors.get_credit_bounds(account)
    assert (bounds.quota, bounds.max_allocatable) == (D("0.00"), D("0.00"))


@pytest.mark.django_db(transaction=True)
def test_two_accounts_racing_for_the_last_of_the_quota_get_it_once(
    company, make_account, operator, owner, grant
):
    """The quota row lock serializes limit changes of a company and currency:
    of two concurrent 600.00 requests against a 1000.00 quota, one wins."""
    first, second = make_account(name="First"), make_account(name="Second")
    grant(owner, first, "owner")
    grant(owner, second, "owner")
    set_quota(company, "1000.00", actor=operator)
    barrier = threading.Barrier(2, timeout=30)
    outcomes = {}

    def request(account):
        try:
            barrier.wait()
            outcomes[account.pk] = services.set_credit_limit(
                account=account, amount=D("600.00"), actor=owner
            )[0]
        except CreditControlRefused as exc:
            outcomes[account.pk] = [r.code for r in exc.reasons]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(map(str, outcomes.values())) == [
        "['exceeds_max_allocatable']",
        "pending_contract",
    ]
    assert Contract.objects.count() == 1
    assert selectors.get_company_allocation(company, "CNY")["allocated"] == D("600.00")


def test_a_limit_needs_a_verified_company(operator, owner, grant):
    from tests.factories import CompanyFactory

    initech = CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )
    account = AccountFactory(company=initech)
    grant(owner, account, "owner")
    set_quota(initech, "1000.00", actor=operator)

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(account, "10.00", actor=owner)

    assert codes(excinfo) == ["company_not_verified"]
    assert Contract.objects.count() == 0


# --- confirmation re-checks, and only an owner confirms --------------------------


def test_confirmation_rechecks_max_after_the_quota_was_lowered(acme, operator):
    main = acme.main
    _status, contract = set_limit(main, "800.00", actor=acme.manager)
    set_quota(acme.company, "799.99", actor=operator)

    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(contract, actor=acme.owner)

    assert codes(excinfo) == ["exceeds_max_allocatable"]
    contract.refresh_from_db()
    assert (contract.status, contract.confirmed_by, contract.confirmed_at) == (
        PENDING,
        None,
        None,
    )
    assert unchanged(main)
    assert sms_rows(main).count() == 0

    set_quota(acme.company, "800.00", actor=operator)
    confirm(contract, actor=acme.owner)
    assert unchanged(main, "800.00")
    assert sms_rows(main).count() == 1


def test_confirmation_rechecks_min_after_more_credit_was_used(acme, fund, charge):
    main = acme.main
    fund(main, "10.00")
    _status, contract = set_limit(main, "100.00", actor=acme.manager)
    charge(main, "110.01")  # credit in use 100.01 > the pending 100.00

    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(contract, actor=acme.owner)

    assert codes(excinfo) == ["below_min_allocatable"]
    contract.refresh_from_db()
    assert contract.status == PENDING
    assert unchanged(main)
    assert sms_rows(main).count() == 0


def test_confirmation_rechecks_the_disabled_conditions(acme, operator):
    _status, contract = set_limit(acme.main, "100.00", actor=acme.manager)
    partner_pays(acme.main, operator)

    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(contract, actor=acme.owner)

    assert codes(excinfo) == ["credit_control_disabled"]
    assert unchanged(acme.main)


@pytest.mark.parametrize("who", ["manager", "viewer", "operator", "outsider"])
def test_confirmation_by_a_non_owner_is_refused(acme, operator, who):
    _status, contract = set_limit(acme.main, "300.00", actor=acme.manager)
    actor = {
        "operator": operator,
        "outsider": UserFactory(username="outsider"),
    }.get(who) or getattr(acme, who)

    with pytest.raises(ActionForbidden) as excinfo:
        confirm(contract, actor=actor)

    assert codes(excinfo) == ["no_permission"]
    contract.refresh_from_db()
    assert (contract.status, contract.confirmed_by) == (PENDING, None)
    assert unchanged(acme.main)
    assert sms_rows(acme.main).count() == 0


# --- who may set a limit ------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_a_user_without_owner_or_manage_cannot_set_a_limit(acme, who):
    actor = UserFactory(username="outsider") if who == "outsider" else acme.viewer

    with pytest.raises(ActionForbidden) as excinfo:
        set_limit(acme.main, "10.00", actor=actor)

    assert codes(excinfo) == ["no_permission"]
    assert Contract.objects.count() == 0
    assert Notification.objects.count() == 0


def test_an_operator_sets_a_limit_recorded_as_the_operator(acme, operator):
    status, contract = set_limit(acme.main, "10.00", actor=operator)

    assert status == "pending_contract"
    assert contract.created_by == operator
    assert CreditLimitChange.objects.get(account=acme.main).actor == operator


def test_synchronize_finance_identity_gives_the_limit_to_the_management_account(
    acme, make_account, operator, grant
):
    hq = make_account(name="HQ")
    hq_manager = UserFactory(username="hq-manager")
    grant(acme.owner, hq, "owner")
    grant(hq_manager, hq, "manage")
    member = acme.main  # its own owner and manager lose the say on its limit
    services.set_management_account(company=acme.company, account=hq, actor=operator)
    relationship = services.invite_member(
        management_account=hq,
        member_account=member,
        type=FinancialRelationship.Type.FINANCIAL_MANAGEMENT,
        permissions=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
        actor=acme.owner,
    )
    # Main's co-owner does not administer HQ.
    services.confirm_relationship(relationship=relationship, actor=acme.co_owner)

    for actor in (acme.co_owner, acme.manager):
        with pytest.raises(ActionForbidden) as excinfo:
            set_limit(member, "10.00", actor=actor)
        assert codes(excinfo) == ["no_permission"]
    assert Contract.objects.count() == 0

    status, contract = set_limit(member, "10.00", actor=hq_manager)
    assert (status, contract.account) == ("pending_contract", member)
    services.withdraw_contract(contract=contract, actor=hq_manager)
    with pytest.raises(ActionForbidden):
        services.withdraw_contract(
            contract=set_limit(member, "20.00", actor=operator)[1],
            actor=acme.co_owner,
        )
    # The management account's owner confirms (SPEC §3.4), not the member's.
    with pytest.raises(ActionForbidden):
        confirm(selectors.get_pending_contract(member), actor=acme.co_owner)
    confirm(selectors.get_pending_contract(member), actor=acme.owner)
    assert unchanged(member, "20.00")

    services.terminate_relationship(relationship=relationship, actor=acme.owner)
    assert set_limit(member, "30.00", actor=acme.manager) == ("active", None)
    assert member.credit_limit == D("30.00")


def _synchronized_member(acme, make_account, operator, grant):
    """HQ manages Main under SYNCHRONIZE_FINANCE_IDENTITY; HQ has its own owner
    and mobile; Main keeps its owners, manager and mobile."""
    hq = make_account(name="HQ", mobile="+8613800138099")
    hq_owner = UserFactory(username="hq-owner")
    hq_manager = UserFactory(username="hq-manager")
    grant(hq_owner, hq, "owner")
    grant(hq_manager, hq, "manage")
    services.set_management_account(company=acme.company, account=hq, actor=operator)
    relationship = services.invite_member(
        management_account=hq,
        member_account=acme.main,
        type=FinancialRelationship.Type.FINANCIAL_MANAGEMENT,
        permissions=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
        actor=hq_owner,
    )
    services.confirm_relationship(relationship=relationship, actor=acme.owner)
    return hq, hq_owner, hq_manager, relationship


def test_under_synchronize_finance_identity_the_management_accounts_owners_confirm(
    acme, make_account, operator, grant
):
    """SPEC §3.4: the owners of the account holding the credit authority confirm
    and get the notice; the SMS still goes to the member's own mobile."""
    member = acme.main
    hq, hq_owner, hq_manager, _rel = _synchronized_member(
        acme, make_account, operator, grant
    )

    status, contract = set_limit(member, "300.00", actor=hq_manager)

    assert status == "pending_contract"
    assert selectors.get_contract_authority(member) == hq
    notices = portal_rows(member, "credit_contract_pending")
    assert [(n.user, n.to) for n in notices] == [(hq_owner, "hq-owner")]
    assert notices[0].params["account"] == member.uid
    # Neither the member's owners, nor HQ's manager, nor an operator confirm.
    for actor in (acme.owner, acme.co_owner, hq_manager, operator):
        assert not selectors.can_confirm_contract(actor, contract)
        with pytest.raises(ActionForbidden) as excinfo:
            confirm(contract, actor=actor)
        assert codes(excinfo) == ["no_permission"]
    contract.refresh_from_db()
    assert contract.status == PENDING
    assert unchanged(member)
    assert sms_rows(member).count() == sms_rows(hq).count() == 0

    assert selectors.can_confirm_contract(hq_owner, contract)
    confirm(contract, actor=hq_owner)

    contract.refresh_from_db()
    assert (contract.status, contract.confirmed_by) == (CONFIRMED, hq_owner)
    assert unchanged(member, "300.00")
    sms = list(sms_rows(member))
    assert [(s.to, s.template, s.params["limit"]) for s in sms] == [
        ("+8613800138001", "credit_limit_changed", "300.00")
    ]
    assert sms_rows(hq).count() == 0


def test_a_withdrawn_contract_notice_goes_to_the_management_accounts_owners(
    acme, make_account, operator, grant
):
    member = acme.main
    _hq, hq_owner, hq_manager, _rel = _synchronized_member(
        acme, make_account, operator, grant
    )
    _status, contract = set_limit(member, "300.00", actor=hq_manager)

    services.withdraw_contract(contract=contract, actor=hq_manager)

    withdrawn = portal_rows(member, "credit_contract_withdrawn")
    assert [n.user for n in withdrawn] == [hq_owner]


def test_without_synchronize_finance_identity_the_members_own_owners_confirm(
    acme, make_account, operator, grant
):
    """Once the relationship ends (or never carried the code) the authority is
    the account itself again: its owners confirm, HQ's owner does not."""
    member = acme.main
    _hq, hq_owner, _manager, relationship = _synchronized_member(
        acme, make_account, operator, grant
    )
    services.terminate_relationship(relationship=relationship, actor=hq_owner)

    _status, contract = set_limit(member, "300.00", actor=acme.manager)

    assert selectors.get_contract_authority(member) == member
    notices = portal_rows(member, "credit_contract_pending")
    assert sorted(n.to for n in notices) == ["co-owner", "owner"]
    assert not selectors.can_confirm_contract(hq_owner, contract)
    with pytest.raises(ActionForbidden):
        confirm(contract, actor=hq_owner)
    confirm(contract, actor=acme.co_owner)
    assert unchanged(member, "300.00")
    assert [s.to for s in sms_rows(member)] == ["+8613800138001"]


# --- the effect of a limit on money ---------------------------------------------------


def test_with_an_active_limit_charges_beyond_cash_are_not_overdue(acme, fund, charge):
    main = acme.main
    fund(main, "100.00")
    activate_limit(main, "500.00", admin=acme.owner, owner=acme.owner)

    charge(main, "550.00")

    assert (main.cash_balance, main.uncleared_amount, main.credit_limit) == (
        D("100.00"),
        D("550.00"),
        D("500.00"),
    )
    assert main.available_balance == D("50.00")
    assert not main.has_overdue
    assert not OverdueEpisode.objects.filter(account=main).exists()

    charge(main, "50.01")
    assert main.available_balance == D("-0.01")
    assert main.has_overdue
    assert OverdueEpisode.objects.filter(account=main, end__isnull=True).count() == 1


def test_own_cash_is_transferable_while_charges_stand_as_long_as_available_holds(
    acme, make_account, fund, charge, transfer, assert_ledger_clean
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "100.00")
    activate_limit(main, "500.00", admin=acme.owner, owner=acme.owner)
    charge(main, "300.00")

    info = selectors.get_transferable(main)
    assert (info.own_funds, info.available_balance, info.transferable_amount) == (
        D("100.00"),
        D("300.00"),
        D("100.00"),
    )

    transfer(main, dest, "100.00", actor=acme.manager)

    assert (main.cash_balance, main.uncleared_amount) == (D("0.00"), D("300.00"))
    assert main.available_balance == D("200.00")
    assert not main.has_overdue
    assert dest.transferred_in_balance == D("100.00")
    assert_ledger_clean()


def test_available_balance_binds_the_transferable_amount_under_a_limit(
    acme, make_account, fund, charge, transfer
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "100.00")
    activate_limit(main, "50.00", admin=acme.owner, owner=acme.owner)
    charge(main, "120.00")  # available = 100 + 50 - 120 = 30

    assert selectors.get_transferable(main).transferable_amount == D("30.00")
    with pytest.raises(TransferRefused) as excinfo:
        transfer(main, dest, "30.01", actor=acme.owner)
    assert codes(excinfo) == ["exceeds_transferable"]

    transfer(main, dest, "30.00", actor=acme.owner)
    assert main.available_balance == D("0.00")
    assert not main.has_overdue


def test_an_overdue_episode_closes_when_a_confirmed_limit_covers_it(acme, charge):
    main = acme.main
    charge(main, "80.00")
    episode = OverdueEpisode.objects.get(account=main)
    assert episode.end is None

    _status, contract = set_limit(main, "80.00", actor=acme.owner)
    episode.refresh_from_db()
    assert episode.end is None  # a pending limit is not in effect

    before = timezone.now()
    confirm(contract, actor=acme.owner)

    episode.refresh_from_db()
    main.refresh_from_db()
    assert main.available_balance == D("0.00")
    assert episode.end is not None
    assert before <= episode.end <= timezone.now()
    assert OverdueEpisode.objects.filter(account=main, end__isnull=True).count() == 0


def test_an_overdue_episode_closes_when_a_later_limit_change_covers_it(
    acme, fund, charge
):
    main = acme.main
    fund(main, "10.00")
    activate_limit(main, "100.00", admin=acme.owner, owner=acme.owner)
    charge(main, "115.00")  # available -5.00
    assert OverdueEpisode.objects.filter(account=main, end__isnull=True).exists()

    set_limit(main, "105.00", actor=acme.owner)

    assert main.available_balance == D("0.00")
    assert OverdueEpisode.objects.filter(account=main, end__isnull=True).count() == 0
    assert OverdueEpisode.objects.get(account=main).end is not None


# --- §3.5: disabled conditions at their thresholds ---------------------------------


def test_partner_pay_on_behalf_disables_transfer_and_credit_control(
    acme, make_account, fund, transfer, operator
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "100.00")
    partner_pays(main, operator)

    with pytest.raises(TransferRefused) as excinfo:
        transfer(main, dest, "10.00", actor=acme.owner)
    assert codes(excinfo) == ["self_service_disabled"]
    assert "Fast Partner Ltd" in excinfo.value.reasons[0].message

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "10.00", actor=acme.owner)
    assert codes(excinfo) == ["credit_control_disabled"]
    assert "Fast Partner Ltd" in excinfo.value.reasons[0].message

    info = selectors.get_transferable(main)
    assert info.transferable_amount == D("0.00")
    assert [r.code for r in info.reasons] == ["self_service_disabled"]
    state = selectors.get_disabled_state(main)
    assert state.disabled
    assert [c["code"] for c in state.conditions] == ["partner_pay_on_behalf"]
    assert main.cash_balance == D("100.00")
    assert Contract.objects.count() == 0


def test_a_self_pay_partner_disables_nothing(
    acme, make_account, fund, transfer, operator
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "100.00")
    services.update_account(
        account=main,
        actor=operator,
        partner_name="Slow Partner",
        partner_mode=Account.PartnerMode.SELF_PAY,
    )
    main.refresh_from_db()

    transfer(main, dest, "10.00", actor=acme.owner)
    assert set_limit(main, "10.00", actor=acme.owner)[0] == "pending_contract"


THRESHOLD_CASES = [
    # currency, uncleared, episode length, ended before now, disabled
    ("CNY", "500.00", timedelta(days=31), timedelta(days=10), True),
    ("CNY", "499.99", timedelta(days=31), timedelta(days=10), False),
    ("CNY", "500.00", timedelta(days=30), timedelta(days=10), False),
    ("CNY", "500.00", timedelta(days=30) + MICRO, timedelta(days=1), True),
    ("CNY", "500.00", timedelta(days=40), timedelta(days=366), False),
    ("CNY", "500.00", timedelta(days=40), timedelta(days=364), True),
    ("USD", "80.00", timedelta(days=31), timedelta(days=10), True),
    ("USD", "79.99", timedelta(days=31), timedelta(days=10), False),
    ("CNY", "80.00", timedelta(days=31), timedelta(days=10), False),
]
THRESHOLD_IDS = [
    "exactly-the-threshold",
    "one-cent-below",
    "exactly-N-days-is-not-longer",
    "N-days-and-a-microsecond",
    "ended-366-days-ago",
    "ended-364-days-ago",
    "usd-threshold",
    "usd-one-cent-below",
    "the-usd-threshold-means-nothing-in-cny",
]


@pytest.mark.parametrize(
    ("currency", "uncleared", "length", "ended_before", "disabled"),
    THRESHOLD_CASES,
    ids=THRESHOLD_IDS,
)
def test_receivables_and_a_long_overdue_episode_at_their_thresholds(
    thresholds,
    make_account,
    fund,
    charge,
    currency,
    uncleared,
    length,
    ended_before,
    disabled,
):
    account = make_account(currency=currency)
    fund(account, "5000.00")
    charge(account, uncleared)  # cash and uncleared coexist until settlement
    now = timezone.now()
    past_episode(account, ended_before=ended_before, length=length, at=now)

    state = selectors.get_disabled_state(account, at=now)

    assert state.disabled is disabled
    assert [c["code"] for c in state.conditions] == (
        ["receivables_and_long_overdue"] if disabled else []
    )


def test_receivables_disable_transfer_and_credit_control_with_the_numbers(
    thresholds, acme, make_account, fund, charge, transfer
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "2000.00")
    charge(main, "500.00")
    past_episode(main, ended_before=timedelta(days=60), length=timedelta(days=45))

    with pytest.raises(TransferRefused) as excinfo:
        transfer(main, dest, "10.00", actor=acme.owner)
    assert codes(excinfo) == ["self_service_disabled"]
    message = excinfo.value.reasons[0].message
    assert "500.00 CNY" in message
    assert "45 days" in message
    assert "30" in message

    with pytest.raises(CreditControlRefused) as excinfo:
        set_limit(main, "10.00", actor=acme.owner)
    assert codes(excinfo) == ["credit_control_disabled"]
    assert main.cash_balance == D("2000.00")
    assert Contract.objects.count() == 0


def test_below_the_receivables_threshold_transfer_and_limits_are_allowed(
    thresholds, acme, make_account, fund, charge, transfer
):
    main, dest = acme.main, make_account(name="Dest")
    fund(main, "2000.00")
    charge(main, "499.99")
    past_episode(main, ended_before=timedelta(days=60), length=timedelta(days=45))

    transfer(main, dest, "10.00", actor=acme.owner)
    assert main.cash_balance == D("1990.00")
    assert set_limit(main, "10.00", actor=acme.owner)[0] == "pending_contract"


@pytest.mark.parametrize(
    ("started_days_ago", "disabled"), [(31, True), (29, False)], ids=["31d", "29d"]
)
def test_an_ongoing_overdue_episode_counts_once_long_enough(
    thresholds, make_account, charge, started_days_ago, disabled
):
    account = make_account()
    charge(account, "600.00")  # no cash: overdue from now on
    # Backdate the episode the ledger opened: history, not money.
    OverdueEpisode.objects.filter(account=account, end__isnull=True).update(
        start=timezone.now() - timedelta(days=started_days_ago)
    )

    state = selectors.get_disabled_state(account)

    assert state.disabled is disabled


# --- §3.5: the access-request cycle -------------------------------------------------


@pytest.fixture
def blocked(acme, make_account, fund, operator):
    """Main is disabled by its pay-on-behalf partner; Acme's CBM is ``cbm``."""
    cbm = make_cbm("cbm")
    services.set_business_manager(company=acme.company, user=cbm, actor=operator)
    fund(acme.main, "100.00")
    partner_pays(acme.main, operator)
    acme.company.refresh_from_db()
    return {"cbm": cbm, "dest": make_account(name="Dest")}


def test_request_access_is_refused_when_nothing_is_disabled(acme, operator):
    services.set_business_manager(
        company=acme.company, user=make_cbm("cbm"), actor=operator
    )

    with pytest.raises(AccessRequestRefused) as excinfo:
        services.request_access(account=acme.main, actor=acme.owner)

    assert codes(excinfo) == ["not_disabled"]
    assert AccessRequest.objects.count() == 0


def test_request_access_is_refused_without_a_business_manager(acme, operator):
    partner_pays(acme.main, operator)

    with pytest.raises(AccessRequestRefused) as excinfo:
        services.request_access(account=acme.main, actor=acme.owner)

    assert codes(excinfo) == ["no_business_manager"]
    assert "business manager" in excinfo.value.reasons[0].message
    assert AccessRequest.objects.count() == 0


def test_a_viewer_cannot_request_access(acme, blocked):
    with pytest.raises(ActionForbidden) as excinfo:
        services.request_access(account=acme.main, actor=acme.viewer)
    assert codes(excinfo) == ["no_permission"]


def test_access_request_cycle_grant_lifts_both_blocks_until_revoked(
    acme, blocked, transfer, operator
):
    main, cbm, dest = acme.main, blocked["cbm"], blocked["dest"]

    request = services.request_access(
        account=main, actor=acme.manager, message="We pay our own bills now."
    )

    assert (request.status, request.business_manager, request.requested_by) == (
        AccessRequest.Status.REQUESTED,
        cbm,
        acme.manager,
    )
    assert request.message == "We pay our own bills now."
    assert [c["code"] for c in request.conditions] == ["partner_pay_on_behalf"]
    notice = portal_rows(main, "access_requested").get()
    assert (notice.user, notice.to) == (cbm, "cbm")
    # One open request at a time.
    with pytest.raises(AccessRequestRefused) as excinfo:
        services.request_access(account=main, actor=acme.owner)
    assert codes(excinfo) == ["invalid_state"]

    # Another CBM and a customer cannot grant.
    for outsider in (make_cbm("other-cbm"), acme.owner):
        with pytest.raises(ActionForbidden):
            services.grant_access_request(request=request, actor=outsider)
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.REQUESTED

    exception = services.grant_access_request(request=request, actor=cbm)

    request.refresh_from_db()
    assert request.status == AccessRequest.Status.GRANTED
    assert request.decided_by == cbm
    assert (exception.account, exception.granted_by, exception.end) == (
        main,
        cbm,
        None,
    )
    assert exception.start == request.decided_at
    assert sorted(n.to for n in portal_rows(main, "access_granted")) == [
        "co-owner",
        "owner",
    ]
    state = selectors.get_disabled_state(main)
    assert not state.disabled
    assert state.exception == exception
    assert [c["code"] for c in state.conditions] == ["partner_pay_on_behalf"]
    transfer(main, dest, "10.00", actor=acme.owner)
    assert main.cash_balance == D("90.00")
    assert set_limit(main, "10.00", actor=acme.owner)[0] == "pending_contract"

    services.revoke_access_exception(exception=exception, actor=cbm)

    exception.refresh_from_db()
    assert exception.end is not None
    assert exception.revoked_by == cbm
    with pytest.raises(TransferRefused) as excinfo:
        transfer(main, dest, "10.00", actor=acme.owner)
    assert codes(excinfo) == ["self_service_disabled"]
    with pytest.raises(CreditControlRefused) as excinfo:
        confirm(selectors.get_pending_contract(main), actor=acme.owner)
    assert codes(excinfo) == ["credit_control_disabled"]
    with pytest.raises(AccessRequestRefused) as excinfo:
        services.revoke_access_exception(exception=exception, actor=operator)
    assert codes(excinfo) == ["invalid_state"]

    # A new request may follow, and be granted again.
    again = services.request_access(account=main, actor=acme.owner)
    second = services.grant_access_request(request=again, actor=cbm)
    assert AccessException.objects.filter(account=main).count() == 2
    assert second.end is None


def test_an_operator_revokes_an_exception_and_a_customer_cannot(
    acme, blocked, operator
):
    main, cbm = acme.main, blocked["cbm"]
    request = services.request_access(account=main, actor=acme.owner)
    exception = services.grant_access_request(request=request, actor=cbm)

    with pytest.raises(ActionForbidden):
        services.revoke_access_exception(exception=exception, actor=acme.owner)
    exception.refresh_from_db()
    assert exception.end is None

    services.revoke_access_exception(exception=exception, actor=operator)

    exception.refresh_from_db()
    assert exception.revoked_by == operator
    assert exception.end is not None
    assert selectors.get_disabled_state(main).disabled


def test_a_declined_request_keeps_the_blocks(acme, blocked, transfer):
    main, cbm = acme.main, blocked["cbm"]
    request = services.request_access(account=main, actor=acme.owner)

    with pytest.raises(ActionForbidden):
        services.decline_access_request(request=request, actor=acme.owner)
    declined = services.decline_access_request(request=request, actor=cbm)

    assert declined.status == AccessRequest.Status.DECLINED
    assert declined.decided_by == cbm
    assert declined.decided_at is not None
    assert not AccessException.objects.exists()
    assert sorted(n.to for n in portal_rows(main, "access_declined")) == [
        "co-owner",
        "owner",
    ]
    with pytest.raises(TransferRefused) as excinfo:
        transfer(main, blocked["dest"], "1.00", actor=acme.owner)
    assert codes(excinfo) == ["self_service_disabled"]
    with pytest.raises(AccessRequestRefused) as excinfo:
        services.grant_access_request(request=declined, actor=cbm)
    assert codes(excinfo) == ["invalid_state"]
    # After a decline the account may ask again.
    assert services.request_access(account=main, actor=acme.owner).pk != (request.pk)
