"""The account page's own panels, through ``ACCOUNT_PAGE_PANELS`` like other
apps' (see ``accounts.admin.accounts._extra_panels``), and the balance chart
they share with the home page (``accounts.admin.home``)."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from billing_portal.charts import point as svg_point
from billing_portal.charts import x_at, y_at

from .. import selectors

WIDTH, HEIGHT, PAD = 640, 180, 8
SERIES = (
    # (key, label, colour)
    ("cash", _("Cash balance"), "#2f6f9f"),
    ("transferred_in", _("Transferred in"), "#7a9f2f"),
    ("uncleared", _("Uncleared"), "#b5562d"),
    ("available", _("Available (at today's credit limit)"), "#6b4c9a"),
)
CHART_TEMPLATE = "admin/accounts/includes/balance_history_panel.html"


def balance_chart(history, *, limit: Decimal, currency: str, height=HEIGHT) -> dict:
    """Closing balances per day (``selectors.BalanceDay``) as the polylines of a
    server-side SVG (no script, nothing fetched from the internet), with the
    numbers of the last day; ``limit``: today's credit limit (for Available)."""
    values = {
        "cash": [d.cash for d in history],
        "transferred_in": [d.transferred_in for d in history],
        "uncleared": [d.uncleared for d in history],
        "available": [d.cash + limit - d.uncleared for d in history],
    }
    low = min(min(v) for v in values.values())
    high = max(max(v) for v in values.values())

    def point(n: int, value: Decimal) -> str:
        # Pixels, computed in Decimal like everything near money (charts.py).
        x = x_at(n, len(history), left=PAD, width=WIDTH - 2 * PAD)
        y = y_at(value, low, high, top=PAD, height=height - 2 * PAD)
        return svg_point(x, y)

    return {
        "lines": [
            {
                "label": label,
                "colour": colour,
                "points": " ".join(point(n, v) for n, v in enumerate(values[key])),
                "last": values[key][-1],
            }
            for key, label, colour in SERIES
        ],
        "first": history[0].day,
        "last": history[-1].day,
        "low": low,
        "high": high,
        "width": WIDTH,
        "height": height,
        "currency": currency,
    }


def balance_history_panel(account, user) -> dict:
    """The last 30 days of the account's balances."""
    history = selectors.get_balance_history(account)
    return {
        "id": "balance-history",
        "title": _("Balances over the last 30 days"),
        "template": CHART_TEMPLATE,
        "context": {
            "chart": balance_chart(
                history, limit=account.credit_limit, currency=account.currency
            )
        },
    }
