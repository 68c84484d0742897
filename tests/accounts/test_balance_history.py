"""The account page's balance history (issue 12 "Pictures"): closing balances
per day from the ledger, drawn as a server-side SVG."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from accounts.selectors import get_balance_history

pytestmark = pytest.mark.django_db
D = Decimal


def on(day_offset: int):
    """Run services as if it were ``day_offset`` days ago, at noon."""
    instant = timezone.now().replace(hour=12, minute=0) - timedelta(days=day_offset)
    return mock.patch("django.utils.timezone.now", return_value=instant)


def test_closing_balances_per_day_with_the_days_between(
    make_account, fund, transfer, charge
):
    a, b = make_account(), make_account()
    with on(3):
        fund(a, "100.00")  # fund also settles nothing: no charge yet
    with on(3):
        fund(b, "40.00")
    with on(2):
        transfer(b, a, "15.00")
    with on(1):
        charge(a, "30.00", hours_ago=0)
    a.refresh_from_db()
    history = get_balance_history(a, days=5)
    assert [h.day for h in history] == [
        timezone.localdate() - timedelta(days=n) for n in (4, 3, 2, 1, 0)
    ]
    assert [(h.own_cash, h.transferred_in, h.uncleared) for h in history] == [
        (D("0.00"), D("0.00"), D("0.00")),  # before anything
        (D("100.00"), D("0.00"), D("0.00")),
        (D("100.00"), D("15.00"), D("0.00")),
        (D("100.00"), D("15.00"), D("30.00")),
        (D("100.00"), D("15.00"), D("30.00")),  # carried to today
    ]
    assert history[-1].cash == D("115.00")


def test_an_account_with_no_lines_in_the_window_is_flat(make_account, fund):
    a = make_account()
    with on(60):
        fund(a, "7.00")
    a.refresh_from_db()
    history = get_balance_history(a, days=30)
    assert {(h.own_cash, h.uncleared) for h in history} == {(D("7.00"), D("0.00"))}


def test_the_account_page_draws_it(client, make_account, owner, grant, fund):
    from django.urls import reverse

    a = make_account()
    grant(owner, a, "owner")
    with on(2):
        fund(a, "50.00")
    client.force_login(owner)
    page = client.get(reverse("admin:accounts_account_change", args=[a.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="balance-history"' in html
    assert "Balances over the last 30 days" in html
    assert html.count("<polyline") == 4
    assert "Available (at today&#x27;s credit limit)" in html
