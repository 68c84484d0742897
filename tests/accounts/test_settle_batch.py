"""Set-wise settlement gives exactly what settling account by account gives."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts import services
from accounts.models import Charge, Posting, SettlementAllocation


def D(value) -> Decimal:
    return Decimal(value)


def picture(accounts):
    """Each account's balances, legs, charges and allocations, position by
    position (ids differ between the two worlds)."""
    out = []
    for account in accounts:
        account.refresh_from_db()
        charges = list(Charge.objects.filter(payer_account=account).order_by("id"))
        out.append(
            {
                "balances": (
                    account.own_cash,
                    account.transferred_in_balance,
                    account.uncleared_amount,
                ),
                "legs": [
                    (p.book, p.amount, p.balance_after)
                    for p in Posting.objects.filter(
                        holder_type="account", holder_id=account.pk
                    ).order_by("id")
                ],
                "charges": [(c.amount, c.outstanding) for c in charges],
                "allocations": [
                    (charges.index(a.charge), a.from_transferred_in, a.from_own)
                    for a in SettlementAllocation.objects.filter(
                        charge__in=charges
                    ).order_by("id")
                ],
            }
        )
    return out


def build(make_account, operator):
    """Accounts that owe and hold cash in every mix: received funds only, own
    only, both, more cash than owed, less, nothing held."""
    donor = make_account()
    services.top_up(account=donor, amount=D("1000.00"), actor=operator)
    accounts = [make_account() for _ in range(6)]
    now = timezone.now()
    funds = [("30.00", None), (None, "25.00"), ("10.00", "15.00"),
             ("5.00", "500.00"), ("1.00", "2.00"), (None, None)]  # fmt: skip
    for account, (received, own) in zip(accounts, funds, strict=True):
        if own:
            services.top_up(account=account, amount=D(own), actor=operator)
        if received:
            services.transfer_balance(
                source=donor, destination=account, amount=D(received), actor=operator
            )
        for amount, hours in [("12.00", 5), ("7.50", 9), ("20.00", 1)]:
            services.charge_usage(
                usage_account=account,
                amount=D(amount),
                effective_at=now - timedelta(hours=hours),
                actor=operator,
            )
    return [donor, *accounts]


def test_settle_all_set_wise_matches_settling_account_by_account(
    make_account, operator, assert_ledger_clean
):
    one_by_one = build(make_account, operator)
    for account in one_by_one:
        services.settle_account(account=account, actor=operator)
    set_wise = build(make_account, operator)
    before = picture(set_wise)

    settled = services.settle_all(actor=operator)

    assert settled == 5  # the sixth holds nothing; the donor owes nothing
    after = picture(set_wise)
    assert after != before
    assert after == picture(one_by_one)
    # Rich: 5.00 received and 500.00 own pay 39.50, received funds first.
    assert after[4]["balances"] == (D("465.50"), D("0.00"), D("0.00"))
    assert after[5]["balances"] == (D("0.00"), D("0.00"), D("36.50"))  # poor
    assert_ledger_clean()


def test_settle_batch_walks_the_accounts_in_chunks(make_account, operator):
    build(make_account, operator)

    first, last = services.settle_batch(size=2, actor=operator)
    rest, _ = services.settle_batch(after_id=last, size=100, actor=operator)
    nothing_left, _ = services.settle_batch(size=100, actor=operator)

    assert (first, rest, nothing_left) == (2, 3, 0)
