"""Charts drawn on the server as SVG: no script, nothing fetched at run time.

One place for the drawing of every chart of the portal (the account page's
balance history, a pool's utilisation, an asset's utilisation and share
coverage): pixel positions in ``Decimal`` like everything near money, a title,
axes with their labels and ticks (dates as the person's own days, the zone
named), a legend, an empty state, and a text alternative (``<title>``,
``<desc>`` and a table of the values) for whoever cannot see the picture.

Callers hand over series already aggregated by a selector (one value per
day); this module only places them. Templates:
``admin/includes/chart.html`` (a line chart) and
``admin/includes/meter.html`` (a bar: part of a whole, the numbers beside it).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal

from django.utils.translation import gettext_lazy as _

from billing_portal.money import format_amount
from billing_portal.timezones import zone_label

#: The drawing's own coordinates (the SVG scales to its box, text with it).
WIDTH, HEIGHT = 720, 240
#: Room around the plot for the value ticks (left) and the dates (below).
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 26, 40
DATE_FORMAT = "%Y-%m-%d"  # the portal's one date format (timezones.INSTANT_FORMAT)
PERCENT = Decimal("0.1")

Number = Decimal | int


def x_at(n: int, count: int, *, left: Number = 0, width: Number = WIDTH) -> Decimal:
    """The x pixel of the ``n``-th of ``count`` evenly spaced points."""
    return Decimal(left) + Decimal(width) * n / max(count - 1, 1)


def y_at(
    value: Number, low: Number, high: Number, *, top: Number = 0, height: Number
) -> Decimal:
    """The y pixel of ``value`` on a scale from ``low`` (bottom) to ``high``
    (top); ``high == low`` draws at the bottom."""
    span = Decimal(high - low) or Decimal(1)
    return Decimal(top) + Decimal(height) - (Decimal(value) - low) / span * height


def point(x: Decimal, y: Decimal) -> str:
    return f"{x:.1f},{y:.1f}"


def percent(part: Number, whole: Number) -> Decimal | None:
    """``part`` of ``whole`` in percent to a tenth; None of nothing."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT)


def nice_step(value: Decimal, *, whole: bool = False) -> Decimal:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least
    ``value`` (whole numbers only, for counts)."""
    if value <= 0:
        return Decimal(1)
    base = Decimal(10) ** value.adjusted()
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        step = factor * base
        if whole and step != step.to_integral_value():
            continue
        if step >= value:
            return step
    return Decimal(10) * base  # not reached: ten times the base exceeds value


def value_ticks(high: Decimal, *, whole: bool = False) -> list[Decimal]:
    """At most six ticks from 0 (five steps of a round size) up to the first
    one at or above ``high``."""
    step = nice_step(high / 5, whole=whole)
    if whole:
        step = max(step, Decimal(1))
    steps = int((high / step).to_integral_value(rounding=ROUND_CEILING)) or 1
    return [step * n for n in range(steps + 1)]


def date_ticks(days: Sequence[date], count: int = 5) -> list[int]:
    """Indexes of at most ``count`` evenly spread days, first and last included."""
    if len(days) <= 1:
        return list(range(len(days)))
    last = len(days) - 1
    return sorted({round(last * n / (count - 1)) for n in range(count)})


@dataclass
class Series:
    """One line: a value per day (``None`` where there is none)."""

    label: str
    colour: str
    values: Sequence[Decimal | int | None]
    dashed: bool = False
    #: A state that changes at instants (a balance, a count): drawn level
    #: until the day it changed, not as a slope between two days' values.
    step: bool = False


def format_count(value) -> str:
    return str(int(value))


def format_percent(value) -> str:
    return f"{Decimal(value).quantize(PERCENT)} %"


def line_chart(
    *,
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    y_label: str,
    description: str,
    fmt: Callable[[Decimal], str] = format_amount,
    whole: bool = False,
    reference: tuple[Decimal, str] | None = None,
    empty: str | None = None,
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None,
) -> dict:
    """The context of ``admin/includes/chart.html``: one line per series over
    ``days`` on a scale from 0, the ticks, the legend (with each series' last
    value) and the table of values (``table`` = headers and rows, else the
    series by day). ``reference`` is a level drawn dashed across the plot (a
    limit) when it fits a scale up to twice the data, else only named.
    ``empty`` (a sentence) replaces the drawing when there is nothing to show."""
    if empty or not days:
        return empty_chart(chart_id, title, empty or _("Nothing to show yet."))
    chart = {"id": chart_id, "title": title, "empty": None}
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    data_high = max(
        (Decimal(v) for s in series for v in s.values if v is not None),
        default=Decimal(0),
    )
    drawn_reference = None
    if reference is not None and reference[0] <= max(data_high, Decimal(1)) * 2:
        drawn_reference = reference
    high = max(data_high, drawn_reference[0] if drawn_reference else Decimal(0))
    ticks = value_ticks(high, whole=whole)
    low, high = Decimal(0), ticks[-1]
    count = len(days)
    if count == 1:  # one day: a dot in the middle
        xs = [Decimal(LEFT) + Decimal(width) / 2]
    else:
        xs = [x_at(n, count, left=LEFT, width=width) for n in range(count)]

    def y(value) -> Decimal:
        return y_at(value, low, high, top=TOP, height=height)

    lines = []
    for s in series:
        points: list[tuple[Decimal, Decimal]] = []
        for n, v in enumerate(s.values):
            if v is None:
                continue
            if s.step and points:
                points.append((xs[n], points[-1][1]))
            points.append((xs[n], y(v)))
        last = next((v for v in reversed(s.values) if v is not None), None)
        lines.append(
            {
                "label": s.label,
                "colour": s.colour,
                "dashed": s.dashed,
                "points": " ".join(point(px, py) for px, py in points),
                "end": {"x": f"{points[-1][0]:.1f}", "y": f"{points[-1][1]:.1f}"}
                if points
                else None,
                "last": None if last is None else fmt(Decimal(last)),
            }
        )
    last_index = count - 1
    chart.update(
        width=WIDTH,
        height=HEIGHT,
        plot={"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": TOP + height},
        description=description,
        lines=lines,
        y_label=y_label,
        x_label=_("Date (%(zone)s)") % {"zone": zone_label()},
        y_ticks=[{"y": f"{y(t):.1f}", "label": fmt(t)} for t in ticks],
        x_ticks=[
            {
                "x": f"{xs[n]:.1f}",
                "label": days[n].strftime(DATE_FORMAT),
                "anchor": "start"
                if n == 0 and count > 1
                else "end"
                if n == last_index and count > 1
                else "middle",
            }
            for n in date_ticks(days)
        ],
        reference=None
        if reference is None
        else {
            "label": reference[1],
            "value": fmt(reference[0]),
            "drawn": drawn_reference is not None,
            "y": f"{y(reference[0]):.1f}" if drawn_reference else None,
        },
        first=days[0],
        last=days[-1],
    )
    if table is None:
        headers = [str(_("Date")), *(str(s.label) for s in series)]
        rows = [
            [
                day.strftime(DATE_FORMAT),
                *(_cell(s.values[n], fmt) for s in series),
            ]
            for n, day in enumerate(days)
        ]
        table = (headers, rows)
    chart["table"] = {"headers": table[0], "rows": table[1]}
    return chart


def empty_chart(chart_id: str, title: str, sentence: str) -> dict:
    """A chart that says why there is nothing to draw (``sentence``)."""
    return {"id": chart_id, "title": title, "empty": sentence}


def _cell(value, fmt) -> str:
    return "—" if value is None else fmt(Decimal(value))


def meter(
    *, meter_id: str, part: Decimal, whole: Decimal, text: str, colour: str
) -> dict:
    """The context of ``admin/includes/meter.html``: a bar filled to ``part``
    of ``whole`` with ``text`` (the numbers) beside it."""
    share = percent(part, whole)
    fill = min(max(share or Decimal(0), Decimal(0)), Decimal(100))
    return {
        "id": meter_id,
        "percent": share,
        "fill": f"{fill:.1f}",
        "text": text,
        "colour": colour,
    }
