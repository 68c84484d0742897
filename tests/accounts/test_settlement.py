"""Settlement (SPEC §3.1): what triggers it, what it pays and from which funds,
the allocations it records, settle_all and its command, and overdue episodes."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from accounts import services
from accounts.models import Charge, Movement, OverdueEpisode, SettlementAllocation


def D(value) -> Decimal:
    return Decimal(value)


def settlements(account=None):
    qs = Movement.objects.filter(kind=Movement.Kind.SETTLEMENT)
    return qs if account is None else qs.filter(account=account)


def allocations(movement) -> list[tuple]:
    return [
        (a.charge_id, a.from_transferred_in, a.from_own)
        for a in movement.allocations.order_by("id")
    ]


def outstanding(charge_row) -> Decimal:
    charge_row.refresh_from_db()
    return charge_row.outstanding


def bill(account, amount, at, actor):
    return services.charge_usage(
        usage_account=account, amount=D(amount), effective_at=at, actor=actor
    )


# --- what triggers settlement -----------------------------------------------------


def test_top_up_settles_what_is_owed(make_account, fund, charge, assert_ledger_clean):
    a = make_account()
    c = charge(a, "30.00")
    assert (a.cash_balance, a.uncleared_amount) == (D("0.00"), D("30.00"))

    fund(a, "100.00")

    assert (a.cash_balance, a.own_cash, a.uncleared_amount) == (
        D("70.00"),
        D("70.00"),
        D("0.00"),
    )
    [movement] = settlements(a)
    assert movement.amount == D("30.00")
    assert movement.currency == "CNY"
    assert allocations(movement) == [(c.pk, D("0.00"), D("30.00"))]
    assert outstanding(c) == D("0.00")
    assert_ledger_clean()


def test_charges_alone_do_not_settle(make_account, fund, charge, assert_ledger_clean):
    a = make_account()
    fund(a, "100.00")

    charge(a, "30.00")
    charge(a, "20.00")

    a.refresh_from_db()
    assert (a.cash_balance, a.uncleared_amount, a.available_balance) == (
        D("100.00"),
        D("50.00"),
        D("50.00"),
    )
    assert not settlements().exists()
    assert_ledger_clean()


def test_incoming_transfer_does_not_settle(
    make_account, fund, charge, transfer, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(d, "20.00")

    transfer(s, d, "50.00")

    assert (d.cash_balance, d.transferred_in_balance, d.uncleared_amount) == (
        D("50.00"),
        D("50.00"),
        D("20.00"),
    )
    assert not settlements().exists()
    assert_ledger_clean()


def test_revocation_does_not_settle_the_source(
    make_account, fund, charge, transfer, revoke, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "100.00")
    charge(s, "10.00")  # s has no cash now: overdue by 10

    revoke(s, d, "40.00")

    assert (s.cash_balance, s.uncleared_amount) == (D("40.00"), D("10.00"))
    assert not settlements().exists()
    assert_ledger_clean()


def test_settle_pays_oldest_usage_first_and_transferred_in_before_own(
    make_account, fund, transfer, operator, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    fund(d, "30.00")
    transfer(s, d, "40.00")
    now = timezone.now()
    # Created newest first, so primary-key order is the opposite of usage order.
    newest = bill(d, "25.00", now - timedelta(hours=1), operator)
    oldest = bill(d, "20.00", now - timedelta(hours=5), operator)
    middle = bill(d, "30.00", now - timedelta(hours=3), operator)
    d.refresh_from_db()
    assert (d.cash_balance, d.uncleared_amount) == (D("70.00"), D("75.00"))

    movement = services.settle_account(account=d, actor=operator)

    assert movement.kind == Movement.Kind.SETTLEMENT
    assert movement.amount == D("70.00")
    assert movement.actor == operator
    assert allocations(movement) == [
        (oldest.pk, D("20.00"), D("0.00")),
        (middle.pk, D("20.00"), D("10.00")),
        (newest.pk, D("0.00"), D("20.00")),
    ]
    assert [outstanding(c) for c in (oldest, middle, newest)] == [
        D("0.00"),
        D("0.00"),
        D("5.00"),
    ]
    d.refresh_from_db()
    assert (d.own_cash, d.transferred_in_balance, d.uncleared_amount) == (
        D("0.00"),
        D("0.00"),
        D("5.00"),
    )
    legs = {p.book: (p.amount, p.balance_after) for p in movement.postings.all()}
    assert legs == {
        "transferred_in": (D("40.00"), D("0.00")),
        "own_cash": (D("30.00"), D("0.00")),
        "uncleared": (D("-70.00"), D("5.00")),
    }
    assert_ledger_clean()


def test_equal_usage_start_is_paid_in_id_order(make_account, fund, operator):
    a = make_account()
    at = timezone.now() - timedelta(hours=2)
    first = bill(a, "10.00", at, operator)
    second = bill(a, "10.00", at, operator)

    fund(a, "15.00")

    [movement] = settlements(a)
    assert allocations(movement) == [
        (first.pk, D("0.00"), D("10.00")),
        (second.pk, D("0.00"), D("5.00")),
    ]
    assert (outstanding(first), outstanding(second)) == (D("0.00"), D("5.00"))


def test_partial_settlement_then_a_later_top_up_pays_the_rest(
    make_account, fund, charge, transfer, assert_ledger_clean
):
    s, a = make_account(), make_account()
    fund(s, "100.00")
    older = charge(a, "60.00", hours_ago=5)
    newer = charge(a, "50.00", hours_ago=1)
    transfer(s, a, "40.00")

    movement = services.settle_account(account=a)

    a.refresh_from_db()
    assert movement.amount == D("40.00")
    assert allocations(movement) == [(older.pk, D("40.00"), D("0.00"))]
    assert (a.cash_balance, a.uncleared_amount) == (D("0.00"), D("70.00"))
    assert (outstanding(older), outstanding(newer)) == (D("20.00"), D("50.00"))

    fund(a, "100.00")

    second = settlements(a).order_by("-id").first()
    assert second.amount == D("70.00")
    assert allocations(second) == [
        (older.pk, D("0.00"), D("20.00")),
        (newer.pk, D("0.00"), D("50.00")),
    ]
    assert (a.cash_balance, a.uncleared_amount) == (D("30.00"), D("0.00"))
    assert (outstanding(older), outstanding(newer)) == (D("0.00"), D("0.00"))
    paid = {c.pk: sum(x.amount for x in c.allocations.all()) for c in (older, newer)}
    assert paid == {older.pk: D("60.00"), newer.pk: D("50.00")}
    assert_ledger_clean()


def test_settle_with_nothing_to_pay_writes_nothing(
    make_account, fund, charge, ledger_snapshot
):
    rich, poor, idle = make_account(), make_account(), make_account()
    fund(rich, "10.00")
    charge(poor, "10.00")
    before = ledger_snapshot()

    assert services.settle_account(account=rich) is None
    assert services.settle_account(account=poor) is None
    assert services.settle_account(account=idle) is None

    assert ledger_snapshot() == before


def test_settle_records_one_allocation_per_charge_paid(
    make_account, fund, charge, transfer, assert_ledger_clean
):
    s, a = make_account(), make_account()
    fund(s, "100.00")
    fund(a, "5.00")
    transfer(s, a, "12.34")
    c1 = charge(a, "10.00", hours_ago=3)
    c2 = charge(a, "7.34", hours_ago=2)

    movement = services.settle_account(account=a)

    assert allocations(movement) == [
        (c1.pk, D("10.00"), D("0.00")),
        (c2.pk, D("2.34"), D("5.00")),
    ]
    assert SettlementAllocation.objects.filter(movement=movement).count() == 2
    rows = {a.charge_id: a.amount for a in movement.allocations.all()}
    assert rows == {c1.pk: D("10.00"), c2.pk: D("7.34")}
    a.refresh_from_db()
    assert a.cash_balance == a.uncleared_amount == D("0.00")
    assert_ledger_clean()


# --- settle_all and its command ----------------------------------------------------


def test_settle_all_settles_accounts_with_cash_and_uncleared(
    make_account, fund, charge, assert_ledger_clean
):
    both1, owes, idle, both2 = (make_account() for _ in range(4))
    fund(both1, "50.00")
    charge(both1, "20.00")
    charge(owes, "30.00")
    fund(idle, "10.00")
    fund(both2, "5.00")
    charge(both2, "8.00")

    assert services.settle_all() == 2

    for account in (both1, owes, idle, both2):
        account.refresh_from_db()
    assert (both1.cash_balance, both1.uncleared_amount) == (D("30.00"), D("0.00"))
    assert (owes.cash_balance, owes.uncleared_amount) == (D("0.00"), D("30.00"))
    assert (idle.cash_balance, idle.uncleared_amount) == (D("10.00"), D("0.00"))
    assert (both2.cash_balance, both2.uncleared_amount) == (D("0.00"), D("3.00"))
    assert set(settlements().values_list("account", flat=True)) == {
        both1.pk,
        both2.pk,
    }
    assert services.settle_all() == 0
    assert settlements().count() == 2
    assert_ledger_clean()


def test_settle_accounts_command(make_account, fund, charge, assert_ledger_clean):
    a, b = make_account(), make_account()
    fund(a, "40.00")
    charge(a, "15.50")
    charge(b, "1.00")
    out = StringIO()

    call_command("settle_accounts", stdout=out)

    assert out.getvalue().strip() == "Settled 1 account(s)."
    a.refresh_from_db()
    assert (a.cash_balance, a.uncleared_amount) == (D("24.50"), D("0.00"))
    [movement] = settlements(a)
    assert movement.amount == D("15.50")
    assert movement.actor is None

    out = StringIO()
    call_command("settle_accounts", stdout=out)
    assert out.getvalue().strip() == "Settled 0 account(s)."
    assert_ledger_clean()


# --- overdue episodes ----------------------------------------------------------------


def test_overdue_episode_opens_and_closes_with_the_available_balance(
    make_account, fund, charge, assert_ledger_clean
):
    a = make_account()
    fund(a, "100.00")
    assert not OverdueEpisode.objects.exists()

    charge(a, "150.00")

    [episode] = OverdueEpisode.objects.filter(account=a)
    assert episode.end is None
    assert a.has_overdue
    assert a.available_balance == D("-50.00")

    fund(a, "30.00")  # still short by 20: the same episode stays open
    assert a.available_balance == D("-20.00")
    assert (a.cash_balance, a.uncleared_amount) == (D("0.00"), D("20.00"))
    assert list(OverdueEpisode.objects.filter(account=a)) == [episode]
    episode.refresh_from_db()
    assert episode.end is None

    fund(a, "20.00")  # available exactly 0 is not overdue

    episode.refresh_from_db()
    assert a.available_balance == D("0.00")
    assert not a.has_overdue
    assert episode.end is not None
    assert episode.end >= episode.start
    assert not OverdueEpisode.objects.open().filter(account=a).exists()

    charge(a, "0.01")

    assert OverdueEpisode.objects.filter(account=a).count() == 2
    reopened = OverdueEpisode.objects.open().get(account=a)
    assert reopened.start >= episode.end
    assert_ledger_clean()


def test_no_episode_while_available_stays_at_or_above_zero(make_account, fund, charge):
    a = make_account()
    fund(a, "100.00")
    charge(a, "100.00")

    assert a.available_balance == D("0.00")
    assert not OverdueEpisode.objects.exists()


def test_incoming_transfer_closes_the_overdue_episode(
    make_account, fund, charge, transfer
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(d, "20.00")
    episode = OverdueEpisode.objects.open().get(account=d)

    transfer(s, d, "20.00")

    episode.refresh_from_db()
    assert episode.end is not None
    assert d.uncleared_amount == D("20.00")  # closed without settling


def test_overdue_episode_is_active_over_its_period(make_account, fund, charge):
    a = make_account()
    charge(a, "10.00")
    episode = OverdueEpisode.objects.get(account=a)
    opened = episode.start

    fund(a, "10.00")

    episode.refresh_from_db()
    assert episode.is_active_at(opened)
    assert not episode.is_active_at(episode.end)
    assert list(OverdueEpisode.objects.active_at(opened)) == [episode]
    assert not OverdueEpisode.objects.active_at(episode.end).exists()
    assert Charge.objects.get(payer_account=a).outstanding == D("0.00")
