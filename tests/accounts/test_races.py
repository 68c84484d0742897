"""Concurrency: the fund services under real PostgreSQL row locks and threads.

``select_for_update`` does nothing on SQLite, so these tests only prove
something on PostgreSQL (which is what the suite always runs on). Every thread
closes its own database connections at its end, or dropping the test database
fails.
"""

import random
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import services
from accounts.ledger import find_discrepancies
from accounts.models import Account, Charge, Movement, TransferPair
from accounts.selectors import get_revocable, get_transferable
from billing_portal import db as service_db
from billing_portal import roles
from billing_portal.errors import RevocationRefused, TransferRefused
from billing_portal.money import ZERO
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
OPS_PER_THREAD = 200
ACCOUNTS = 8
SEED = 20261126
INITIAL_TOP_UP = Decimal("500.00")
JOIN_TIMEOUT = 120  # seconds; a thread still alive after this is a hang

TRANSFER_CODES = {"source_overdue", "exceeds_transferable"}
REVOCATION_CODES = {
    "no_prior_transfer",
    "exceeds_transferred_in_balance",
    "exceeds_remaining_revocable",
    "would_cause_overdue",
}


def cents(n: int) -> Decimal:
    return (Decimal(n) / 100).quantize(Decimal("0.01"))


def make_operator(username: str):
    user = UserFactory(username=username)
    user.groups.add(roles.ensure_groups()[roles.OPERATORS])
    assert roles.is_operator(user)  # also fills the group cache before threads
    return user


def codes(exc) -> list[str]:
    return [r.code for r in exc.reasons]


def run_threads(targets, timeout=JOIN_TIMEOUT) -> list[str]:
    """Run callables in threads (each closes its connections); return errors.

    An error is the formatted traceback of any exception a callable let out.
    """
    errors: list[str] = []
    lock = threading.Lock()

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException:
                with lock:
                    errors.append(traceback.format_exc())
            finally:
                connections.close_all()

        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"threads still running after {timeout}s: {hung}"
    return errors


@pytest.fixture
def retried_conflicts(monkeypatch):
    """Record every deadlock/serialization failure the service wrapper retried.

    Services lock in one global order (accounts, then pairs, then charges, by
    primary key), so no deadlock should ever happen, not even a retried one.
    """
    seen: list[str] = []
    original = service_db.is_retryable

    def spy(exc):
        retryable = original(exc)
        if retryable:
            seen.append(f"{type(exc).__name__}: {exc}")
        return retryable

    monkeypatch.setattr(service_db, "is_retryable", spy)
    return seen


# --- many threads, random operations -------------------------------------------


@dataclass
class ThreadLog:
    """What one thread saw succeed or be refused."""

    top_ups: Decimal = ZERO
    charges: Decimal = ZERO
    settled: Decimal = ZERO
    transferred: Decimal = ZERO
    revoked: Decimal = ZERO
    ops: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def random_worker(index: int, account_pks: list[int], actor, start, log: ThreadLog):
    """Run OPS_PER_THREAD seeded random operations; record every outcome.

    Each thread acts as its own operator, so the settlement a top-up triggers
    is identifiable afterwards (same actor, same account, first one after it).
    """
    rng = random.Random(SEED * 100 + index)
    base = timezone.now()
    accounts = {a.pk: a for a in Account.objects.filter(pk__in=account_pks)}

    def pick_two():
        s, d = rng.sample(account_pks, 2)
        return accounts[s], accounts[d]

    def fresh(pk):
        return Account.objects.select_related("company").get(pk=pk)

    def do_top_up():
        account = accounts[rng.choice(account_pks)]
        amount = cents(rng.randint(1, 20000))
        movement = services.top_up(account=account, amount=amount, actor=actor)
        log.top_ups += amount
        triggered = (
            Movement.objects.filter(
                kind=Movement.Kind.SETTLEMENT,
                account=account,
                actor=actor,
                pk__gt=movement.pk,
            )
            .order_by("pk")
            .first()
        )
        if triggered is not None:
            log.settled += triggered.amount

    def do_charge():
        account = accounts[rng.choice(account_pks)]
        amount = cents(rng.randint(1, 8000))
        at = base - timedelta(seconds=rng.randint(0, 50))
        services.charge_usage(
            usage_account=account, amount=amount, effective_at=at, actor=actor
        )
        log.charges += amount

    def do_settle():
        account = accounts[rng.choice(account_pks)]
        movement = services.settle_account(account=account, actor=actor)
        if movement is not None:
            log.settled += movement.amount

    def do_transfer():
        source, destination = pick_two()
        if rng.random() < 0.35:
            # The whole transferable amount, as read without a lock: often
            # stale by the time the service holds the lock.
            amount = get_transferable(fresh(source.pk)).transferable_amount
            if amount <= 0:
                amount = cents(rng.randint(1, 100))
        else:
            amount = cents(rng.randint(1, 15000))
        try:
            services.transfer_balance(
                source=source, destination=destination, amount=amount, actor=actor
            )
        except TransferRefused as exc:
            refused = codes(exc)
        else:
            log.transferred += amount
            return
        log.refusals["transfer:" + ",".join(refused)] += 1
        assert set(refused) <= TRANSFER_CODES, f"unexpected refusal {refused}"

    def do_revoke():
        pairs = list(TransferPair.objects.values_list("source", "destination"))
        if pairs and rng.random() < 0.85:
            s, d = rng.choice(pairs)
            source, destination = accounts[s], accounts[d]
        else:
            source, destination = pick_two()
        if rng.random() < 0.5:
            amount = get_revocable(fresh(source.pk), fresh(destination.pk))
            amount = amount.revocable_amount
            if amount <= 0:
                amount = cents(rng.randint(1, 100))
        else:
            amount = cents(rng.randint(1, 10000))
        try:
            services.revoke_transfer(
                source=source, destination=destination, amount=amount, actor=actor
            )
        except RevocationRefused as exc:
            refused = codes(exc)
        else:
            log.revoked += amount
            return
        log.refusals["revoke:" + ",".join(refused)] += 1
        assert set(refused) <= REVOCATION_CODES, f"unexpected refusal {refused}"

    operations = [
        (do_transfer, 30),
        (do_revoke, 25),
        (do_charge, 20),
        (do_settle, 10),
        (do_top_up, 15),
    ]
    functions = [op for op, _ in operations]
    weights = [w for _, w in operations]
    start.wait()
    for _ in range(OPS_PER_THREAD):
        op = rng.choices(functions, weights)[0]
        log.ops[op.__name__] += 1
        try:
            op()
        except Exception:
            # Not swallowed: every one of these fails the test afterwards.
            log.errors.append(traceback.format_exc())


def test_random_concurrent_operations_keep_every_invariant(retried_conflicts):
    company = CompanyFactory(name="Race Co")
    setup_actor = make_operator("race-setup")
    accounts = [AccountFactory(company=company) for _ in range(ACCOUNTS)]
    for account in accounts:
        services.top_up(account=account, amount=INITIAL_TOP_UP, actor=setup_actor)
    actors = [make_operator(f"race-op-{i}") for i in range(THREADS)]
    pks = [a.pk for a in accounts]
    logs = [ThreadLog() for _ in range(THREADS)]
    start = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)

    errors = run_threads(
        [
            (lambda i=i: random_worker(i, pks, actors[i], start, logs[i]))
            for i in range(THREADS)
        ]
    )

    errors += [e for log in logs for e in log.errors]
    assert errors == [], f"{len(errors)} unexpected exceptions:\n" + "\n".join(
        errors[:5]
    )
    assert retried_conflicts == [], "deadlocks or serialization failures happened"
    assert sum(sum(log.ops.values()) for log in logs) == THREADS * OPS_PER_THREAD

    def movement_total(kind):
        return Movement.objects.filter(kind=kind).aggregate(s=Sum("amount"))[
            "s"
        ] or Decimal("0")

    top_ups = movement_total(Movement.Kind.TOP_UP)
    charges = movement_total(Movement.Kind.USAGE_CHARGE)
    settled = movement_total(Movement.Kind.SETTLEMENT)
    transferred = movement_total(Movement.Kind.TRANSFER)
    revoked = movement_total(Movement.Kind.REVOCATION)
    assert Movement.objects.filter(kind=Movement.Kind.REVERSAL).count() == 0

    # What the threads saw succeed is exactly what the ledger holds.
    initial = INITIAL_TOP_UP * ACCOUNTS
    assert top_ups == initial + sum(log.top_ups for log in logs)
    assert charges == sum(log.charges for log in logs)
    assert settled == sum(log.settled for log in logs)
    assert transferred == sum(log.transferred for log in logs)
    assert revoked == sum(log.revoked for log in logs)
    assert Charge.objects.aggregate(s=Sum("amount"))["s"] == charges

    final = list(Account.objects.order_by("pk"))
    total_cash = sum(a.cash_balance for a in final)
    total_uncleared = sum(a.uncleared_amount for a in final)
    # Money is conserved: transfers and revocations only move it.
    assert total_cash == top_ups - settled
    assert total_uncleared == charges - settled
    pairs = list(TransferPair.objects.all())
    assert sum((p.remaining_revocable for p in pairs), ZERO) == transferred - revoked

    for a in final:
        assert a.own_cash >= 0, a
        assert a.transferred_in_balance >= 0, a
        assert a.transferred_in_balance <= a.cash_balance, a
        assert a.uncleared_amount >= 0, a
    for p in pairs:
        assert p.remaining_revocable >= 0, p
    assert find_discrepancies() == []

    # The run really exercised both successes and refusals of each kind.
    refusals = Counter()
    for log in logs:
        refusals.update(log.refusals)
    assert transferred > 0
    assert revoked > 0
    assert settled > 0
    assert any(k.startswith("transfer:") for k in refusals), refusals
    assert any(k.startswith("revoke:") for k in refusals), refusals


# --- focused races: both requests wait on the same row lock ---------------------


def hold_lock_while(account_pk: int, targets, waiters: int) -> list[str]:
    """Lock an account row, start ``targets`` in threads, wait until ``waiters``
    backends are blocked behind the lock, then release it; return thread errors.

    Holding the lock guarantees that the requests really overlap: each one
    read the balances before the other committed, and only the re-read under
    the lock can tell them apart.
    """
    result: list[str] = []
    started = threading.Event()

    def runner():
        started.wait()
        result.extend(run_threads(targets))

    outer = threading.Thread(target=runner, daemon=True)
    with transaction.atomic():
        Account.objects.select_for_update().get(pk=account_pk)
        outer.start()
        started.set()
        deadline = timezone.now() + timedelta(seconds=30)
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                # Waiters queue on the row: only the first waits on this
                # transaction directly, so count every backend waiting on a lock.
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                blocked = cursor.fetchone()[0]
            if blocked >= waiters:
                break
            assert timezone.now() < deadline, f"only {blocked} of {waiters} blocked"
            threading.Event().wait(0.01)
    outer.join(JOIN_TIMEOUT)
    assert not outer.is_alive()
    return result


def concurrently(account_pk: int, *calls):
    """Run the service calls at once behind a held lock; collect their outcomes."""
    outcomes = []
    lock = threading.Lock()

    def wrap(call):
        def run():
            try:
                value = call()
            except (TransferRefused, RevocationRefused) as exc:
                with lock:
                    outcomes.append(("refused", codes(exc)))
            else:
                with lock:
                    outcomes.append(("ok", value))

        return run

    errors = hold_lock_while(account_pk, [wrap(c) for c in calls], len(calls))
    assert errors == [], "\n".join(errors)
    assert len(outcomes) == len(calls)
    return outcomes


@pytest.mark.parametrize(
    ("uncleared", "transferred_in", "whole"),
    [
        (ZERO, ZERO, Decimal("100.00")),
        # own 100, transferred-in 30, uncleared 50: available 80 binds.
        (Decimal("50.00"), Decimal("30.00"), Decimal("80.00")),
    ],
)
def test_two_transfers_of_the_whole_transferable_amount(
    retried_conflicts, uncleared, transferred_in, whole
):
    company = CompanyFactory()
    actor = make_operator("race-transfer")
    source, d1, d2, feeder = (AccountFactory(company=company) for _ in range(4))
    services.top_up(account=source, amount=Decimal("100.00"), actor=actor)
    if transferred_in:
        services.top_up(account=feeder, amount=transferred_in, actor=actor)
        services.transfer_balance(
            source=feeder, destination=source, amount=transferred_in, actor=actor
        )
    if uncleared:
        services.charge_usage(
            usage_account=source,
            amount=uncleared,
            effective_at=timezone.now(),
            actor=actor,
        )
    source = Account.objects.select_related("company").get(pk=source.pk)
    assert get_transferable(source).transferable_amount == whole

    outcomes = concurrently(
        source.pk,
        lambda: services.transfer_balance(
            source=source, destination=d1, amount=whole, actor=actor
        ),
        lambda: services.transfer_balance(
            source=source, destination=d2, amount=whole, actor=actor
        ),
    )

    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert [v for kind, v in outcomes if kind == "refused"] == [
        ["exceeds_transferable"]
    ]
    source.refresh_from_db()
    assert source.own_cash == Decimal("100.00") - whole
    assert source.transferred_in_balance == transferred_in
    received = sorted(
        Account.objects.get(pk=d.pk).transferred_in_balance for d in (d1, d2)
    )
    assert received == [ZERO, whole]
    assert retried_conflicts == []
    assert find_discrepancies() == []


@pytest.mark.parametrize(
    ("charged", "amount", "loser_codes"),
    [
        # D: transferred-in 100, own 5. Afterwards unspent 0, remaining 0 (a
        # tie, named in the order of the SPEC) and available 5.
        (
            ZERO,
            Decimal("100.00"),
            [
                "exceeds_transferred_in_balance",
                "exceeds_remaining_revocable",
                "would_cause_overdue",
            ],
        ),
        # D also owes 30: unspent 70 binds; afterwards unspent 0, available 5,
        # remaining 30, listed smallest first.
        (
            Decimal("30.00"),
            Decimal("70.00"),
            [
                "exceeds_transferred_in_balance",
                "would_cause_overdue",
                "exceeds_remaining_revocable",
            ],
        ),
    ],
)
def test_two_revocations_of_the_same_remaining_amount(
    retried_conflicts, charged, amount, loser_codes
):
    company = CompanyFactory()
    actor = make_operator("race-revoke")
    source, destination = (AccountFactory(company=company) for _ in range(2))
    services.top_up(account=source, amount=Decimal("100.00"), actor=actor)
    services.top_up(account=destination, amount=Decimal("5.00"), actor=actor)
    services.transfer_balance(
        source=source, destination=destination, amount=Decimal("100.00"), actor=actor
    )
    if charged:
        services.charge_usage(
            usage_account=destination,
            amount=charged,
            effective_at=timezone.now(),
            actor=actor,
        )
    revocable = get_revocable(
        Account.objects.get(pk=source.pk), Account.objects.get(pk=destination.pk)
    )
    assert revocable.revocable_amount == amount

    def revoke():
        return services.revoke_transfer(
            source=source, destination=destination, amount=amount, actor=actor
        )

    # Lock the destination: both revocations wait on it.
    outcomes = concurrently(destination.pk, revoke, revoke)

    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert [v for kind, v in outcomes if kind == "refused"] == [loser_codes]
    destination.refresh_from_db()
    source.refresh_from_db()
    assert destination.transferred_in_balance == Decimal("100.00") - amount
    assert source.own_cash == amount
    pair = TransferPair.objects.get(source=source, destination=destination)
    assert pair.remaining_revocable == Decimal("100.00") - amount
    assert Movement.objects.filter(kind=Movement.Kind.REVOCATION).count() == 1
    assert retried_conflicts == []
    assert find_discrepancies() == []
