"""The portal in the person's language and time zone; the API stays UTC."""

import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core.management import call_command

from billing_portal.models import UserPreference
from billing_portal.timezones import SESSION_KEY
from tests.factories import UserFactory

#: Late at night in Beijing on the first of the month: still November in UTC.
BEIJING_MIDNIGHT_PAST = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
LEDGER = "/admin/accounts/posting/"


def _day(year, month, day):
    return (
        f"{LEDGER}?movement__posted_at__year={year}"
        f"&movement__posted_at__month={month}&movement__posted_at__day={day}"
    )


@pytest.fixture
def late_top_up(make_account, fund, owner, grant):
    account = make_account(name="Night Owl")
    grant(owner, account)
    with mock.patch("django.utils.timezone.now", return_value=BEIJING_MIDNIGHT_PAST):
        fund(account, "5000.00")
    return account


def _rows(response) -> int:
    """How many lines the changelist shows (0 when it shows none)."""
    html = response.content.decode()
    table = re.search(r'<table id="result_list">(.*?)</table>', html, re.S)
    return table.group(1).count("<tr") - 1 if table else 0


def _login_in(client, user, zone):
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": zone})
    client.force_login(user)
    assert client.session[SESSION_KEY] == zone


def test_a_late_night_posting_belongs_to_its_beijing_day(client, owner, late_top_up):
    _login_in(client, owner, "Asia/Shanghai")
    december_first = client.get(_day(2026, 12, 1))
    assert _rows(december_first) == 1
    assert "2026-12-01 00:30 CST" in december_first.content.decode()
    assert _rows(client.get(_day(2026, 11, 30))) == 0
    # The month drill-down puts it in December too.
    month = client.get(
        f"{LEDGER}?movement__posted_at__year=2026&movement__posted_at__month=12"
    )
    assert "2026-12-01 00:30 CST" in month.content.decode()


def test_the_same_posting_is_on_its_utc_day_for_a_utc_user(client, owner, late_top_up):
    _login_in(client, owner, "UTC")
    november_30 = client.get(_day(2026, 11, 30))
    assert _rows(november_30) == 1
    assert "2026-11-30 16:30 UTC" in november_30.content.decode()
    assert _rows(client.get(_day(2026, 12, 1))) == 0


def test_the_account_page_labels_times_with_the_zone(client, owner, late_top_up):
    _login_in(client, owner, "Asia/Shanghai")
    page = client.get(f"/admin/accounts/account/{late_top_up.pk}/change/")
    assert "2026-12-01 00:30:00 CST" in page.content.decode()


def test_the_api_keeps_utc_for_a_beijing_user(client, owner, late_top_up):
    _login_in(client, owner, "Asia/Shanghai")
    body = client.get(f"/api/v1/accounts/{late_top_up.pk}/ledger/").json()
    (line,) = body["results"]
    assert line["posted_at"] in ("2026-11-30T16:30:00Z", "2026-11-30T16:30:00+00:00")


def test_a_person_changes_its_time_zone_in_preferences(client, owner, late_top_up):
    client.force_login(owner)
    assert client.session[SESSION_KEY] == "UTC"  # never chosen: the default
    page = client.get("/admin/preferences/")
    assert page.status_code == 200
    saved = client.post(
        "/admin/preferences/",
        {"time_zone": "Asia/Shanghai", "language": "en"},
        follow=True,
    )
    assert "Preferences saved: times are shown in Asia/Shanghai." in (
        saved.content.decode()
    )
    assert UserPreference.objects.get(user=owner).time_zone == "Asia/Shanghai"
    assert client.session[SESSION_KEY] == "Asia/Shanghai"
    assert "2026-12-01 00:30 CST" in client.get(_day(2026, 12, 1)).content.decode()
    refused = client.post(
        "/admin/preferences/", {"time_zone": "Mars/Olympus", "language": "en"}
    )
    assert refused.status_code == 200
    assert UserPreference.objects.get(user=owner).time_zone == "Asia/Shanghai"


def test_the_zone_is_read_at_login_from_the_preference(client, db):
    user = UserFactory(username="li")
    user.set_password("pw-123456")
    user.save()
    UserPreference.objects.create(user=user, time_zone="Asia/Shanghai")
    assert client.login(username="li", password="pw-123456")
    assert client.session[SESSION_KEY] == "Asia/Shanghai"


def test_the_language_switch_persists_and_translates_the_portal(client, owner):
    client.force_login(owner)
    english = client.get("/admin/accounts/account/").content.decode()
    assert "Accounts overview" in english
    assert 'value="zh-hans"' in english
    assert "简体中文" in english
    switched = client.post(
        "/i18n/setlang/",
        {"language": "zh-hans", "next": "/admin/accounts/account/"},
    )
    assert switched.status_code == 302
    assert switched["Location"] == "/admin/accounts/account/"
    assert client.cookies["django_language"].value == "zh-hans"
    chinese = client.get("/admin/accounts/account/").content.decode()
    assert "账号总览" in chinese
    assert "计费门户 — 账号共享" in chinese  # the site header
    assert "偏好设置" in chinese
    assert "Accounts overview" not in chinese
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    back = client.get("/admin/accounts/account/").content.decode()
    assert "Accounts overview" in back


def test_the_chosen_language_follows_the_person_to_another_browser(db):
    """Chosen once (the header's switch), kept per user: a new browser with no
    cookie, and a browser that asks for English, both get Chinese after login;
    someone else on that browser keeps their own."""
    from django.test import Client

    li = UserFactory(username="li")
    other = UserFactory(username="other")
    for user in (li, other):
        user.set_password("pw-123456")
        user.save()
    first = Client()
    assert first.login(username="li", password="pw-123456")
    first.post("/i18n/setlang/", {"language": "zh-hans", "next": "/admin/"})
    assert UserPreference.objects.get(user=li).language == "zh-hans"

    second = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_page = second.get("/admin/login/").content.decode()
    assert '<html lang="en"' in login_page  # nobody known yet: the browser's
    assert second.login(username="li", password="pw-123456")
    page = second.get("/admin/accounts/account/").content.decode()
    assert "账号总览" in page
    assert "Accounts overview" not in page

    third = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert third.login(username="other", password="pw-123456")
    assert "Accounts overview" in third.get("/admin/accounts/account/").content.decode()
    assert not UserPreference.objects.filter(user=other).exists()

    # Preferences change it back, for every later sign-in.
    second.post("/admin/preferences/", {"time_zone": "Asia/Shanghai", "language": "en"})
    assert UserPreference.objects.get(user=li).language == "en"
    fourth = Client()
    assert fourth.login(username="li", password="pw-123456")
    assert (
        "Accounts overview" in fourth.get("/admin/accounts/account/").content.decode()
    )


def test_the_language_switch_refuses_an_unknown_language(client, owner):
    client.force_login(owner)
    client.post("/i18n/setlang/", {"language": "xx-evil", "next": "/admin/"})
    assert not UserPreference.objects.filter(user=owner).exclude(language="").exists()
    assert (
        "Accounts overview" in client.get("/admin/accounts/account/").content.decode()
    )


def test_the_language_switch_is_on_the_login_page(client, db):
    page = client.get("/admin/login/").content.decode()
    assert 'id="portal-language"' in page
    assert "简体中文" in page


def test_demo_customers_read_beijing_time(db):
    call_command("seed_demo", no_logins=True)
    zones = dict(UserPreference.objects.values_list("user__username", "time_zone"))
    assert zones["alice"] == zones["dave"] == "Asia/Shanghai"
    assert "operator" not in zones  # the default (UTC) applies
