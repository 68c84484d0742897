"""The ledger is open (SPEC §9): a holder type that only the tests define posts
through the same engine, in the global lock order, and check_ledger covers it."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts import ledger, services
from accounts.ledger import PROVIDER, LedgerError, decrease, increase
from accounts.models import Account, Charge, Movement, Posting
from tests.ledger_app.models import Voucher


def D(value) -> Decimal:
    return Decimal(value)


@pytest.fixture
def voucher_books():
    """Register the test holder (after accounts and pairs) and a provider book."""
    ledger.register_holder(
        Voucher,
        "test_voucher",
        books={"remaining": ("remaining", ledger.CREDIT)},
        lock_rank=90,
    )
    ledger.register_books("provider", {"vouchers_sold": (None, ledger.DEBIT)})
    yield
    ledger.unregister_holder("test_voucher")


@pytest.fixture
def issue_voucher(voucher_books):
    def issue(amount, currency="CNY"):
        voucher = Voucher.objects.create(currency=currency)
        with transaction.atomic():
            (locked,) = ledger.lock(voucher)
            # Any account of the currency names the movement's header.
            holder_account = Account.objects.filter(currency=currency).first()
            ledger.post(
                kind="voucher_issue",
                account=holder_account,
                amount=D(amount),
                legs=[
                    increase(locked, "remaining", D(amount)),
                    increase(PROVIDER, "vouchers_sold", D(amount)),
                ],
            )
        voucher.refresh_from_db()
        return voucher

    return issue


def test_a_usage_charge_with_a_deduction_leg_is_one_balanced_movement(
    make_account, issue_voucher, operator, assert_ledger_clean
):
    account = make_account()
    voucher = issue_voucher("30.00")

    with transaction.atomic():
        payer = ledger.lock_accounts(account.pk)[account.pk]
        (locked,) = ledger.lock(voucher)
        charge = services.charge_usage(
            usage_account=payer,
            amount=D("100.00"),
            effective_at=payer.created_at,
            deductions=[decrease(locked, "remaining", D("30.00"))],
            actor=operator,
        )

    account.refresh_from_db()
    voucher.refresh_from_db()
    assert (charge.amount, charge.outstanding) == (D("70.00"), D("70.00"))
    assert account.uncleared_amount == D("70.00")
    assert voucher.remaining == D("0.00")
    legs = sorted(
        (p.holder_type, p.book, p.amount, p.balance_after)
        for p in Posting.objects.filter(movement=charge.movement)
    )
    assert legs == [
        ("account", "uncleared", D("70.00"), D("70.00")),
        ("provider", "revenue", D("-100.00"), None),
        ("test_voucher", "remaining", D("30.00"), D("0.00")),
    ]
    assert charge.movement.amount == D("100.00")
    assert Movement.objects.filter(kind=Movement.Kind.USAGE_CHARGE).count() == 1
    assert_ledger_clean()


def test_a_fully_deducted_usage_leaves_a_zero_charge_and_no_uncleared_leg(
    make_account, issue_voucher, assert_ledger_clean
):
    account = make_account()
    voucher = issue_voucher("50.00")

    with transaction.atomic():
        ledger.lock_accounts(account.pk)
        (locked,) = ledger.lock(voucher)
        charge = services.charge_usage(
            usage_account=account,
            amount=D("20.00"),
            effective_at=account.created_at,
            deductions=[decrease(locked, "remaining", D("20.00"))],
        )

    account.refresh_from_db()
    voucher.refresh_from_db()
    assert (charge.amount, account.uncleared_amount, voucher.remaining) == (
        D("0.00"),
        D("0.00"),
        D("30.00"),
    )
    assert not Posting.objects.filter(movement=charge.movement, holder_type="account")
    assert_ledger_clean()


def test_deductions_larger_than_the_usage_are_refused_and_nothing_is_written(
    make_account, issue_voucher, ledger_snapshot
):
    account = make_account()
    voucher = issue_voucher("50.00")
    before = ledger_snapshot()

    @transaction.atomic
    def charge_more_than_the_usage():
        (locked,) = ledger.lock(voucher)
        services.charge_usage(
            usage_account=account,
            amount=D("20.00"),
            effective_at=account.created_at,
            deductions=[decrease(locked, "remaining", D("20.01"))],
        )

    with pytest.raises(LedgerError, match="deductions"):
        charge_more_than_the_usage()

    assert ledger_snapshot() == before
    assert not Charge.objects.exists()


def test_lock_follows_the_rank_then_the_primary_key(make_account, issue_voucher):
    first, second = make_account(), make_account()
    voucher = issue_voucher("1.00")

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = ledger.lock(voucher, second, first, second)

    assert [type(h) for h in locked] == [Voucher, Account, Account, Account]
    assert locked[1] is locked[3]
    assert all(ledger.is_locked(h) for h in locked)
    tables = [
        "accounts_account" if '"accounts_account"' in q["sql"] else "voucher"
        for q in queries.captured_queries
        if "FOR NO KEY UPDATE" in q["sql"]
    ]
    assert tables == ["accounts_account", "voucher"]
    account_sql = next(
        q["sql"] for q in queries.captured_queries if "FOR NO KEY UPDATE" in q["sql"]
    )
    assert "ORDER BY" in account_sql
    assert (
        "FOR NO KEY UPDATE OF" in account_sql
    )  # the holder rows only, not the company
    ids = queries.captured_queries[0]["sql"]
    assert str(first.pk) in ids
    assert str(second.pk) in ids


def test_post_refuses_a_test_holder_that_was_not_locked(
    make_account, issue_voucher, ledger_snapshot
):
    account = make_account()
    voucher = issue_voucher("5.00")
    before = ledger_snapshot()

    @transaction.atomic
    def post_without_locking_the_voucher():
        (payer,) = ledger.lock(account)
        ledger.post(
            kind=Movement.Kind.USAGE_CHARGE,
            account=payer,
            amount=D("5.00"),
            legs=[
                decrease(voucher, "remaining", D("5.00")),
                increase(PROVIDER, "revenue", D("5.00")),
            ],
        )

    with pytest.raises(LedgerError, match="not locked"):
        post_without_locking_the_voucher()

    assert ledger_snapshot() == before


def test_check_ledger_recomputes_the_test_holder_from_its_legs(
    make_account, issue_voucher
):
    make_account()
    voucher = issue_voucher("12.00")
    assert ledger.find_discrepancies() == []

    # Tamper with the cached balance behind the engine's back.
    Voucher.objects.filter(pk=voucher.pk).update(remaining=D("11.00"))

    problems = ledger.find_discrepancies()
    assert f"test_voucher {voucher.pk} remaining: cached 11.00, legs sum to 12.00" in (
        problems
    )
    assert any("last balance_after 12.00" in p for p in problems)


def test_lock_reads_fields_with_their_own_conversions(db, voucher_books):
    voucher = Voucher.objects.create(currency="CNY", terms={"products": ["ecs"]})

    with transaction.atomic():
        (locked,) = ledger.lock(voucher)

    assert locked.terms == {"products": ["ecs"]}
    assert locked.remaining == D("0.00")


@pytest.mark.django_db(transaction=True)
def test_lock_needs_a_transaction(make_account):
    account = make_account()

    with pytest.raises(LedgerError, match="inside a transaction"):
        ledger.lock(account)


# --- the batch twin: charge_usage_batch with deduction legs --------------------------


def charge_batch(rows, legs, *, actor=None):
    """charge_usage_batch of rows (account, amount, effective_at) with deduction
    legs (row index, position, holder, book, delta), in one transaction."""
    with transaction.atomic():
        services.create_batch_table("test_batch")
        services.create_deductions_table("test_legs")
        with connection.cursor() as cur:
            for n, (account, amount, at) in enumerate(rows):
                cur.execute(
                    "INSERT INTO test_batch (row_id, usage_account_id, currency,"
                    " amount, net, effective_at, memo) VALUES (%s, %s, %s, %s, %s,"
                    " %s, '')",
                    [n, account.pk, account.currency, D(amount), D(amount), at],
                )
            for n, position, holder, book, delta in legs:
                cur.execute(
                    "INSERT INTO test_legs VALUES (%s, %s, %s, %s, %s, %s)",
                    [n, position, ledger.holder_type_of(holder).name, holder.pk, book,
                     D(delta)],
                )  # fmt: skip
        services.assign_payers(table="test_batch")
        with transaction.atomic():
            ledger.lock_accounts(*(account.pk for account, _a, _t in rows))
        return services.charge_usage_batch(
            table="test_batch", actor=actor, deductions="test_legs"
        )


def test_a_batch_with_deduction_legs_posts_as_charge_usage_one_by_one(
    make_account, issue_voucher, assert_ledger_clean
):
    accounts = [make_account(), make_account()]
    vouchers = [issue_voucher("30.00"), issue_voucher("30.00")]
    at = accounts[0].created_at
    uses = [("100.00", "20.00"), ("5.00", "5.00"), ("15.00", "5.00")]

    charge_batch(
        [(accounts[0], amount, at) for amount, _d in uses],
        [(n, 0, vouchers[0], "remaining", f"-{d}") for n, (_a, d) in enumerate(uses)],
    )
    for amount, deducted in uses:
        with transaction.atomic():
            ledger.lock_accounts(accounts[1].pk)
            (locked,) = ledger.lock(vouchers[1])
            services.charge_usage(
                usage_account=accounts[1],
                amount=D(amount),
                effective_at=at,
                deductions=[decrease(locked, "remaining", D(deducted))],
            )

    def written(account, voucher):
        account.refresh_from_db()
        voucher.refresh_from_db()
        movements = Movement.objects.filter(
            account=account, kind=Movement.Kind.USAGE_CHARGE
        ).order_by("id")
        return (
            account.uncleared_amount,
            voucher.remaining,
            [
                [
                    (p.holder_type, p.book, p.amount, p.balance_after)
                    for p in m.postings.order_by("id")
                ]
                for m in movements
            ],
            [(c.amount, c.outstanding) for c in Charge.objects.order_by("id")
             if c.payer_account_id == account.pk],
        )  # fmt: skip

    assert written(accounts[0], vouchers[0]) == written(accounts[1], vouchers[1])
    assert vouchers[0].remaining == D("0.00")
    assert accounts[0].uncleared_amount == D("90.00")
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([(0, 0, "remaining", "-20.01")], "deductions are outside"),
        ([(0, 0, "remaining", "1.00")], "deductions are outside"),
        ([(1, 0, "remaining", "-1.00")], "rows that are not in the batch"),
        ([(0, 0, "nonsense", "-1.00")], "unknown book"),
    ],
)
def test_batch_deduction_legs_that_cannot_balance_are_refused(
    make_account, issue_voucher, ledger_snapshot, legs, message
):
    account = make_account()
    voucher = issue_voucher("50.00")
    before = ledger_snapshot()

    with pytest.raises(LedgerError, match=message):
        charge_batch(
            [(account, "20.00", account.created_at)],
            [(n, p, voucher, book, delta) for n, p, book, delta in legs],
        )

    assert ledger_snapshot() == before


def test_batch_deduction_legs_in_another_currency_are_refused(
    make_account, issue_voucher
):
    account = make_account()
    make_account(currency="USD")
    voucher = issue_voucher("50.00", currency="USD")

    with pytest.raises(LedgerError, match="mixed currencies"):
        charge_batch(
            [(account, "20.00", account.created_at)],
            [(0, 0, voucher, "remaining", "-1.00")],
        )


def test_a_batch_row_whose_net_is_not_its_amount_less_its_legs_is_refused(
    make_account, ledger_snapshot
):
    account = make_account()
    before = ledger_snapshot()

    @transaction.atomic
    def charge_a_net_without_legs():
        services.create_batch_table("test_batch")
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO test_batch (row_id, usage_account_id, currency, amount,"
                " net, effective_at, memo) VALUES (1, %s, %s, 5, 4, now(), '')",
                [account.pk, account.currency],
            )
        services.assign_payers(table="test_batch")
        services.charge_usage_batch(table="test_batch")

    with pytest.raises(LedgerError, match="net"):
        charge_a_net_without_legs()

    assert ledger_snapshot() == before
