"""The asset page's pictures (issue 12): utilisation over time (what is left
of an SCU package or a coupon each day; the share of each day's hours a
savings plan or reserved instance was drawn on) and share coverage (how many
accounts received the asset each day, against the limit of 100). Selectors
aggregate (``get_remaining_history``, ``get_hourly_use_history``,
``get_share_coverage``); ``billing_portal.charts`` draws."""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from billing_portal import charts
from billing_portal.money import format_amount

from .. import selectors
from ..models import RECIPIENT_LIMIT, Asset, SharePeriod

REMAINING, USED, RECIPIENTS = "#2f6f9f", "#b5562d", "#7a9f2f"
THOUSANDTH = Decimal("0.001")


def format_units(value) -> str:
    """Instance-hours to at most three places: ``2``, ``0.5``."""
    return f"{Decimal(value).quantize(THOUSANDTH).normalize():f}"


def asset_pictures(
    asset: Asset, periods: QuerySet[SharePeriod], *, now: datetime, owner_view: bool
) -> dict:
    """``utilisation_chart`` and ``coverage_chart`` for the asset page;
    ``periods`` are the share periods the user may see."""
    window = selectors.get_asset_history_days(asset)
    if window is None:
        empty = _("The asset is not valid yet: nothing to show before it begins.")
        return {
            "utilisation_chart": charts.empty_chart(
                "asset-utilisation-chart", _title(asset), empty
            ),
            "coverage_chart": charts.empty_chart(
                "asset-coverage-chart", _("Share coverage over time"), empty
            ),
        }
    first, last = window
    return {
        "utilisation_chart": _capacity_chart(asset, first, last)
        if asset.has_capacity_book
        else _hourly_chart(asset, first, last, now),
        "coverage_chart": _coverage_chart(periods, first, last, now, owner_view),
    }


def _title(asset: Asset) -> str:
    if asset.has_capacity_book:
        return _("Utilisation over time")
    return _("Utilisation per day")


def _span(first, last) -> dict:
    return {
        "first": first.strftime(charts.DATE_FORMAT),
        "last": last.strftime(charts.DATE_FORMAT),
    }


def _capacity_chart(asset: Asset, first, last) -> dict:
    """What is left of an SCU package or a coupon at the end of each day,
    against its capacity."""
    history = selectors.get_remaining_history(asset, first, last)
    capacity = asset.capacity or Decimal(0)
    chart_id, title = "asset-utilisation-chart", _title(asset)
    known = [d.remaining for d in history if d.remaining is not None]
    if all(value == capacity for value in known):
        return charts.empty_chart(
            chart_id, title, _("Nothing deducted from this asset yet.")
        )
    days = [d.day for d in history]
    remaining = [d.remaining for d in history]
    end = known[-1]
    currency = asset.currency
    description = _(
        "From %(first)s to %(last)s: %(remaining)s of %(capacity)s %(currency)s "
        "left at the end (%(percent)s used)."
    ) % {
        **_span(days[0], days[-1]),
        "remaining": format_amount(end),
        "capacity": format_amount(capacity),
        "currency": currency,
        "percent": charts.format_percent(charts.percent(capacity - end, capacity)),
    }
    headers = [_("Date"), _("Remaining"), _("Used"), _("Utilisation")]
    rows = [
        [d.day.strftime(charts.DATE_FORMAT), "—", "—", "—"]
        if d.remaining is None
        else [
            d.day.strftime(charts.DATE_FORMAT),
            format_amount(d.remaining),
            format_amount(capacity - d.remaining),
            charts.format_percent(charts.percent(capacity - d.remaining, capacity)),
        ]
        for d in history
    ]
    return charts.line_chart(
        chart_id=chart_id,
        title=title,
        days=days,
        series=[charts.Series(_("Remaining"), REMAINING, remaining, step=True)],
        y_label=_("Amount (%(currency)s)") % {"currency": currency},
        description=description,
        reference=(
            capacity,
            _("Capacity: %(amount)s") % {"amount": format_amount(capacity)},
        ),
        table=(headers, rows),
    )


def _hourly_chart(asset: Asset, first, last, now) -> dict:
    """The share of each day's hours a savings plan or a reserved instance
    was drawn on: deducted ÷ offered by the hours of its validity that day."""
    history = selectors.get_hourly_use_history(asset, first, last, at=now)
    chart_id, title = "asset-utilisation-chart", _title(asset)
    if not any(d.used(asset) for d in history):
        return charts.empty_chart(
            chart_id, title, _("Nothing deducted from this asset yet.")
        )
    instances = asset.type == Asset.Type.RESERVED_INSTANCE
    fmt = format_units if instances else format_amount
    shares = [charts.percent(d.used(asset), d.offered(asset)) for d in history]
    used = sum((d.used(asset) for d in history), start=Decimal(0))
    offered = sum((d.offered(asset) for d in history), start=Decimal(0))
    busiest = max(
        (d for d in zip(history, shares, strict=True) if d[1] is not None),
        key=lambda pair: pair[1],
    )
    unit = _("instance-hours") if instances else asset.currency
    description = _(
        "From %(first)s to %(last)s: %(used)s of %(offered)s %(unit)s offered "
        "were deducted (%(percent)s); the busiest day was %(day)s (%(most)s)."
    ) % {
        **_span(history[0].day, history[-1].day),
        "used": fmt(used),
        "offered": fmt(offered),
        "unit": unit,
        "percent": charts.format_percent(charts.percent(used, offered)),
        "day": busiest[0].day.strftime(charts.DATE_FORMAT),
        "most": charts.format_percent(busiest[1]),
    }
    headers = [
        _("Date"),
        _("Deducted (%(unit)s)") % {"unit": unit},
        _("Offered (%(unit)s)") % {"unit": unit},
        _("Utilisation"),
    ]
    rows = [
        [
            d.day.strftime(charts.DATE_FORMAT),
            fmt(d.used(asset)),
            fmt(d.offered(asset)),
            "—" if share is None else charts.format_percent(share),
        ]
        for d, share in zip(history, shares, strict=True)
    ]
    return charts.line_chart(
        chart_id=chart_id,
        title=title,
        days=[d.day for d in history],
        series=[charts.Series(_("Deducted of what the day offered"), USED, shares)],
        y_label=_("Utilisation (%)"),
        description=description,
        fmt=charts.format_percent,
        table=(headers, rows),
    )


def _coverage_chart(
    periods: QuerySet[SharePeriod], first, last, now, owner_view: bool
) -> dict:
    """Accounts receiving the asset at the end of each day, the limit noted."""
    history = selectors.get_share_coverage(periods, first, last, at=now)
    chart_id, title = "asset-coverage-chart", _("Share coverage over time")
    if not any(d.recipients for d in history):
        return charts.empty_chart(
            chart_id, title, _("No account received this asset in these days.")
        )
    counts = [d.recipients for d in history]
    description = _(
        "From %(first)s to %(last)s: shared with %(end)s accounts at the end, "
        "at most %(most)s on one day; an asset is shared with at most "
        "%(limit)s accounts at once."
    ) % {
        **_span(history[0].day, history[-1].day),
        "end": counts[-1],
        "most": max(counts),
        "limit": RECIPIENT_LIMIT,
    }
    if not owner_view:
        description += " " + _("Only the accounts you can see are counted.")
    chart = charts.line_chart(
        chart_id=chart_id,
        title=title,
        days=[d.day for d in history],
        series=[
            charts.Series(_("Accounts receiving it"), RECIPIENTS, counts, step=True)
        ],
        y_label=_("Accounts"),
        description=description,
        fmt=charts.format_count,
        whole=True,
        reference=(
            Decimal(RECIPIENT_LIMIT),
            _("Limit: %(limit)s accounts at once") % {"limit": RECIPIENT_LIMIT},
        ),
    )
    chart["note"] = (
        None if owner_view else _("Only the accounts you can see are counted.")
    )
    return chart
