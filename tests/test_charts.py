"""The shared chart drawing (billing_portal/charts.py): scales, pixels in
Decimal, steps, the reference level and the empty state."""

from datetime import date, timedelta
from decimal import Decimal

from billing_portal import charts

D = Decimal


def test_value_ticks_are_round_and_cover_the_data():
    assert charts.value_ticks(D("9220.00")) == [D(n * 2000) for n in range(6)]
    assert charts.value_ticks(D("500.00")) == [D(n * 100) for n in range(6)]
    assert charts.value_ticks(D("5.8")) == [D(0), D(2), D(4), D(6)]
    # Counts: whole numbers only.
    assert charts.value_ticks(D(2), whole=True) == [D(0), D(1), D(2)]
    assert charts.value_ticks(D(0), whole=True) == [D(0), D(1)]


def test_pixels_are_decimal_and_exact():
    assert charts.x_at(1, 3, left=10, width=100) == D(60)
    assert charts.y_at(D(25), D(0), D(100), top=10, height=200) == D(160)
    assert charts.y_at(D(5), D(5), D(5), height=200) == D(200)  # flat: the bottom


def days(n):
    return [date(2026, 11, 1) + timedelta(days=k) for k in range(n)]


def test_a_step_series_stays_level_until_the_day_it_changed():
    chart = charts.line_chart(
        chart_id="c",
        title="t",
        days=days(3),
        series=[charts.Series("s", "#000", [D(0), D(0), D(4)], step=True)],
        y_label="y",
        description="d",
    )
    points = [p.split(",") for p in chart["lines"][0]["points"].split()]
    assert len(points) == 5
    assert points[3][1] == points[2][1]  # level to the third day
    assert points[4][1] != points[3][1]  # then up
    assert points[3][0] == points[4][0]
    assert chart["table"]["rows"][2] == ["2026-11-03", "4.00"]


def test_a_reference_far_above_the_data_is_named_not_drawn():
    chart = charts.line_chart(
        chart_id="c",
        title="t",
        days=days(2),
        series=[charts.Series("n", "#000", [1, 2])],
        y_label="y",
        description="d",
        fmt=charts.format_count,
        whole=True,
        reference=(D(100), "limit"),
    )
    assert chart["reference"]["drawn"] is False
    assert [t["label"] for t in chart["y_ticks"]] == ["0", "1", "2"]
    near = charts.line_chart(
        chart_id="c",
        title="t",
        days=days(2),
        series=[charts.Series("n", "#000", [D(60), D(80)])],
        y_label="y",
        description="d",
        reference=(D(100), "limit"),
    )
    assert near["reference"]["drawn"] is True
    assert near["y_ticks"][-1]["label"] == "100.00"


def test_nothing_to_show_is_a_sentence_not_a_drawing():
    chart = charts.line_chart(
        chart_id="c",
        title="t",
        days=[],
        series=[],
        y_label="",
        description="",
        empty="Nothing here.",
    )
    assert chart["empty"] == "Nothing here."
    assert "lines" not in chart


def test_meter_fills_to_the_share_and_not_past_the_whole():
    meter = charts.meter(
        meter_id="m", part=D("780.00"), whole=D("10000.00"), text="x", colour="#000"
    )
    assert (meter["percent"], meter["fill"]) == (D("7.8"), "7.8")
    full = charts.meter(meter_id="m", part=D(12), whole=D(10), text="x", colour="#000")
    assert full["fill"] == "100.0"
