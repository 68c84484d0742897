"""Model-based test: the fund services against a reference model of SPEC §3.1-3.3.

The reference model below is written from the SPEC alone, in plain Python
``Decimal`` arithmetic, and shares no code with ``accounts``. Hypothesis drives
random sequences of top-ups, charges, settlements, transfers and revocations
through the real services and, after every step, compares every balance, every
pair, every charge's outstanding amount and the transferable/revocable numbers
(with their reasons) with the model, to the cent.

Each example runs inside a savepoint of the test's transaction and is rolled
back at its end, so examples never see each other's rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts import services
from accounts.ledger import find_discrepancies
from accounts.models import Account, Charge, Movement, OverdueEpisode, TransferPair
from accounts.selectors import get_revocable, get_transferable, revocable_from
from billing_portal.errors import RevocationRefused, TransferRefused
from tests.factories import AccountFactory, CompanyFactory

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
GROUP = 3  # accounts 0..2: one verified company
ALL = GROUP + 1  # account 3: another verified company (different_company)

#: SPEC §3.3: the revocation terms, in the order that names a tie.
TERMS = ("unspent_transferred_in", "remaining_revocable", "available_balance")
TERM_CODE = {
    "unspent_transferred_in": "exceeds_transferred_in_balance",
    "remaining_revocable": "exceeds_remaining_revocable",
    "available_balance": "would_cause_overdue",
}


def money(n: int) -> Decimal:
    return n * CENT


def positive(amount: Decimal) -> Decimal:
    """A movement amount must be > 0 (anything else is a 400 at the boundary)."""
    return amount if amount > 0 else CENT


# --- the reference model (SPEC §3.1-3.3, credit limit 0) -----------------------


@dataclass
class ModelCharge:
    pk: int  # the charge's id: the tie-breaker after the usage start
    effective_at: datetime
    outstanding: Decimal


@dataclass
class ModelAccount:
    company: str
    own: Decimal = ZERO
    transferred_in: Decimal = ZERO
    uncleared: Decimal = ZERO
    charges: list[ModelCharge] = field(default_factory=list)

    @property
    def cash(self) -> Decimal:
        return self.own + self.transferred_in

    @property
    def available(self) -> Decimal:
        return self.cash - self.uncleared  # no credit limit is ever set here

    @property
    def overdue(self) -> bool:
        return self.available < 0


class ReferenceLedger:
    def __init__(self, companies: list[str]):
        self.accounts = [ModelAccount(company=c) for c in companies]
        self.pairs: dict[tuple[int, int], Decimal] = {}

    def top_up(self, i: int, amount: Decimal) -> Decimal:
        self.accounts[i].own += amount
        return self.settle(i)

    def charge(self, i: int, pk: int, amount: Decimal, at: datetime) -> None:
        a = self.accounts[i]
        a.uncleared += amount
        a.charges.append(ModelCharge(pk=pk, effective_at=at, outstanding=amount))

    def settle(self, i: int) -> Decimal:
        """Pay what cash can of the uncleared charges; return the amount paid."""
        a = self.accounts[i]
        paying = min(a.cash, a.uncleared)
        if paying <= 0:
            return ZERO
        from_transferred = min(paying, a.transferred_in)
        a.transferred_in -= from_transferred
        a.own -= paying - from_transferred
        a.uncleared -= paying
        left = paying
        for c in sorted(a.charges, key=lambda c: (c.effective_at, c.pk)):
            part = min(c.outstanding, left)
            c.outstanding -= part
            left -= part
        assert left == 0
        return paying

    def transferable(self, i: int) -> Decimal:
        a = self.accounts[i]
        return max(ZERO, min(a.cash - a.transferred_in, a.available))

    def transferable_reasons(self, i: int) -> list[str]:
        a = self.accounts[i]
        codes = ["source_overdue"] if a.overdue else []
        if a.cash - a.transferred_in < a.cash:
            codes.append("transferred_in_funds")
        if a.available < a.cash:
            codes.append("uncleared_charges")
        return codes

    def transfer_refusals(self, s: int, d: int, amount: Decimal) -> list[str]:
        src, dst = self.accounts[s], self.accounts[d]
        codes = []
        if s == d:
            codes.append("same_account")
        if src.company != dst.company:
            codes.append("different_company")
        if src.overdue:
            codes.append("source_overdue")
        if amount > self.transferable(s):
            codes.append("exceeds_transferable")
        return codes

    def transfer(self, s: int, d: int, amount: Decimal) -> None:
        self.accounts[s].own -= amount
        self.accounts[d].transferred_in += amount
        self.pairs[(s, d)] = self.pairs.get((s, d), ZERO) + amount

    def revocable_terms(self, s: int, d: int) -> dict[str, Decimal]:
        dst = self.accounts[d]
        return {
            "unspent_transferred_in": max(ZERO, dst.transferred_in - dst.uncleared),
            "remaining_revocable": self.pairs.get((s, d), ZERO),
            "available_balance": dst.available,
        }

    def revocable(self, s: int, d: int) -> tuple[Decimal, str]:
        terms = self.revocable_terms(s, d)
        binding = TERMS[0]
        for name in TERMS[1:]:
            if terms[name] < terms[binding]:
                binding = name
        return max(ZERO, terms[binding]), binding

    def revocation_refusals(self, s: int, d: int, amount: Decimal) -> list[str]:
        codes = []
        if self.accounts[s].company != self.accounts[d].company:
            codes.append("different_company")
        if (s, d) not in self.pairs:
            # Without a prior transfer there is no pair term to compare with.
            return [*codes, "no_prior_transfer"]
        terms = self.revocable_terms(s, d)
        exceeded = [name for name in TERMS if amount > terms[name]]
        # Smallest term first; the sort is stable, so ties keep the SPEC order.
        exceeded.sort(key=lambda name: terms[name])
        return codes + [TERM_CODE[name] for name in exceeded]

    def revoke(self, s: int, d: int, amount: Decimal) -> None:
        self.accounts[d].transferred_in -= amount
        self.accounts[s].own += amount
        self.pairs[(s, d)] -= amount


# --- the machine -----------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=500)
any_account = st.integers(min_value=0, max_value=ALL - 1)
group_pair = st.permutations(range(GROUP)).map(lambda p: tuple(p[:2]))
transfer_amount = st.sampled_from(
    ["cents", "transferable", "transferable+cent", "cash", "own"]
)
revocation_amount = st.sampled_from(
    [
        "cents",
        "revocable",
        "revocable+cent",
        "unspent_transferred_in",
        "remaining_revocable",
        "available_balance",
    ]
)


class LedgerMachine(RuleBasedStateMachine):
    operator = None  # bound by the test function

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        company, other = CompanyFactory(), CompanyFactory()
        self.rows = [AccountFactory(company=company) for _ in range(GROUP)]
        self.rows.append(AccountFactory(company=other))
        self.index = {row.pk: i for i, row in enumerate(self.rows)}
        self.model = ReferenceLedger(
            ["company"] * GROUP + ["other"],
        )
        self.base = timezone.now() - timedelta(hours=1)
        # Pairs whose revocable amount is read through get_revocable after the
        # step: the pair a transfer or revocation named, and every prior-transfer
        # pair into an account the step changed (the others' inputs did not
        # change, as the balances confirm; they are recomputed with the same
        # pure function on the fresh rows). At the start: every pair.
        self.selector_pairs = {(s, d) for s in range(ALL) for d in range(ALL)}
        self.touched: set[int] = set()

    def teardown(self):
        try:
            # Cached balances drift from their legs for good once they differ,
            # so one full recomputation per example catches any step's slip.
            assert find_discrepancies() == []
        finally:
            transaction.savepoint_rollback(self.savepoint)

    # rules

    @initialize(funds=st.lists(st.integers(0, 500), min_size=ALL, max_size=ALL))
    def fund(self, funds):
        for i, n in enumerate(funds):
            if n:
                self.top_up(i, n)

    @rule(i=any_account, n=amounts)
    def top_up(self, i, n):
        self.touched.add(i)
        amount = money(n)
        movement = services.top_up(
            account=self.rows[i], amount=amount, actor=self.operator
        )
        assert movement.kind == Movement.Kind.TOP_UP
        assert movement.amount == amount
        paid = self.model.top_up(i, amount)
        settled = Movement.objects.filter(
            kind=Movement.Kind.SETTLEMENT, account=self.rows[i], pk__gt=movement.pk
        )
        assert [m.amount for m in settled] == ([paid] if paid else [])

    @rule(
        i=any_account,
        how=st.sampled_from(["cents", "cash", "transferred_in", "own"]),
        n=amounts,
        minutes=st.integers(min_value=0, max_value=3),
    )
    def charge(self, i, how, n, minutes):
        self.touched.add(i)
        a = self.model.accounts[i]
        amount = {
            "cents": money(n),
            "cash": a.cash,
            "transferred_in": a.transferred_in,
            "own": a.own,
        }[how]
        amount = positive(amount)
        at = self.base - timedelta(minutes=minutes)
        charge = services.charge_usage(
            usage_account=self.rows[i],
            amount=amount,
            effective_at=at,
            actor=self.operator,
        )
        assert charge.amount == amount
        assert charge.outstanding == amount
        self.model.charge(i, charge.pk, amount, at)

    @rule(i=any_account)
    def settle(self, i):
        self.touched.add(i)
        movement = services.settle_account(account=self.rows[i], actor=self.operator)
        paid = self.model.settle(i)
        if paid:
            assert movement is not None
            assert movement.amount == paid
        else:
            assert movement is None

    @rule(pair=group_pair, how=transfer_amount, n=amounts)
    def transfer_in_company(self, pair, how, n):
        self.transfer(*pair, how, n)

    @rule(s=any_account, d=any_account, how=transfer_amount, n=amounts)
    def transfer_between_any(self, s, d, how, n):
        self.transfer(s, d, how, n)

    def transfer(self, s, d, how, n):
        self.selector_pairs.add((s, d))
        src = self.model.accounts[s]
        amount = {
            "cents": money(n),
            "transferable": self.model.transferable(s),
            "transferable+cent": self.model.transferable(s) + CENT,
            "cash": src.cash,
            "own": src.own,
        }[how]
        amount = positive(amount)
        expected = self.model.transfer_refusals(s, d, amount)
        try:
            movement = services.transfer_balance(
                source=self.rows[s],
                destination=self.rows[d],
                amount=amount,
                actor=self.operator,
            )
        except TransferRefused as exc:
            got = [r.code for r in exc.reasons]
            event(f"transfer refused: {got}")
            assert got == expected
        else:
            event("transfer made")
            assert expected == [], f"expected refusal {expected}"
            assert movement.kind == Movement.Kind.TRANSFER
            assert movement.amount == amount
            self.model.transfer(s, d, amount)
            self.touched |= {s, d}

    @precondition(lambda self: self.model.pairs)
    @rule(k=st.integers(0, 11), how=revocation_amount, n=amounts)
    def revoke_a_prior_transfer(self, k, how, n):
        pairs = sorted(self.model.pairs)
        self.revoke(*pairs[k % len(pairs)], how, n)

    @rule(s=any_account, d=any_account, how=revocation_amount, n=amounts)
    def revoke_between_any(self, s, d, how, n):
        self.revoke(s, d, how, n)

    def revoke(self, s, d, how, n):
        self.selector_pairs.add((s, d))
        if how == "cents":
            amount = money(n)
        elif how.startswith("revocable"):
            amount = self.model.revocable(s, d)[0]
            if how.endswith("+cent"):
                amount += CENT
        else:
            amount = self.model.revocable_terms(s, d)[how]
        amount = positive(amount)
        expected = self.model.revocation_refusals(s, d, amount)
        try:
            movement = services.revoke_transfer(
                source=self.rows[s],
                destination=self.rows[d],
                amount=amount,
                actor=self.operator,
            )
        except RevocationRefused as exc:
            got = [r.code for r in exc.reasons]
            event(f"revocation refused: {got}")
            assert got == expected
        else:
            event("revocation made")
            assert expected == [], f"expected refusal {expected}"
            assert movement.kind == Movement.Kind.REVOCATION
            assert movement.amount == amount
            self.model.revoke(s, d, amount)
            self.touched |= {s, d}

    # invariants

    @invariant()
    def ledger_matches_the_model(self):
        open_overdue = OverdueEpisode.objects.open().filter(account=OuterRef("pk"))
        rows = (
            Account.objects.select_related("company")
            .annotate(overdue=Exists(open_overdue))
            .in_bulk([r.pk for r in self.rows])
        )
        rows = [rows[r.pk] for r in self.rows]
        for i, row in enumerate(rows):
            want = self.model.accounts[i]
            got = (
                row.cash_balance,
                row.transferred_in_balance,
                row.uncleared_amount,
                row.available_balance,
            )
            assert got == (
                want.cash,
                want.transferred_in,
                want.uncleared,
                want.available,
            )
            assert row.own_cash >= 0
            assert row.transferred_in_balance >= 0
            assert row.uncleared_amount >= 0
            assert row.credit_limit == 0
            assert row.overdue == want.overdue
            transferable = get_transferable(row)
            assert transferable.transferable_amount == self.model.transferable(i)
            got_codes = [r.code for r in transferable.reasons]
            assert got_codes == self.model.transferable_reasons(i)

        pairs = {
            (self.index[p.source_id], self.index[p.destination_id]): p
            for p in TransferPair.objects.filter(source__in=self.rows)
        }
        assert {k: p.remaining_revocable for k, p in pairs.items()} == self.model.pairs

        outstanding = dict(
            Charge.objects.filter(payer_account__in=self.rows).values_list(
                "pk", "outstanding"
            )
        )
        assert outstanding == {
            c.pk: c.outstanding for a in self.model.accounts for c in a.charges
        }

        self.selector_pairs |= {p for p in self.model.pairs if p[1] in self.touched}
        for s in range(ALL):
            for d in range(ALL):
                if s == d:
                    continue
                if (s, d) in self.selector_pairs:
                    got = get_revocable(rows[s], rows[d])
                else:
                    got = revocable_from(rows[s], rows[d], pairs.get((s, d)))
                want_amount, want_binding = self.model.revocable(s, d)
                assert got.revocable_amount == want_amount
                assert got.binding == want_binding
                assert got.has_prior_transfer == ((s, d) in self.model.pairs)
        self.selector_pairs, self.touched = set(), set()


# Examples and steps come from the Hypothesis profile (tests/conftest.py): a
# quick one for development, the full one (200 x 40) when CI=true.
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_services_match_the_reference_model(db, operator):
    bound = type("BoundLedgerMachine", (LedgerMachine,), {"operator": operator})
    run_state_machine_as_test(bound, settings=SETTINGS)
