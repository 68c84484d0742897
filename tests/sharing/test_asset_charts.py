"""The asset page's pictures (issue 12 "Pictures"): utilisation over time
(an SCU package's remaining book from the ledger; a savings plan's or reserved
instance's share of each day's hours from its hour buckets) and share coverage
(recipients per day from the share periods, the limit of 100 noted), in the
user's days, with their text alternatives, empty states and a pinned number
of statements."""

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
from sharing import selectors
from sharing.services import share_with_accounts, stop_share
from tests.accounts.conftest_admin import parse, table_rows

pytestmark = pytest.mark.django_db
D = Decimal
BEIJING = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
TODAY = timezone.now().astimezone(BEIJING).date()


def beijing(days_ago: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant of a Beijing day (days_ago >= 1: always in the past)."""
    return datetime.combine(
        TODAY - timedelta(days=days_ago), time(hour, minute), tzinfo=BEIJING
    )


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


def day(days_ago: int) -> str:
    return f"{TODAY - timedelta(days=days_ago):%Y-%m-%d}"


def history_in(zone, asset, fetch, **kwargs):
    with timezone.override(zone):
        first, last = selectors.get_asset_history_days(asset)
        return fetch(asset, first, last, **kwargs)


@pytest.fixture
def accounts(make_account, owner, grant):
    a, b, c, d = (make_account(name=n) for n in ("Main", "Web", "Data", "Dev"))
    for account in (a, b, c, d):
        grant(owner, account, "owner")
    return a, b, c, d


# --- an SCU package: its remaining book -----------------------------------------------


@pytest.fixture
def scu(accounts, provision, use):
    """300.00 valid from twelve Beijing days ago, provisioned eight days ago;
    40.00 used at noon six days ago, 60.00 at 23:30 three days ago."""
    main = accounts[0]
    with at(beijing(8, 12)):
        package = provision(
            "scu_package",
            main,
            capacity="300.00",
            valid_from=beijing(12),
            valid_until=beijing(-20),
        )
    with at(beijing(6, 12)):
        use(main, "40.00", at=beijing(6, 12))
    with at(beijing(3, 23, 30)):
        use(main, "60.00", at=beijing(3, 23, 30))
    package.refresh_from_db()
    return package


def test_remaining_book_day_by_day_from_the_ledger(scu):
    history = history_in("Asia/Shanghai", scu, selectors.get_remaining_history)
    assert [f"{d.day:%Y-%m-%d}" for d in history] == [day(n) for n in range(12, -1, -1)]
    assert [d.remaining for d in history] == [
        *[None] * 4,  # valid, not provisioned yet: nothing on the ledger
        *[D("300.00")] * 2,
        *[D("260.00")] * 3,
        *[D("200.00")] * 4,  # 23:30 in Beijing is still that day
    ]
    assert history[-1].remaining == scu.remaining


def test_the_asset_page_draws_what_is_left(client, scu, owner):
    root = parse(page_of(client, owner, scu))
    chart = root.find("figure", id="asset-utilisation-chart")
    svg = chart.find("svg")
    assert svg.find("title").text == "Utilisation over time"
    assert svg.find("desc").text == (
        f"From {day(12)} to {day(0)}: 200.00 of 300.00 CNY left at the end "
        "(33.3 % used)."
    )
    # Nine days provisioned, drawn as steps: a vertex each day, one between.
    assert [len(p.attrs["points"].split()) for p in svg.find_all("polyline")] == [17]
    labels = [t.text for t in svg.find_all("text")]
    assert "Date (CST)" in labels
    assert "Capacity: 300.00" in labels  # the capacity, drawn as a level
    assert [li.text for li in chart.find("ul").find_all("li")] == [
        "Remaining: 200.00",
        "Capacity: 300.00",
    ]
    rows = table_rows(chart.find("table"))
    assert rows[0] == ["Date", "Remaining", "Used", "Utilisation"]
    assert rows[1] == [day(12), "—", "—", "—"]
    assert rows[5] == [day(8), "300.00", "0.00", "0.0 %"]
    assert rows[7] == [day(6), "260.00", "40.00", "13.3 %"]
    assert rows[-1] == [day(0), "200.00", "100.00", "33.3 %"]


def test_an_unused_package_and_one_not_valid_yet_say_so(
    client, accounts, owner, provision
):
    unused = provision("scu_package", accounts[0], capacity="50.00")
    chart = parse(page_of(client, owner, unused)).find(
        "figure", id="asset-utilisation-chart"
    )
    assert chart.find("svg") is None
    assert chart.find("p").text == "Nothing deducted from this asset yet."
    future = provision(
        "scu_package",
        accounts[0],
        capacity="50.00",
        valid_from=timezone.now() + timedelta(days=3),
        valid_until=timezone.now() + timedelta(days=30),
    )
    root = parse(page_of(client, owner, future))
    for chart_id in ("asset-utilisation-chart", "asset-coverage-chart"):
        assert root.find("figure", id=chart_id).find("p").text == (
            "The asset is not valid yet: nothing to show before it begins."
        )


# --- hourly assets: the share of each day's hours -------------------------------------


def test_a_savings_plans_days_sum_its_hour_buckets(accounts, provision, use):
    main = accounts[0]
    plan = provision(
        "savings_plan",
        main,
        commitment_per_hour="10.00",
        valid_from=beijing(3),
        valid_until=beijing(-300),
    )
    use(main, "25.00", at=beijing(2, 10, 5))  # 10.00 of the 10:00 hour
    use(main, "4.00", at=beijing(2, 11, 5))
    use(main, "6.00", at=beijing(1, 0, 30))  # 16:30 UTC the day before
    now = timezone.now()
    history = history_in(
        "Asia/Shanghai", plan, selectors.get_hourly_use_history, at=now
    )
    assert [f"{d.day:%Y-%m-%d}" for d in history] == [day(n) for n in (3, 2, 1, 0)]
    hours_today = now.astimezone(BEIJING).hour + 1  # the current hour counts whole
    assert [(d.hours, d.used(plan), d.offered(plan)) for d in history] == [
        (24, D("0.00"), D("240.00")),
        (24, D("14.00"), D("240.00")),
        (24, D("6.00"), D("240.00")),
        (hours_today, D("0.00"), D("10.00") * hours_today),
    ]
    # The hours agree with the utilisation shown beside the chart.
    utilisation = selectors.get_utilisation(plan, at=now)
    assert sum(d.hours for d in history) == utilisation.hours
    assert sum(d.drawn for d in history) == utilisation.used
    # A UTC user's days: the 00:30 Beijing usage is on the day before.
    utc = {
        f"{d.day:%Y-%m-%d}": d.drawn
        for d in history_in("UTC", plan, selectors.get_hourly_use_history, at=now)
    }
    utc_day = beijing(1, 0, 30).astimezone(UTC).date()
    assert utc[f"{utc_day:%Y-%m-%d}"] == D("20.00")  # 14.00 + 6.00


def test_the_page_shows_each_days_share_of_the_hours(
    client, accounts, owner, provision, use
):
    main = accounts[0]
    plan = provision(
        "savings_plan",
        main,
        commitment_per_hour="10.00",
        valid_from=beijing(3),
        valid_until=beijing(-300),
    )
    use(main, "25.00", at=beijing(2, 10, 5))
    use(main, "4.00", at=beijing(2, 11, 5))
    chart = parse(page_of(client, owner, plan)).find(
        "figure", id="asset-utilisation-chart"
    )
    svg = chart.find("svg")
    assert svg.find("title").text == "Utilisation per day"
    desc = svg.find("desc").text
    assert desc.startswith(f"From {day(3)} to {day(0)}: 14.00 of ")
    assert desc.endswith(f"the busiest day was {day(2)} (5.8 %).")
    labels = [t.text for t in svg.find_all("text")]
    assert "6.0 %" in labels  # the scale fits the busiest day
    assert "Utilisation (%)" in labels
    rows = table_rows(chart.find("table"))
    assert rows[0] == ["Date", "Deducted (CNY)", "Offered (CNY)", "Utilisation"]
    assert rows[1] == [day(3), "0.00", "240.00", "0.0 %"]
    assert rows[2] == [day(2), "14.00", "240.00", "5.8 %"]


def test_a_reserved_instance_counts_instance_hours(
    client, accounts, owner, provision, use
):
    main = accounts[0]
    reserved = provision(
        "reserved_instance",
        main,
        instance_type="ecs.g7.large",
        region="cn-hangzhou",
        count=2,
        valid_from=beijing(2),
        valid_until=beijing(-300),
    )
    use(
        main,
        "12.00",
        at=beijing(1, 10, 5),
        instance_type="ecs.g7.large",
        region="cn-hangzhou",
        quantity=D("1"),
    )
    chart = parse(page_of(client, owner, reserved)).find(
        "figure", id="asset-utilisation-chart"
    )
    rows = table_rows(chart.find("table"))
    assert rows[0] == [
        "Date",
        "Deducted (instance-hours)",
        "Offered (instance-hours)",
        "Utilisation",
    ]
    assert rows[1] == [day(2), "0", "48", "0.0 %"]
    assert rows[2] == [day(1), "1", "48", "2.1 %"]


# --- share coverage -------------------------------------------------------------------


@pytest.fixture
def shared_plan(accounts, provision, owner):
    """A plan valid from six Beijing days ago, shared with Web and Data at
    noon five days ago; Data stopped at 23:30 three days ago (15:30 UTC, the
    same day); Dev added at 00:30 one day ago (16:30 UTC the day before)."""
    main, web, data, dev = accounts
    plan = provision(
        "savings_plan",
        main,
        commitment_per_hour="10.00",
        valid_from=beijing(6),
        valid_until=beijing(-300),
    )
    with at(beijing(5, 12)):
        share_with_accounts(asset=plan, accounts=[web, data], actor=owner)
    with at(beijing(3, 23, 30)):
        stop_share(asset=plan, account=data, actor=owner)
    with at(beijing(1, 0, 30)):
        share_with_accounts(asset=plan, accounts=[dev], actor=owner)
    return plan


def coverage(zone, plan, periods=None):
    with timezone.override(zone):
        first, last = selectors.get_asset_history_days(plan)
        history = selectors.get_share_coverage(
            periods if periods is not None else plan.periods.all(), first, last
        )
    return {f"{d.day:%Y-%m-%d}": d.recipients for d in history}


def test_recipients_at_the_end_of_each_beijing_day(shared_plan):
    assert coverage("Asia/Shanghai", shared_plan) == {
        day(6): 0,
        day(5): 2,
        day(4): 2,
        day(3): 1,  # Data stopped before the day ended
        day(2): 1,
        day(1): 2,  # Dev from 00:30
        day(0): 2,
    }


def test_the_same_share_is_on_its_utc_day_for_a_utc_user(shared_plan):
    counts = coverage("UTC", shared_plan)
    dev_day = beijing(1, 0, 30).astimezone(UTC).date()
    assert counts[f"{dev_day:%Y-%m-%d}"] == 2
    assert counts[f"{dev_day - timedelta(days=1):%Y-%m-%d}"] == 1


def test_the_page_draws_coverage_with_the_limit_noted(client, shared_plan, owner):
    chart = parse(page_of(client, owner, shared_plan)).find(
        "figure", id="asset-coverage-chart"
    )
    svg = chart.find("svg")
    assert svg.find("title").text == "Share coverage over time"
    assert svg.find("desc").text == (
        f"From {day(6)} to {day(0)}: shared with 2 accounts at the end, at most "
        "2 on one day; an asset is shared with at most 100 accounts at once."
    )
    labels = [t.text for t in svg.find_all("text")]
    assert [t for t in labels if t.isdigit()] == ["0", "1", "2"]  # whole accounts
    assert "Accounts" in labels
    assert [li.text for li in chart.find("ul").find_all("li")] == [
        "Accounts receiving it: 2",
        "Limit: 100 accounts at once (above the scale)",
    ]
    rows = table_rows(chart.find("table"))
    assert rows[0] == ["Date", "Accounts receiving it"]
    assert [r[1] for r in rows[1:]] == ["0", "2", "2", "1", "1", "2", "2"]


def test_a_recipients_administrator_counts_only_its_own_accounts(
    client, shared_plan, accounts, grant
):
    from tests.factories import UserFactory

    web_admin = UserFactory(username="web-admin")
    grant(web_admin, accounts[1], "owner")
    chart = parse(page_of(client, web_admin, shared_plan)).find(
        "figure", id="asset-coverage-chart"
    )
    assert chart.find("p").text == "Only the accounts you can see are counted."
    rows = table_rows(chart.find("table"))
    assert [r[1] for r in rows[1:]] == ["0", "1", "1", "1", "1", "1", "1"]


def test_an_asset_never_shared_says_so(client, accounts, owner, provision):
    plan = provision("savings_plan", accounts[0], commitment_per_hour="1.00")
    chart = parse(page_of(client, owner, plan)).find(
        "figure", id="asset-coverage-chart"
    )
    assert chart.find("svg") is None
    assert chart.find("p").text == "No account received this asset in these days."


def test_the_pictures_speak_chinese(client, shared_plan, owner):
    root = parse(page_of(client, owner, shared_plan, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    chart = root.find("figure", id="asset-coverage-chart")
    assert chart.find("svg").find("title").text == "共享覆盖随时间的变化"
    assert "日期（CST）" in [t.text for t in chart.find_all("text")]


# --- the page -------------------------------------------------------------------------


def page_of(client, user, asset, zone="Asia/Shanghai", **headers):
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": zone})
    client.force_login(user)
    response = client.get(
        reverse("admin:sharing_asset_change", args=[asset.pk]), **headers
    )
    assert response.status_code == 200
    return response


def statements(client, asset) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:sharing_asset_change", args=[asset.pk]))
    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    return len(sql), sum("generate_series" in s for s in sql)


def test_the_charts_cost_two_statements_whatever_the_history(
    client, shared_plan, accounts, owner, use
):
    main, web = accounts[:2]
    use(main, "3.00", at=beijing(5, 9, 5))
    page_of(client, owner, shared_plan)  # signed in, the session warm
    before_total, before_charts = statements(client, shared_plan)
    # More history: deductions on four more days, a share period ended.
    for n in range(1, 5):
        use(main, "3.00", at=beijing(n, 9, 5))
    with at(beijing(1, 12)):
        stop_share(asset=shared_plan, account=web, actor=owner)
    after_total, after_charts = statements(client, shared_plan)
    assert before_charts == after_charts == 2
    assert before_total == after_total
