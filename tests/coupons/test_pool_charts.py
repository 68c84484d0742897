"""The pool page's pictures (issue 12 "Pictures"): utilisation over time from
the ledger (issued, revoked back, not yet issued per day, in the user's days)
and the bar of what is issued now, with their text alternatives, empty states,
a bounded window and a pinned number of statements."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing_portal.models import UserPreference
from coupons.selectors import POOL_HISTORY_DAYS, get_pool_history
from coupons.services import issue_coupons, revoke_coupon
from tests.accounts.conftest_admin import parse, table_rows
from tests.coupon_fixtures import NOW

pytestmark = pytest.mark.django_db
D = Decimal
BEIJING = ZoneInfo("Asia/Shanghai")
TODAY = timezone.now().astimezone(BEIJING).date()


def beijing(days_ago: int, hour: int, minute: int = 0) -> datetime:
    """An instant of a Beijing day before today (always in the past)."""
    return datetime.combine(
        TODAY - timedelta(days=days_ago), time(hour, minute), tzinfo=BEIJING
    )


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


def day(days_ago: int) -> str:
    return f"{TODAY - timedelta(days=days_ago):%Y-%m-%d}"


@pytest.fixture
def story(make_pool, enterprise, owner):
    """A 10000.00 pool approved six Beijing days ago; two coupons of 1000.00
    at noon four days ago, one of 500.00 at 23:30 that day (15:30 UTC, the same
    day in both zones), and a 1000.00 coupon revoked back at 00:30 two days
    ago in Beijing (16:30 UTC the day before)."""
    manager = enterprise[0]
    with at(beijing(6, 12)):
        pool = make_pool(
            amount="10000.00",
            valid_from=NOW - timedelta(days=30),
            valid_until=NOW + timedelta(days=30),
        )

    def issue(count, face):
        return issue_coupons(
            pool=pool, accounts=[manager], count=count, face_value=D(face), actor=owner
        )

    with at(beijing(4, 12)):
        first, _second = issue(2, "1000.00")
    with at(beijing(4, 23, 30)):
        issue(1, "500.00")
    with at(beijing(2, 0, 30)):
        revoke_coupon(coupon=first, actor=owner)
    pool.refresh_from_db()
    return pool


def by_day(history):
    return {f"{d.day:%Y-%m-%d}": (d.issued, d.revoked, d.unissued) for d in history}


def test_history_runs_the_ledger_up_day_by_day_in_beijing(story):
    with timezone.override("Asia/Shanghai"):
        history = get_pool_history(story)
    assert [f"{d.day:%Y-%m-%d}" for d in history] == [day(n) for n in range(6, -1, -1)]
    assert [(d.issued, d.revoked, d.unissued) for d in history] == [
        (D("0.00"), D("0.00"), D("10000.00")),  # approved
        (D("0.00"), D("0.00"), D("10000.00")),
        (D("2500.00"), D("0.00"), D("7500.00")),  # 2 x 1000.00 + 500.00
        (D("2500.00"), D("0.00"), D("7500.00")),
        (D("2500.00"), D("1000.00"), D("8500.00")),  # revoked at 00:30
        (D("2500.00"), D("1000.00"), D("8500.00")),
        (D("2500.00"), D("1000.00"), D("8500.00")),  # today
    ]
    assert history[-1].outstanding == D("1500.00")
    # The cached balances agree with the ledger's last day.
    assert (story.issued_amount, story.revoked_amount, story.remaining) == (
        history[-1].issued,
        history[-1].revoked,
        history[-1].unissued,
    )


def test_the_same_revocation_is_on_its_utc_day_for_a_utc_user(story):
    with timezone.override("UTC"):
        rows = by_day(get_pool_history(story))
    utc_day = (beijing(2, 0, 30).astimezone(ZoneInfo("UTC"))).date()
    assert rows[f"{utc_day:%Y-%m-%d}"] == (D("2500.00"), D("1000.00"), D("8500.00"))
    before = f"{utc_day - timedelta(days=1):%Y-%m-%d}"
    assert rows[before] == (D("2500.00"), D("0.00"), D("7500.00"))


def test_a_long_lived_pool_shows_its_last_year_with_what_came_before(
    make_pool, enterprise, owner
):
    with at(beijing(400, 12)):
        pool = make_pool(
            amount="900.00",
            valid_from=NOW - timedelta(days=500),
            valid_until=NOW + timedelta(days=30),
        )
    with at(beijing(390, 12)):
        issue_coupons(
            pool=pool,
            accounts=[enterprise[0]],
            count=1,
            face_value=D("300.00"),
            actor=owner,
        )
    with at(beijing(3, 12)):
        issue_coupons(
            pool=pool,
            accounts=[enterprise[0]],
            count=1,
            face_value=D("100.00"),
            actor=owner,
        )
    with timezone.override("Asia/Shanghai"):
        history = get_pool_history(pool)
    assert len(history) == POOL_HISTORY_DAYS
    assert f"{history[0].day:%Y-%m-%d}" == day(POOL_HISTORY_DAYS - 1)
    # What happened before the window is carried into its first day.
    assert (history[0].issued, history[0].unissued) == (D("300.00"), D("600.00"))
    assert (history[-1].issued, history[-1].unissued) == (D("400.00"), D("500.00"))


def test_a_pool_never_approved_has_no_history(make_pool):
    assert get_pool_history(make_pool(approve=False)) == []


# --- on the page ---------------------------------------------------------------------


def page_of(client, user, pool, zone="Asia/Shanghai", **headers):
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": zone})
    client.force_login(user)
    response = client.get(
        reverse("admin:coupons_creditpool_change", args=[pool.pk]), **headers
    )
    assert response.status_code == 200
    return response


def test_the_pool_page_draws_utilisation_with_its_numbers(client, story, owner):
    root = parse(page_of(client, owner, story))
    panel = root.find("section", id="pool-utilisation")
    assert panel.find(id="pool-meter").text == (
        "1500.00 of 10000.00 CNY issued (15.0 %) — 2500.00 issued as coupons, "
        "1000.00 revoked back."
    )
    bar = panel.find(id="pool-meter").find("span")
    assert "width: 15.0%" in bar.attrs["style"]
    chart = panel.find("figure", id="pool-chart")
    svg = chart.find("svg")
    assert svg.find("title").text == "Utilisation over time"
    assert svg.find("desc").text == (
        f"From {day(6)} to {day(0)}: 2500.00 issued as coupons, 1000.00 revoked "
        "back into the pool, 8500.00 not yet issued at the end (CNY)."
    )
    assert svg.attrs["aria-labelledby"] == "pool-chart-title pool-chart-desc"
    assert len(svg.find_all("polyline")) == 3
    labels = [t.text for t in svg.find_all("text")]
    assert "Date (CST)" in labels  # the user's zone, named
    assert "Amount (CNY)" in labels
    assert day(6) in labels
    assert day(0) in labels
    legend = [li.text for li in chart.find("ul").find_all("li")]
    assert legend == [
        "Issued as coupons (total): 2500.00",
        "Revoked back (total): 1000.00",
        "Not yet issued: 8500.00",
    ]
    rows = table_rows(chart.find("table"))
    assert rows[0] == [
        "Date",
        "Issued as coupons (total)",
        "Revoked back (total)",
        "Not yet issued",
        "Issued and not revoked, of the total",
    ]
    assert rows[1] == [day(6), "0.00", "0.00", "10000.00", "0.0 %"]
    assert rows[3] == [day(4), "2500.00", "0.00", "7500.00", "25.0 %"]
    assert rows[5] == [day(2), "2500.00", "1000.00", "8500.00", "15.0 %"]
    assert len(rows) == 1 + 7


def test_the_chart_lines_rise_and_fall_with_the_amounts(client, story, owner):
    svg = parse(page_of(client, owner, story)).find("figure", id="pool-chart")
    # Each day's vertex; between two, the level of the day before (a step).
    issued, revoked, unissued = (
        [tuple(map(Decimal, p.split(","))) for p in line.attrs["points"].split()][::2]
        for line in svg.find_all("polyline")
    )
    assert len(issued) == len(revoked) == len(unissued) == 7
    # y grows downwards: the issued line climbs on day -4, the unissued one
    # falls that day and climbs back when the coupon is revoked.
    assert issued[2][1] < issued[1][1]
    assert issued[4][1] == issued[2][1]
    assert unissued[2][1] > unissued[1][1]
    assert unissued[4][1] < unissued[3][1]
    assert revoked[4][1] < revoked[3][1]
    assert [p[0] for p in issued] == sorted(p[0] for p in issued)


def test_empty_states(client, make_pool, owner):
    approved = make_pool(amount="1000.00")
    root = parse(page_of(client, owner, approved))
    chart = root.find("figure", id="pool-chart")
    assert chart.find("svg") is None
    assert chart.find("p").text == "No coupons issued yet."
    assert root.find(id="pool-meter").text == "0.00 of 1000.00 CNY issued (0.0 %)"

    requested = make_pool(approve=False)
    root = parse(page_of(client, owner, requested))
    assert root.find(id="pool-meter") is None
    assert root.find("figure", id="pool-chart").find("p").text == (
        "Nothing can be issued before an operator approves the pool."
    )


def test_the_pictures_speak_chinese(client, story, owner):
    root = parse(page_of(client, owner, story, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    chart = root.find("figure", id="pool-chart")
    assert chart.find("svg").find("title").text == "使用情况随时间的变化"
    assert root.find(id="pool-meter").text.startswith(
        "已发放 1500.00 / 10000.00 CNY（15.0 %）"
    )
    assert "日期（CST）" in [t.text for t in chart.find_all("text")]


def chart_statements(client, pool) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            reverse("admin:coupons_creditpool_change", args=[pool.pk])
        )
    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    return len(sql), sum("generate_series" in s for s in sql)


def test_the_chart_costs_one_statement_whatever_the_history(
    client, story, make_pool, enterprise, owner
):
    with at(beijing(5, 9)):
        quiet = make_pool(amount="5000.00", valid_from=NOW - timedelta(days=30))
    with at(beijing(3, 9)):
        issue_coupons(
            pool=quiet,
            accounts=[enterprise[0]],
            count=1,
            face_value=D("10.00"),
            actor=owner,
        )
    page_of(client, owner, story)  # signed in, the session warm
    busy_total, busy_charts = chart_statements(client, story)
    quiet_total, quiet_charts = chart_statements(client, quiet)
    assert busy_charts == quiet_charts == 1
    assert busy_total == quiet_total
