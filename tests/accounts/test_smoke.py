from decimal import Decimal

from accounts.models import Movement


def test_transfer_moves_own_funds_and_records_pair(
    make_account, fund, transfer, assert_ledger_clean
):
    s, d = make_account(), make_account()
    fund(s, "100.00")
    movement = transfer(s, d, "40.00")
    assert movement.kind == Movement.Kind.TRANSFER
    assert s.cash_balance == Decimal("60.00")
    assert d.cash_balance == Decimal("40.00")
    assert d.transferred_in_balance == Decimal("40.00")
    assert_ledger_clean()
