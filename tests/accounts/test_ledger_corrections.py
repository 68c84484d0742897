"""Corrections of top-ups through the service (typed refusals, never a raw error)."""

from decimal import Decimal

import pytest

from accounts import services
from accounts.models import Movement
from billing_portal.errors import RuleViolation


def test_reverse_top_up_restores_the_balance(
    make_account, fund, operator, assert_ledger_clean
):
    account = fund(make_account(), "80.00")
    top_up = Movement.objects.get(account=account, kind=Movement.Kind.TOP_UP)
    reversal = services.reverse_top_up(movement=top_up, actor=operator)
    account.refresh_from_db()
    assert reversal.reverses_id == top_up.pk
    assert account.own_cash == Decimal("0.00")
    assert_ledger_clean()


def test_reverse_top_up_is_refused_once_its_funds_were_spent(
    make_account, fund, transfer, operator, assert_ledger_clean
):
    account = fund(make_account(), "80.00")
    transfer(account, make_account(), "30.00")
    top_up = Movement.objects.get(account=account, kind=Movement.Kind.TOP_UP)
    with pytest.raises(RuleViolation) as refused:
        services.reverse_top_up(movement=top_up, actor=operator)
    assert [r.code for r in refused.value.reasons] == ["insufficient_own_funds"]
    assert "50.00" in refused.value.reasons[0].message
    account.refresh_from_db()
    assert account.own_cash == Decimal("50.00")
    assert_ledger_clean()


def test_reverse_top_up_twice_or_another_kind_is_refused(
    make_account, fund, transfer, operator
):
    account = fund(make_account(), "80.00")
    top_up = Movement.objects.get(account=account, kind=Movement.Kind.TOP_UP)
    services.reverse_top_up(movement=top_up, actor=operator)
    with pytest.raises(RuleViolation) as again:
        services.reverse_top_up(movement=top_up, actor=operator)
    assert again.value.code == "invalid_state"
    fund(account, "10.00")
    movement = transfer(account, make_account(), "5.00")
    with pytest.raises(RuleViolation) as other:
        services.reverse_top_up(movement=movement, actor=operator)
    assert other.value.code == "invalid_state"
