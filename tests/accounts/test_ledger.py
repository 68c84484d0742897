"""The fund ledger (SPEC §3.1, §9): balanced legs, balance-after, append-only rows
at every level, check_ledger, reversal, rollback and the posting guards."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import ledger, services
from accounts.ledger import LedgerError, decrease, increase, lock_accounts, post
from accounts.models import (
    Account,
    Charge,
    Movement,
    OverdueEpisode,
    Posting,
    SettlementAllocation,
    TransferPair,
)
from coupons.services import approve_pool, issue_coupons, request_pool, revoke_coupon
from sharing.services import provision_asset
from tests.credit_helpers import make_cbm


def D(value) -> Decimal:
    return Decimal(value)


@pytest.fixture
def busy_ledger(make_account, fund, charge, transfer, revoke, operator):
    """One movement of every kind, across three accounts."""
    s, d, e = make_account(), make_account(), make_account()
    fund(s, "300.00")
    transfer(s, d, "120.00")
    charge(d, "50.00")
    fund(d, "10.00")  # settles the charge: transferred-in first
    revoke(s, d, "30.00")
    top_up = services.top_up(account=e, amount=D("5.00"), actor=operator)
    ledger.reverse(top_up, actor=operator)
    charge(e, "1.00")
    now = timezone.now()
    provision_asset(
        type="scu_package",
        owner=e,
        valid_from=now,
        valid_until=now + timedelta(days=30),
        capacity=D("40.00"),
        actor=operator,
    )
    # A coupon credit pool: approved, one coupon issued, then revoked.
    company = e.company
    services.set_management_account(company=company, account=e, actor=operator)
    company.business_manager = make_cbm("cbm-busy")
    company.save(update_fields=["business_manager"])
    pool = approve_pool(
        pool=request_pool(
            company=company,
            distribution_target="enterprise_management_account",
            management_account=e,
            products=[],
            bill_types=["subscription"],
            valid_from=now,
            valid_until=now + timedelta(days=30),
            amount=D("10.00"),
            actor=company.business_manager,
        ),
        actor=operator,
    )
    (coupon,) = issue_coupons(
        pool=pool, accounts=[e], count=1, face_value=D("4.00"), actor=operator
    )
    revoke_coupon(coupon=coupon, actor=operator)
    return s, d, e


# --- balanced legs and balance-after ---------------------------------------------


def test_every_movement_has_balanced_legs_in_one_currency(busy_ledger):
    kinds = set(Movement.objects.values_list("kind", flat=True))
    assert kinds == set(Movement.Kind.values)

    for movement in Movement.objects.prefetch_related("postings"):
        legs = list(movement.postings.all())
        assert len(legs) >= 2, movement
        assert sum(p.amount for p in legs) == D("0.00"), movement
        assert {p.currency for p in legs} == {movement.currency}
        assert all(p.amount != 0 for p in legs)


def test_top_up_legs(make_account, fund):
    a = make_account()
    fund(a, "100.00")

    movement = Movement.objects.get(kind=Movement.Kind.TOP_UP)
    legs = sorted(
        (p.holder_type, p.holder_id, p.book, p.amount, p.balance_after)
        for p in movement.postings.all()
    )
    # Debit positive: own cash is a credit-normal book of the account.
    assert legs == [
        ("account", a.pk, "own_cash", D("-100.00"), D("100.00")),
        ("provider", 0, "funding", D("100.00"), None),
    ]


def test_transfer_and_revocation_legs(make_account, fund, transfer, revoke):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    t = transfer(s, d, "40.00")
    r = revoke(s, d, "15.00")
    pair = TransferPair.objects.get(source=s, destination=d)

    def legs(movement):
        return sorted(
            (p.holder_type, p.holder_id, p.book, p.amount, p.balance_after)
            for p in movement.postings.all()
        )

    assert legs(t) == sorted(
        [
            ("account", s.pk, "own_cash", D("40.00"), D("60.00")),
            ("account", d.pk, "transferred_in", D("-40.00"), D("40.00")),
            ("pair", pair.pk, "remaining_revocable", D("-40.00"), D("40.00")),
            ("provider", 0, "revocable_control", D("40.00"), None),
        ]
    )
    assert legs(r) == sorted(
        [
            ("account", s.pk, "own_cash", D("-15.00"), D("75.00")),
            ("account", d.pk, "transferred_in", D("15.00"), D("25.00")),
            ("pair", pair.pk, "remaining_revocable", D("15.00"), D("25.00")),
            ("provider", 0, "revocable_control", D("-15.00"), None),
        ]
    )


def test_balance_after_runs_with_the_book_and_ends_at_the_cached_balance(
    busy_ledger,
):
    running = {}
    for p in Posting.objects.exclude(holder_type="provider").order_by("id"):
        normal = ledger.get_book(p.holder_type, p.book).normal
        key = (p.holder_type, p.holder_id, p.book)
        running[key] = running.get(key, D("0.00")) + p.amount * normal
        assert p.balance_after == running[key], p

    for account in Account.objects.all():
        for book, field in [
            ("own_cash", "own_cash"),
            ("transferred_in", "transferred_in_balance"),
            ("uncleared", "uncleared_amount"),
        ]:
            assert running.get(("account", account.pk, book), D("0.00")) == getattr(
                account, field
            )
            last = (
                Posting.objects.filter(
                    holder_type="account", holder_id=account.pk, book=book
                )
                .order_by("-id")
                .first()
            )
            if last is not None:
                assert last.balance_after == getattr(account, field)
    for pair in TransferPair.objects.all():
        assert running[("pair", pair.pk, "remaining_revocable")] == (
            pair.remaining_revocable
        )


def test_provider_legs_carry_no_balance_after(busy_ledger):
    provider = Posting.objects.filter(holder_type="provider")
    assert provider.exists()
    assert set(provider.values_list("balance_after", flat=True)) == {None}
    assert set(provider.values_list("holder_id", flat=True)) == {0}
    assert not Posting.objects.exclude(holder_type="provider").filter(
        balance_after__isnull=True
    )


def test_book_balance_sums_the_legs(busy_ledger):
    _s, d, e = busy_ledger
    d.refresh_from_db()
    assert ledger.book_balance("account", d.pk, "own_cash") == d.own_cash
    assert ledger.book_balance("account", d.pk, "transferred_in") == D("40.00")
    assert ledger.book_balance("account", e.pk, "uncleared") == D("1.00")
    assert ledger.book_balance("account", e.pk, "own_cash") == D("0.00")


# --- append-only, at every level ---------------------------------------------------


LEDGER_MODELS = [Movement, Posting, SettlementAllocation]


@pytest.mark.parametrize("model", LEDGER_MODELS)
def test_ledger_rows_refuse_save_and_delete(busy_ledger, model):
    row = model.objects.order_by("pk").first()
    assert row is not None

    with pytest.raises(TypeError, match="immutable"):
        row.save()
    with pytest.raises(TypeError, match="immutable"):
        row.delete()


@pytest.mark.parametrize("model", LEDGER_MODELS)
def test_ledger_querysets_refuse_update_and_delete(busy_ledger, model):
    count = model.objects.count()
    pk = model.objects.order_by("pk").first().pk

    with pytest.raises(TypeError, match="immutable"):
        model.objects.filter(pk=pk).update(pk=pk)
    with pytest.raises(TypeError, match="immutable"):
        model.objects.filter(pk=pk).delete()
    with pytest.raises(TypeError, match="immutable"):
        model.objects.all().delete()

    assert model.objects.count() == count


def test_movement_memo_cannot_be_edited(busy_ledger):
    movement = Movement.objects.order_by("pk").first()
    movement.memo = "edited"

    with pytest.raises(TypeError):
        movement.save(update_fields=["memo"])

    assert Movement.objects.get(pk=movement.pk).memo == ""


@pytest.mark.parametrize(
    ("model", "column"),
    [
        (Movement, "amount"),
        (Posting, "amount"),
        (SettlementAllocation, "from_own"),
    ],
)
def test_database_refuses_raw_update_and_delete(busy_ledger, model, column):
    table = model._meta.db_table
    row = model.objects.order_by("pk").first()
    before = model.objects.filter(pk=row.pk).values_list(column, flat=True)[0]

    refused = pytest.raises(IntegrityError, match="ledger rows are immutable")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + 1 WHERE id = %s", [row.pk]
        )
    refused = pytest.raises(IntegrityError, match="ledger rows are immutable")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row.pk])

    assert model.objects.filter(pk=row.pk).values_list(column, flat=True)[0] == before


# --- check_ledger -------------------------------------------------------------------


def test_check_ledger_passes_on_a_good_ledger(busy_ledger):
    out, err = StringIO(), StringIO()

    call_command("check_ledger", stdout=out, stderr=err)

    assert "Ledger consistent" in out.getvalue()
    assert err.getvalue() == ""


def test_check_ledger_passes_on_an_empty_ledger(db):
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger consistent" in out.getvalue()


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("own_cash", "own_cash: cached 999.99"),
        ("transferred_in_balance", "transferred_in: cached 999.99"),
        ("uncleared_amount", "uncleared: cached 999.99"),
    ],
)
def test_check_ledger_fails_on_a_tampered_account_balance(busy_ledger, field, expected):
    _s, d, _e = busy_ledger
    Account.objects.filter(pk=d.pk).update(**{field: D("999.99")})
    err = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger", stdout=StringIO(), stderr=err)

    assert excinfo.value.returncode == 1
    assert f"account {d.pk} {expected}" in err.getvalue()
    assert "ledger discrepancies" in str(excinfo.value)


def test_check_ledger_fails_on_a_tampered_pair(busy_ledger):
    pair = TransferPair.objects.get()
    TransferPair.objects.filter(pk=pair.pk).update(remaining_revocable=D("1.00"))
    err = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger", stdout=StringIO(), stderr=err)

    assert excinfo.value.returncode == 1
    assert (
        f"pair {pair.pk} remaining_revocable: cached 1.00, legs sum to 90.00"
        in err.getvalue()
    )


def test_check_ledger_fails_on_a_tampered_charge(busy_ledger):
    _s, _d, e = busy_ledger
    c = Charge.objects.get(payer_account=e)
    Charge.objects.filter(pk=c.pk).update(outstanding=D("0.50"))
    err = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger", stdout=StringIO(), stderr=err)

    assert excinfo.value.returncode == 1
    assert f"charge {c.pk}: outstanding 0.50" in err.getvalue()


def test_find_discrepancies_sees_a_tampered_balance(busy_ledger, assert_ledger_clean):
    s, _d, _e = busy_ledger
    assert_ledger_clean()

    Account.objects.filter(pk=s.pk).update(own_cash=D("0.01"))

    problems = ledger.find_discrepancies()
    assert f"account {s.pk} own_cash: cached 0.01, legs sum to 210.00" in problems


# --- reversal -------------------------------------------------------------------------


def test_reverse_a_top_up_restores_the_balance(
    make_account, fund, operator, assert_ledger_clean
):
    a = make_account()
    fund(a, "40.00")
    top_up = services.top_up(account=a, amount=D("60.25"), actor=operator)
    a.refresh_from_db()
    assert a.own_cash == D("100.25")

    reversal = ledger.reverse(top_up, actor=operator, memo="Entered twice")

    a.refresh_from_db()
    assert a.own_cash == a.cash_balance == D("40.00")
    assert reversal.kind == Movement.Kind.REVERSAL
    assert reversal.reverses == top_up
    assert reversal.amount == D("60.25")
    assert reversal.account_id == a.pk
    assert reversal.effective_at == top_up.effective_at
    assert reversal.memo == "Entered twice"
    assert top_up.reversed_by == reversal
    original = sorted(
        (p.holder_type, p.holder_id, p.book, p.amount) for p in top_up.postings.all()
    )
    opposite = sorted(
        (p.holder_type, p.holder_id, p.book, -p.amount) for p in reversal.postings.all()
    )
    assert original == opposite
    # The top-up itself is still there, unchanged.
    assert Movement.objects.get(pk=top_up.pk).amount == D("60.25")
    assert_ledger_clean()


def test_reverse_has_a_default_memo(make_account, operator):
    a = make_account()
    top_up = services.top_up(account=a, amount=D("1.00"), actor=operator)

    reversal = ledger.reverse(top_up)

    assert reversal.memo == f"Reversal of movement {top_up.pk}"


def test_a_top_up_cannot_be_reversed_twice(make_account, operator, ledger_snapshot):
    a = make_account()
    top_up = services.top_up(account=a, amount=D("10.00"), actor=operator)
    ledger.reverse(top_up)
    before = ledger_snapshot()

    with pytest.raises(IntegrityError), transaction.atomic():
        ledger.reverse(top_up)

    assert ledger_snapshot() == before


@pytest.mark.parametrize(
    "kind",
    [
        Movement.Kind.USAGE_CHARGE,
        Movement.Kind.SETTLEMENT,
        Movement.Kind.TRANSFER,
        Movement.Kind.REVOCATION,
        Movement.Kind.REVERSAL,
    ],
)
def test_reverse_is_refused_for_other_kinds(busy_ledger, ledger_snapshot, kind):
    movement = Movement.objects.filter(kind=kind).first()
    before = ledger_snapshot()

    with pytest.raises(LedgerError, match="corrected by their own service"):
        ledger.reverse(movement)

    assert ledger_snapshot() == before


# --- rollback: a failing inner step writes nothing ------------------------------------


def boom(*args, **kwargs):
    raise RuntimeError("inner step failed")


def test_transfer_rolls_back_when_posting_fails(
    make_account, fund, transfer, ledger_snapshot, monkeypatch
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    before = ledger_snapshot()
    monkeypatch.setattr("accounts.services.funds.post", boom)

    with pytest.raises(RuntimeError):
        transfer(s, d, "40.00")

    # Including the pair row created under the locks just before posting.
    assert ledger_snapshot() == before
    assert not TransferPair.objects.exists()


def test_transfer_rolls_back_when_it_fails_after_balances_were_saved(
    make_account,
    fund,
    charge,
    transfer,
    ledger_snapshot,
    monkeypatch,
    assert_ledger_clean,
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    charge(d, "50.00")  # d is overdue, so posting to it tracks its episode
    before = ledger_snapshot()
    # track_overdue runs for d after the movement, its legs and both accounts'
    # new balances have been written (the pair's not yet).
    monkeypatch.setattr(ledger, "track_overdue", boom)

    with pytest.raises(RuntimeError):
        transfer(s, d, "40.00")

    assert ledger_snapshot() == before
    s.refresh_from_db()
    d.refresh_from_db()
    assert (s.own_cash, d.transferred_in_balance) == (D("100.00"), D("0.00"))
    assert not TransferPair.objects.exists()
    assert_ledger_clean()


def test_revocation_rolls_back_when_posting_fails(
    make_account, fund, transfer, revoke, ledger_snapshot, monkeypatch
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    transfer(s, d, "40.00")
    before = ledger_snapshot()
    monkeypatch.setattr("accounts.services.funds.post", boom)

    with pytest.raises(RuntimeError):
        revoke(s, d, "10.00")

    assert ledger_snapshot() == before


def test_top_up_rolls_back_with_its_settlement(
    make_account, charge, operator, ledger_snapshot, monkeypatch, assert_ledger_clean
):
    a = make_account()
    c = charge(a, "30.00")
    before = ledger_snapshot()
    monkeypatch.setattr(SettlementAllocation.objects, "bulk_create", boom)

    with pytest.raises(RuntimeError):
        services.top_up(account=a, amount=D("100.00"), actor=operator)

    # The top-up, the settlement movement, their legs, the charge's outstanding
    # and the closing of the overdue episode are all undone.
    assert ledger_snapshot() == before
    a.refresh_from_db()
    c.refresh_from_db()
    assert (a.own_cash, a.uncleared_amount) == (D("0.00"), D("30.00"))
    assert c.outstanding == D("30.00")
    assert OverdueEpisode.objects.open().filter(account=a).exists()
    assert_ledger_clean()


def test_settlement_rolls_back_when_allocations_fail(
    make_account, fund, charge, ledger_snapshot, monkeypatch
):
    a = make_account()
    fund(a, "50.00")
    charge(a, "20.00", hours_ago=2)
    charge(a, "40.00", hours_ago=1)
    before = ledger_snapshot()
    monkeypatch.setattr(SettlementAllocation.objects, "bulk_create", boom)

    with pytest.raises(RuntimeError):
        services.settle_account(account=a)

    assert ledger_snapshot() == before


def test_charge_rolls_back_with_its_overdue_episode(
    make_account, fund, operator, ledger_snapshot, monkeypatch
):
    a = make_account()
    fund(a, "10.00")
    before = ledger_snapshot()
    monkeypatch.setattr(Charge.objects, "create", boom)

    with pytest.raises(RuntimeError):
        services.charge_usage(
            usage_account=a,
            amount=D("50.00"),
            effective_at=Movement.objects.get().posted_at,
            actor=operator,
        )

    assert ledger_snapshot() == before
    assert not OverdueEpisode.objects.exists()


# --- posting guards -------------------------------------------------------------


def test_post_refuses_an_unbalanced_movement(make_account, ledger_snapshot):
    a = make_account()
    before = ledger_snapshot()
    locked = lock_accounts(a.pk)[a.pk]

    with pytest.raises(LedgerError, match="unbalanced"):
        post(
            kind=Movement.Kind.TOP_UP,
            account=locked,
            amount=D("10.00"),
            legs=[
                increase(locked, "own_cash", D("10.00")),
                increase(ledger.PROVIDER, "funding", D("9.99")),
            ],
        )
    with pytest.raises(LedgerError, match="unbalanced"):
        post(
            kind=Movement.Kind.TOP_UP,
            account=locked,
            amount=D("10.00"),
            legs=[increase(locked, "own_cash", D("10.00"))],
        )

    assert ledger_snapshot() == before


def test_post_refuses_mixed_currencies(make_account, fund, ledger_snapshot):
    cny, usd = make_account(currency="CNY"), make_account(currency="USD")
    fund(cny, "10.00")
    before = ledger_snapshot()
    locked = lock_accounts(cny.pk, usd.pk)

    with pytest.raises(LedgerError, match="mixed currencies"):
        post(
            kind=Movement.Kind.TRANSFER,
            account=locked[cny.pk],
            amount=D("10.00"),
            legs=[
                decrease(locked[cny.pk], "own_cash", D("10.00")),
                increase(locked[usd.pk], "own_cash", D("10.00")),
            ],
        )

    assert ledger_snapshot() == before


def test_post_refuses_a_holder_that_was_not_locked(make_account, ledger_snapshot):
    a = make_account()
    before = ledger_snapshot()
    unlocked = Account.objects.get(pk=a.pk)

    with pytest.raises(LedgerError, match="not locked"):
        post(
            kind=Movement.Kind.TOP_UP,
            account=unlocked,
            amount=D("10.00"),
            legs=[
                increase(unlocked, "own_cash", D("10.00")),
                increase(ledger.PROVIDER, "funding", D("10.00")),
            ],
        )

    assert ledger_snapshot() == before


def test_pair_cannot_be_locked_before_its_accounts(make_account):
    s, d = make_account(), make_account()

    with pytest.raises(LedgerError, match="lock both accounts"):
        ledger.lock_pair(s, d, create=True)

    assert not TransferPair.objects.exists()


def test_lock_accounts_locks_in_primary_key_order(make_account):
    a, b, c = make_account(), make_account(), make_account()

    locked = lock_accounts(c.pk, a.pk, b.pk, a.pk)

    assert list(locked) == sorted([a.pk, b.pk, c.pk])
    assert all(ledger.is_locked(account) for account in locked.values())
