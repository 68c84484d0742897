"""The pool page's pictures (issue 12): how much of the pool is issued now
(a bar with the numbers beside it) and its utilisation since approval (issued,
revoked back and not yet issued, day by day, from the ledger). The numbers
come from ``selectors.get_pool_history``; ``billing_portal.charts`` draws."""

from django.utils.translation import gettext as _

from billing_portal import charts
from billing_portal.money import format_amount

from .. import selectors
from ..models import CreditPool

ISSUED, REVOKED, UNISSUED = "#2f6f9f", "#b5562d", "#7a9f2f"


def pool_pictures(pool: CreditPool) -> dict:
    """``pool_meter`` and ``pool_chart`` for the pool page."""
    approved = pool.status in (CreditPool.Status.APPROVED, CreditPool.Status.EXPIRED)
    outstanding = pool.issued_amount - pool.revoked_amount
    values = {
        "issued": format_amount(outstanding),
        "total": format_amount(pool.amount),
        "currency": pool.currency,
        "percent": charts.format_percent(charts.percent(outstanding, pool.amount)),
    }
    text = _("%(issued)s of %(total)s %(currency)s issued (%(percent)s)") % values
    if pool.revoked_amount:
        text += " " + _("— %(gross)s issued as coupons, %(revoked)s revoked back.") % {
            "gross": format_amount(pool.issued_amount),
            "revoked": format_amount(pool.revoked_amount),
        }
    return {
        "pool_meter": charts.meter(
            meter_id="pool-meter",
            part=outstanding,
            whole=pool.amount,
            text=text,
            colour=ISSUED,
        )
        if approved
        else None,
        "pool_chart": _pool_chart(pool, approved),
    }


def _pool_chart(pool: CreditPool, approved: bool) -> dict:
    title = _("Utilisation over time")
    if not approved:
        empty = (
            _("The pool was rejected: nothing was issued from it.")
            if pool.status == CreditPool.Status.REJECTED
            else _("Nothing can be issued before an operator approves the pool.")
        )
        return charts.empty_chart("pool-chart", title, empty)
    history = selectors.get_pool_history(pool)
    if not history or not history[-1].issued:
        return charts.empty_chart("pool-chart", title, _("No coupons issued yet."))
    days = [d.day for d in history]
    series = [
        charts.Series(
            _("Issued as coupons (total)"),
            ISSUED,
            [d.issued for d in history],
            step=True,
        ),
        charts.Series(
            _("Revoked back (total)"),
            REVOKED,
            [d.revoked for d in history],
            step=True,
        ),
        charts.Series(
            _("Not yet issued"), UNISSUED, [d.unissued for d in history], step=True
        ),
    ]
    end = history[-1]
    description = _(
        "From %(first)s to %(last)s: %(issued)s issued as coupons, %(revoked)s "
        "revoked back into the pool, %(unissued)s not yet issued at the end "
        "(%(currency)s)."
    ) % {
        "first": days[0].strftime(charts.DATE_FORMAT),
        "last": days[-1].strftime(charts.DATE_FORMAT),
        "issued": format_amount(end.issued),
        "revoked": format_amount(end.revoked),
        "unissued": format_amount(end.unissued),
        "currency": pool.currency,
    }
    headers = [
        _("Date"),
        *(str(s.label) for s in series),
        _("Issued and not revoked, of the total"),
    ]
    rows = [
        [
            d.day.strftime(charts.DATE_FORMAT),
            format_amount(d.issued),
            format_amount(d.revoked),
            format_amount(d.unissued),
            charts.format_percent(charts.percent(d.outstanding, pool.amount)),
        ]
        for d in history
    ]
    return charts.line_chart(
        chart_id="pool-chart",
        title=title,
        days=days,
        series=series,
        y_label=_("Amount (%(currency)s)") % {"currency": pool.currency},
        description=description,
        table=(headers, rows),
    )
