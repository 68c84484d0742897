"""Balances of many accounts at once: totals per currency (the overview's
totals, the home page's balances) and closing balances per day (the account
page's picture, the home page's trend). Sums of what the ledger and the
eligibility selectors already say; no rule of their own.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing_portal.money import ZERO

from ..ledger import natural_change_expression
from ..models import Account, Posting
from .credit import with_disabled_state
from .funds import get_transferable


@dataclass(frozen=True)
class CurrencyTotals:
    """The accounts of one currency, their balances summed."""

    currency: str
    accounts: int
    own_cash: Decimal
    transferred_in: Decimal
    uncleared: Decimal
    credit_limit: Decimal

    @property
    def cash(self) -> Decimal:
        return self.own_cash + self.transferred_in

    @property
    def available(self) -> Decimal:
        """The sum of the accounts' available balances."""
        return self.cash + self.credit_limit - self.uncleared


def list_currency_totals(accounts: QuerySet[Account]) -> list[CurrencyTotals]:
    """Totals per currency of ``accounts`` (one statement), by currency."""
    rows = (
        accounts.order_by()
        .values("currency")
        .annotate(
            n=Count("pk"),
            own=Sum("own_cash"),
            transferred_in=Sum("transferred_in_balance"),
            uncleared=Sum("uncleared_amount"),
            limit=Sum("credit_limit"),
        )
        .order_by("currency")
    )
    return [
        CurrencyTotals(
            currency=row["currency"],
            accounts=row["n"],
            own_cash=row["own"] or ZERO,
            transferred_in=row["transferred_in"] or ZERO,
            uncleared=row["uncleared"] or ZERO,
            credit_limit=row["limit"] or ZERO,
        )
        for row in rows
    ]


def sum_transferable(accounts: QuerySet[Account]) -> dict[str, Decimal]:
    """What the accounts could transfer out now, summed per currency: the
    overview's Transferable column (``get_transferable``, with the §3.5 state
    annotated) added up, in one statement however many accounts."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    rows = with_disabled_state(accounts.select_related("company").order_by())
    for account in rows.iterator(chunk_size=2000):
        totals[account.currency] += get_transferable(account).transferable_amount
    return dict(totals)


# --- closing balances per day ---------------------------------------------------


@dataclass(frozen=True)
class BalanceDay:
    """Balances at the end of one day (in the active time zone)."""

    day: date
    own_cash: Decimal
    transferred_in: Decimal
    uncleared: Decimal

    @property
    def cash(self) -> Decimal:
        return self.own_cash + self.transferred_in


#: The account's ledger books.
_BOOKS = ("own_cash", "transferred_in", "uncleared")


def list_balance_history(
    accounts: QuerySet[Account], *, days: int = 30
) -> dict[str, list[BalanceDay]]:
    """Closing balances of the last ``days`` days, summed per currency over
    ``accounts``, oldest first: today's balances, and each earlier day's those
    less what the ledger changed after it (two statements whatever the number of
    accounts and lines: the balances summed, and the lines' changes summed per
    day, currency and book)."""
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first_day, time.min))
    current = (
        accounts.order_by()
        .values("currency")
        .annotate(
            own=Sum("own_cash"),
            transferred=Sum("transferred_in_balance"),
            owed=Sum("uncleared_amount"),
        )
        .order_by("currency")
    )
    changes = (
        Posting.objects.filter(
            holder_type="account",
            holder_id__in=accounts.order_by().values("pk"),
            movement__posted_at__gte=start,
        )
        .annotate(day=TruncDate("movement__posted_at"))
        .values("day", "currency", "book")
        .annotate(change=Sum(natural_change_expression("account")))
        .order_by()
    )
    changed: dict[tuple, Decimal] = {
        (row["currency"], row["day"], row["book"]): row["change"] for row in changes
    }
    history = {}
    for row in current:
        currency = row["currency"]
        running = {
            "own_cash": row["own"] or ZERO,
            "transferred_in": row["transferred"] or ZERO,
            "uncleared": row["owed"] or ZERO,
        }
        closing = []
        for n in range(days):
            day = today - timedelta(days=n)
            closing.append(BalanceDay(day=day, **running))
            # The day before closed at this day's balance less this day's change.
            for book in _BOOKS:
                running[book] -= changed.get((currency, day, book), ZERO)
        history[currency] = closing[::-1]
    return history


def get_balance_history(account: Account, *, days: int = 30) -> list[BalanceDay]:
    """Closing balances of one account over the last ``days`` days."""
    accounts = Account.objects.filter(pk=account.pk)
    return list_balance_history(accounts, days=days)[account.currency]
