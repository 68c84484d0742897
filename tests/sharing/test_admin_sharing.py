"""The admin screens of equity asset sharing (issue 10), as the customer reads
them: the asset list and page, the share form with its review and the
100-recipient counter, stopping shares, a usage record's deductions and why a
benefit did not apply, the deduction log, automatic rules, the chargeback and
the account page's benefits panel.

The world is ``sharing_world`` (tests/sharing/conftest_admin.py).
"""

import csv
import io
import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts.models import Folder
from accounts.services import create_folder, place_accounts
from billing_portal.models import IdempotencyRecord
from sharing import selectors, services
from sharing.models import Asset, Deduction, Share, SharePeriod, SharingRule
from tests.accounts.conftest_admin import (
    MISSING,
    confirmation_fields,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
    refusal_items,
    result_rows,
    table_rows,
    with_code,
)
from tests.factories import AccountFactory
from tests.sharing.conftest import HOUR
from tests.sharing.conftest_admin import (
    SHARED_AT,
    at,
    sharing_world_fixture,  # noqa: F401 (the ``sharing_world`` fixture)
)

pytestmark = pytest.mark.django_db

ROLES = ["operator", "owner", "manager", "viewer", "cbm", "outsider", "dev_admin"]


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def login(client, world, role):
    client.force_login(world.user(role))
    return client


def stamp(instant) -> str:
    """A time on screen, to the second: labelled with its zone (UTC here)."""
    return f"{timezone.localtime(instant):%Y-%m-%d %H:%M:%S} UTC"


def minute(instant) -> str:
    return f"{timezone.localtime(instant):%Y-%m-%d %H:%M} UTC"


def section(response, section_id):
    node = parse(response).find("section", id=section_id)
    assert node is not None, section_id
    return node


def section_rows(response, section_id):
    return table_rows(section(response, section_id))


def messages_of(response):
    root = parse(response)
    return [
        li.text for ul in root.with_class("messagelist") for li in ul.find_all("li")
    ]


def csv_body(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode("utf-8")


def sharing_state():
    """Everything the sharing screens could write, to prove nothing was."""
    return {
        "shares": list(Share.objects.order_by("pk").values_list("pk", "status")),
        "periods": list(
            SharePeriod.objects.order_by("pk").values_list("pk", "recipient", "end")
        ),
        "rules": SharingRule.objects.count(),
        "log_entries": LogEntry.objects.count(),
    }


def name_uid(account) -> str:
    return f"{account.name} ({account.uid})"


# --- the asset list ----------------------------------------------------------------

#: Assets each role finds in the list (dev_admin: received by a_hidden).
VISIBLE_ASSETS = {
    "operator": ["b_plan", "scu", "plan"],
    "owner": ["scu", "plan"],
    "manager": ["scu", "plan"],
    "viewer": ["scu", "plan"],
    "cbm": ["scu", "plan"],
    "outsider": ["b_plan"],
    "dev_admin": ["plan"],
}


@pytest.mark.parametrize("role", ROLES)
def test_asset_list_is_scoped_and_says_what_each_asset_offers(
    client, sharing_world, role
):
    w = sharing_world
    login(client, w, role)
    response = client.get(url("sharing_asset_changelist"))
    assert response.status_code == 200
    rows = result_rows(response)
    assert [r[0] for r in rows] == [
        str(getattr(w, name).pk) for name in VISIBLE_ASSETS[role]
    ]
    by_id = {r[0]: r for r in rows}
    if "scu" in VISIBLE_ASSETS[role]:
        scu = w.scu
        assert by_id[str(scu.pk)] == [
            str(scu.pk),
            "Storage capacity unit package",
            "Acme Main 1000000000000101",
            f"{scu.valid_from:%Y-%m-%d} → {scu.valid_until:%Y-%m-%d}",
            "Active",
            "300.00 CNY",
            "300.00 CNY",
            "0.0 %",
            "0 / 100",
        ]
    if "plan" in VISIBLE_ASSETS[role]:
        row = by_id[str(w.plan.pk)]
        assert row[1:3] == ["Savings plan", "Acme Main 1000000000000101"]
        assert row[5:7] == ["10.00 CNY per hour", "renews every hour"]
        assert row[8] == "2 / 100"
    html = response.content.decode()
    if role not in ("operator", "outsider"):
        assert "Globex" not in html


def test_asset_list_filters_by_recipient_and_owner(client, sharing_world):
    w = sharing_world
    login(client, w, "owner")
    changelist = url("sharing_asset_changelist")
    received = client.get(changelist + f"?recipient={w.portal.a_dev.pk}")
    assert [r[0] for r in result_rows(received)] == [str(w.plan.pk)]
    owned = client.get(changelist + f"?owner={w.portal.a_dev.pk}")
    assert result_rows(owned) == []
    # Another company's account as a filter value shows nothing more.
    other = client.get(changelist + f"?recipient={w.portal.b2.pk}")
    assert result_rows(other) == []


def test_utilisation_of_an_hourly_asset_counts_the_hours_it_offered(sharing_world):
    plan = sharing_world.plan
    one_hour_in = HOUR + timedelta(hours=1)
    hours = 10 * 24 + 1  # from HOUR - 10 days, the current hour counted whole
    utilisation = selectors.get_utilisation(plan, at=one_hour_in)
    assert (utilisation.used, utilisation.hours) == (Decimal("10.00"), hours)
    assert utilisation.offered == Decimal("10.00") * hours
    assert str(utilisation.percent) == "0.4"  # 10 / 2410
    assert selectors.get_utilisation(plan, at=plan.valid_from).percent is None


# --- the asset page ------------------------------------------------------------------


def test_asset_page_answers_the_owners_questions(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    response = client.get(url("sharing_asset_change", w.plan.pk))
    assert response.status_code == 200
    terms = section_rows(response, "asset")
    assert terms[0] == ["Owner", "Acme Main (1000000000000101)"]
    assert terms[1] == ["Status", "Active"]
    assert terms[2] == [
        "Validity",
        f"{minute(w.plan.valid_from)} → {minute(w.plan.valid_until)} valid now",
    ]
    assert terms[3] == ["Products", "all products"]
    capacity = section_rows(response, "capacity")
    assert capacity[0] == ["Commitment per hour", "10.00 CNY"]
    assert capacity[2] == ["Deducted so far", "10.00 CNY"]
    assert capacity[-1] == ["Deducted for recipients and owner (all time)", "10.00 CNY"]

    shares = section(response, "shares")
    assert shares.find(id="recipient-counter").text == "2 / 100"
    assert table_rows(shares)[1:] == [
        [
            name_uid(p.a_hidden),
            f"By owner at {stamp(SHARED_AT)}",
            f"Active since {stamp(SHARED_AT)}",
            "Stop",
        ],
        [
            name_uid(p.a_dev),
            f"By owner at {stamp(SHARED_AT)}",
            f"Active since {stamp(SHARED_AT)}",
            "Stop",
        ],
    ]
    timeline = section_rows(response, "recipients")
    assert timeline[1:] == [
        [name_uid(p.a_dev), "", f"[{minute(SHARED_AT)}, now) direct"],
        [name_uid(p.a_hidden), "", f"[{minute(SHARED_AT)}, now) direct"],
    ]
    deductions = section_rows(response, "deductions")
    assert deductions[1:] == [
        [
            minute(HOUR + timedelta(minutes=5)),
            "dev-usage",
            name_uid(p.a_dev),
            "10.00",
            "10.00 → 0.00",
        ]
    ]
    links = [a.attrs["href"] for a in section(response, "deductions").find_all("a")]
    assert links == [
        url("sharing_deduction_changelist") + f"?asset={w.plan.pk}",
        url("sharing_usagerecord_change", w.usage.pk),
    ]
    assert "Share with accounts or a folder" in shares.text


def test_the_timeline_keeps_history_and_shows_stopped_shares(client, sharing_world):
    w = sharing_world
    p = w.portal
    stopped_at = SHARED_AT + timedelta(hours=6)
    again_at = SHARED_AT + timedelta(hours=12)
    with at(stopped_at):
        services.stop_share(asset=w.plan, account=p.a_hidden, actor=p.owner)
    with at(again_at):
        services.share_with_accounts(asset=w.plan, accounts=[p.a_hidden], actor=p.owner)
    login(client, w, "owner")
    response = client.get(url("sharing_asset_change", w.plan.pk))
    timeline = section_rows(response, "recipients")
    assert timeline[2] == [
        name_uid(p.a_hidden),
        "",
        f"[{minute(SHARED_AT)}, {minute(stopped_at)}) direct "
        f"[{minute(again_at)}, now) direct",
    ]
    bars = section(response, "recipients").with_class("bar")
    assert len(bars) == 3  # a_dev's one period, a_hidden's two
    states = [row[2] for row in section_rows(response, "shares")[1:]]
    assert f"Stopped at {stamp(stopped_at)} (active since {stamp(SHARED_AT)})" in (
        states
    )


def test_pending_failed_and_automatic_shares_say_so(client, sharing_world, provision):
    w = sharing_world
    p = w.portal
    team = create_folder(company=p.company, name="Team", actor=p.operator)
    place_accounts(folder=team, accounts=[p.a_usd], actor=p.operator)
    saved_at = timezone.now()
    with at(saved_at):
        services.share_with_folder(asset=w.plan, folder=team, actor=p.owner)
    due = saved_at + timedelta(seconds=60)
    # A folder share that fails when the job runs (the company lost its
    # verification meanwhile), applied by the job at ``due``.
    failing = services.share_with_folder(
        asset=w.scu,
        folder=Folder.objects.get(company=p.company, parent__isnull=True),
        actor=p.owner,
    )
    type(p.company).objects.filter(pk=p.company.pk).update(
        verification_status="unverified"
    )
    with at(failing.due_at + timedelta(seconds=1)):
        assert services.resolve_share(failing.pk) == "failed"
    type(p.company).objects.filter(pk=p.company.pk).update(
        verification_status="verified"
    )
    # The rule makes an automatic share of a new coupon of a_main.
    coupon = provision("coupon", p.a_main, capacity="50.00")
    rule_share = Share.objects.get(asset=coupon)

    login(client, w, "owner")
    response = client.get(url("sharing_asset_change", w.plan.pk))
    row = section_rows(response, "shares")[1]
    assert row[0] == "Folder Team (0 accounts receive it)"
    assert row[2] == f"Pending, expected at {stamp(due)}"
    assert row[3] == "Stop"  # a pending folder share may be stopped

    response = client.get(url("sharing_asset_change", w.scu.pk))
    row = section_rows(response, "shares")[1]
    assert row[0] == "Folder Acme (0 accounts receive it)"
    failed_at = stamp(failing.due_at + timedelta(seconds=1))
    assert row[2] == (
        "Failed: Account 1000000000000101 does not belong to a company whose "
        f"identity is verified. ({failed_at})"
    )

    response = client.get(url("sharing_asset_change", coupon.pk))
    row = section_rows(response, "shares")[1]
    assert row[0] == name_uid(p.a_dev)
    assert row[1] == (
        f"Automatic: rule #{w.rule.pk}, queued at {stamp(rule_share.created_at)}"
    )
    assert row[2].startswith(f"Pending, expected at {stamp(rule_share.due_at)}")
    # Not applied yet: "Stop" is greyed, with why (never a link).
    assert row[3] == (
        "Stop This automatic share has not been applied yet; it can be stopped "
        "once it is active."
    )
    stop_url = url("sharing_share_stop", rule_share.pk)
    assert stop_url not in response.content.decode()
    # The job applies it: the outcome and when it ran.
    ran_at = rule_share.due_at + timedelta(seconds=2)
    with at(ran_at):
        assert services.resolve_share(rule_share.pk) == "active"
    response = client.get(url("sharing_asset_change", coupon.pk))
    row = section_rows(response, "shares")[1]
    assert row[1] == (
        f"Automatic: rule #{w.rule.pk}, queued at {stamp(rule_share.created_at)}; "
        f"applied by the background job at {stamp(ran_at)}"
    )
    assert row[2] == f"Active since {stamp(ran_at)}"


@pytest.mark.parametrize(
    ("role", "sentence"),
    [
        (
            "viewer",
            "Only the owner or manage administrators of the account that owns "
            "asset {asset} can share it. not_owner",
        ),
        (
            "dev_admin",
            "Asset {asset} was shared with your account; a recipient cannot share "
            "it again. reshare_not_allowed",
        ),
    ],
)
def test_asset_page_says_why_a_user_cannot_share(client, sharing_world, role, sentence):
    w = sharing_world
    login(client, w, role)
    response = client.get(url("sharing_asset_change", w.plan.pk))
    shares = section(response, "shares")
    assert [with_code(li) for li in shares.find_all("li")] == [
        sentence.format(asset=w.plan.pk)
    ]
    note = shares.find("div", id="share-note")
    assert note.text.startswith("Your access to this asset is read-only:")
    assert "Stop" not in shares.text
    assert url("sharing_asset_share", w.plan.pk) not in response.content.decode()


def test_a_recipients_administrator_sees_only_its_own_share(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "dev_admin")
    response = client.get(url("sharing_asset_change", w.plan.pk))
    assert response.status_code == 200
    assert [r[0] for r in section_rows(response, "shares")[1:]] == [
        name_uid(p.a_hidden)
    ]
    assert [r[0] for r in section_rows(response, "recipients")[1:]] == [
        name_uid(p.a_hidden)
    ]
    # a_dev's deduction is not a_hidden's business.
    assert section_rows(response, "deductions")[1:] == [["Nothing deducted yet."]]
    assert "Acme Dev" not in response.content.decode()


# --- the share form ------------------------------------------------------------------


def share_url(asset):
    return url("sharing_asset_share", asset.pk)


def targets(client, asset, term=""):
    response = client.get(url("sharing_asset_share_targets", asset.pk), {"term": term})
    assert response.status_code == 200
    return [r["text"] for r in response.json()["results"]]


def test_share_form_offers_only_eligible_accounts_and_says_why(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    response = client.get(share_url(w.plan))
    assert response.status_code == 200
    root = parse(response)
    assert root.find(id="recipient-counter").text == "2 / 100"
    assert root.find(id="why-absent").text == (
        "1 account can receive it: the other accounts of Acme, the owner's "
        "verified company. Not offered: the owner account itself, accounts that "
        "already receive it, and accounts of any other company (an asset is "
        "shared only within one verified company)."
    )
    # The owner, the recipients and another company's accounts are absent.
    assert targets(client, w.plan) == [name_uid(w.spare)]
    assert targets(client, w.plan, "Globex") == []
    assert targets(client, w.plan, p.b1.uid) == []
    assert targets(client, w.plan, "Acme Main") == []
    folders = [o.text for o in root.find("select", id="id_folder").find_all("option")]
    assert folders == ["---------", "Acme (the whole organization) — 5"]


def test_sharing_with_accounts_goes_through_a_review_once(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    data = {"target": "accounts", "accounts": [w.spare.pk]}
    review = client.post(share_url(w.plan), data)
    assert review.status_code == 200
    root = parse(review)
    assert table_rows(root.find("table", id="chosen")) == [
        ["Acme Spare", "1000000000000105"]
    ]
    assert root.find(id="recipients-after").text == "3 / 100"
    assert SharePeriod.objects.filter(recipient=w.spare).count() == 0

    fields = confirmation_fields(review)
    assert fields["accounts"] == str(w.spare.pk)
    done = client.post(share_url(w.plan), fields, follow=True)
    assert messages_of(done) == [
        "Shared with 1 account: Acme Spare (1000000000000105). It receives the "
        "asset from now on."
    ]
    assert done.redirect_chain[-1][0] == url("sharing_asset_change", w.plan.pk)
    assert section(done, "shares").find(id="recipient-counter").text == "3 / 100"
    period = SharePeriod.objects.get(asset=w.plan, recipient=w.spare)
    assert period.end is None
    assert LogEntry.objects.filter(object_id=str(w.plan.pk)).count() == 1

    # The same confirmation again (a double click, a replay): the first result,
    # nothing written.
    before = sharing_state()
    again = client.post(share_url(w.plan), fields, follow=True)
    assert messages_of(again) == messages_of(done)
    assert sharing_state() == before
    # The same token for other data is refused.
    other = {**fields, "accounts": [p.a_hidden.pk]}
    reused = client.post(share_url(w.plan), other)
    assert refusal_items(reused) == [
        "This confirmation was already used for a different request; nothing was "
        "changed. Review the request again. idempotency_key_reused"
    ]
    assert sharing_state() == before


def test_sharing_with_a_folder_is_pending_until_the_job(client, sharing_world):
    w = sharing_world
    p = w.portal
    team = create_folder(company=p.company, name="Team", actor=p.operator)
    place_accounts(folder=team, accounts=[w.spare, p.a_dev], actor=p.operator)
    login(client, w, "owner")
    data = {"target": "folder", "folder": team.pk}
    review = client.post(share_url(w.plan), data)
    assert review.status_code == 200
    text = parse(review).find(id="content-main").text
    assert "The folder holds 2 accounts now (1 not receiving the asset yet)." in text
    assert parse(review).find(id="recipients-after").text == "3 / 100"
    saved_at = timezone.now()
    with at(saved_at):
        done = client.post(share_url(w.plan), confirmation_fields(review), follow=True)
    due = saved_at + timedelta(seconds=60)
    assert messages_of(done) == [
        "Shared with folder Team: pending until the background job applies it, "
        f"expected at {stamp(due)}."
    ]
    share = Share.objects.get(asset=w.plan, folder=team)
    assert (share.status, share.due_at) == ("pending", due)
    assert selectors.count_recipients(w.plan) == 2  # nothing yet


def test_the_101st_recipient_is_refused_with_the_services_sentence(
    client, sharing_world
):
    w = sharing_world
    p = w.portal
    many = AccountFactory.create_batch(98, company=p.company)
    services.share_with_accounts(asset=w.plan, accounts=many, actor=p.owner)
    login(client, w, "owner")
    response = client.get(share_url(w.plan))
    counter = parse(response).find(id="recipient-counter")
    assert counter.text == "100 / 100"
    assert "full" in counter.attrs["class"]
    before = sharing_state()
    refused = client.post(
        share_url(w.plan), {"target": "accounts", "accounts": [w.spare.pk]}
    )
    assert refused.status_code == 200
    assert refusal_items(refused) == [
        "An asset can be shared with at most 100 accounts at a time; this would "
        "make 101. recipient_limit_exceeded"
    ]
    assert "confirmation_token" not in refused.content.decode()
    # A forged confirmation reaches the service, which refuses it the same way.
    forged = client.post(
        share_url(w.plan),
        {
            "target": "accounts",
            "accounts": [w.spare.pk],
            "confirm": "yes",
            "confirmation_token": secrets.token_urlsafe(32),
        },
    )
    assert refusal_items(forged) == refusal_items(refused)
    assert sharing_state() == before
    assert selectors.count_recipients(w.plan) == 100


def test_the_form_refuses_an_account_that_is_not_offered(client, sharing_world):
    w = sharing_world
    login(client, w, "owner")
    before = sharing_state()
    for account in (w.portal.b1, w.portal.a_main):
        response = client.post(
            share_url(w.plan), {"target": "accounts", "accounts": [account.pk]}
        )
        errors = parse(response).with_class("errorlist")
        assert [e.text for e in errors] == [
            f"Select a valid choice. {account.pk} is not one of the available choices."
        ]
    assert sharing_state() == before


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        (
            "viewer",
            "Only the owner or manage administrators of the account that owns "
            "asset {asset} can share it. not_owner",
        ),
        (
            "dev_admin",
            "Asset {asset} was shared with your account; a recipient cannot share "
            "it again. reshare_not_allowed",
        ),
    ],
)
def test_only_the_owners_administrators_may_share(client, sharing_world, role, reason):
    w = sharing_world
    login(client, w, role)
    expected = [reason.format(asset=w.plan.pk)]
    page = client.get(share_url(w.plan))
    assert page.status_code == 200
    assert refusal_items(page) == expected
    assert parse(page).find("form", class_="sharing-form") is None
    assert targets(client, w.plan) == []
    before = sharing_state()
    data = {"target": "accounts", "accounts": [w.spare.pk]}
    assert refusal_items(client.post(share_url(w.plan), data)) == expected
    forged = client.post(
        share_url(w.plan),
        {**data, "confirm": "yes", "confirmation_token": secrets.token_urlsafe(32)},
    )
    assert refusal_items(forged) == expected
    assert sharing_state() == before


# --- stopping shares -----------------------------------------------------------------


def stop_url(share):
    return url("sharing_share_stop", share.pk)


def test_stopping_an_account_share_ends_its_period_once(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    review = client.get(stop_url(w.hidden_share))
    assert review.status_code == 200
    assert "Its share period ends at this instant" in review.content.decode()
    stopped_at = timezone.now()
    with at(stopped_at):
        done = client.post(
            stop_url(w.hidden_share), confirmation_fields(review), follow=True
        )
    assert messages_of(done) == [
        "Acme Hidden (1000000000000104) no longer receives the asset; its share "
        "period ended now (history is kept)."
    ]
    period = SharePeriod.objects.get(asset=w.plan, recipient=p.a_hidden)
    assert period.end == stopped_at
    assert section(done, "shares").find(id="recipient-counter").text == "1 / 100"
    # Stopped: no button, and the URL says why.
    again = client.get(stop_url(w.hidden_share))
    assert refusal_items(again) == [
        f"This share was already stopped at {stamp(stopped_at)}. invalid_state"
    ]


def test_stopping_a_folder_share_ends_its_recipients_periods(client, sharing_world):
    w = sharing_world
    p = w.portal
    team = create_folder(company=p.company, name="Team", actor=p.operator)
    place_accounts(folder=team, accounts=[w.spare], actor=p.operator)
    with at(SHARED_AT):
        share = services.share_with_folder(asset=w.plan, folder=team, actor=p.owner)
    with at(share.due_at + timedelta(seconds=1)):
        assert services.resolve_share(share.pk) == "active"
    login(client, w, "owner")
    review = client.get(stop_url(share))
    assert "The 1 account that receives the asset through it stops" in (
        review.content.decode()
    )
    client.post(stop_url(share), confirmation_fields(review))
    share.refresh_from_db()
    assert share.status == "stopped"
    assert SharePeriod.objects.get(asset=w.plan, recipient=w.spare).end is not None


@pytest.mark.parametrize("role", ["viewer", "dev_admin"])
def test_only_the_owners_administrators_may_stop(client, sharing_world, role):
    w = sharing_world
    login(client, w, role)
    before = sharing_state()
    page = client.get(stop_url(w.hidden_share))
    assert len(refusal_items(page)) == 1
    assert "confirmation_token" not in page.content.decode()
    forged = client.post(
        stop_url(w.hidden_share),
        {"confirm": "yes", "confirmation_token": secrets.token_urlsafe(32)},
    )
    assert refusal_items(forged) == refusal_items(page)
    assert sharing_state() == before


# --- usage records ------------------------------------------------------------------


def test_usage_record_page_shows_deductions_in_order(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    response = client.get(url("sharing_usagerecord_change", w.usage.pk))
    assert response.status_code == 200
    assert section_rows(response, "charge") == [
        ["Amount", "25.00"],
        ["Deducted by benefits", "10.00"],
        ["Charged", "15.00"],
        ["Payer", name_uid(p.a_dev)],
    ]
    assert section_rows(response, "deductions") == [
        ["#", "Asset", "Owner", "Amount", "Capacity before → after"],
        [
            "1",
            f"Savings plan #{w.plan.pk} (shared)",
            name_uid(p.a_main),
            "10.00",
            f"10.00 → 0.00 (hour {HOUR:%Y-%m-%d %H}:00)",
        ],
    ]


def test_usage_record_page_says_why_a_benefit_did_not_apply(client, sharing_world):
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    response = client.get(url("sharing_usagerecord_change", w.late.pk))
    assert section_rows(response, "charge")[:3] == [
        ["Amount", "7.00"],
        ["Deducted by benefits", "0.00"],
        ["Charged", "7.00"],
    ]
    assert section_rows(response, "deductions")[1:] == [
        ["No benefit deducted this record."]
    ]
    items = section(response, "why-not").find_all("li")
    assert [li.text for li in items] == [
        f"Savings plan #{w.plan.pk} of {name_uid(p.a_main)}: The usage started "
        "before this asset was shared with the account; a share applies only to "
        "usage after it began. "
        f"The usage started at {stamp(w.late.usage_start)}; shared with this "
        f"account: [{stamp(SHARED_AT)}, now)"
    ]
    # The skip's code stays out of sight (the API's deduction log has it).
    assert [li.attrs["data-reason"] for li in items] == ["before_share_start"]


def test_usage_records_list_what_benefits_deducted(client, sharing_world):
    w = sharing_world
    login(client, w, "owner")
    response = client.get(url("sharing_usagerecord_changelist") + "?q=dev-")
    rows = {r[0]: r for r in result_rows(response)}
    assert rows["dev-usage"][5:] == [
        "25.00",
        "15.00",
        name_uid(w.portal.a_dev),
        "10.00",
    ]
    assert rows["dev-late"][5:] == ["7.00", "7.00", name_uid(w.portal.a_dev), "0.00"]


# --- the deduction log ---------------------------------------------------------------

DEDUCTIONS = {
    "operator": ["globex-shared-usage", "dev-usage"],
    "owner": ["dev-usage"],
    "manager": ["dev-usage"],
    "viewer": ["dev-usage"],
    "cbm": ["dev-usage"],
    "outsider": ["globex-shared-usage"],
    "dev_admin": [],
}


@pytest.mark.parametrize("role", ROLES)
def test_deduction_log_is_scoped_and_read_only(client, sharing_world, role):
    w = sharing_world
    login(client, w, role)
    response = client.get(url("sharing_deduction_changelist"))
    assert response.status_code == 200
    assert [r[1] for r in result_rows(response)] == DEDUCTIONS[role]
    if "dev-usage" in DEDUCTIONS[role]:
        row = next(r for r in result_rows(response) if r[1] == "dev-usage")
        assert row == [
            minute(HOUR + timedelta(minutes=5)),
            "dev-usage",
            "Acme Dev 1000000000000102",
            f"Savings plan #{w.plan.pk}",
            "Acme Main 1000000000000101",
            "10.00 CNY",
            "10.00 → 0.00",
        ]
    deduction = Deduction.objects.first()
    assert client.get(url("sharing_deduction_add")).status_code == 403
    assert client.post(url("sharing_deduction_delete", deduction.pk)).status_code in (
        302,
        403,
    )
    assert Deduction.objects.count() == 2


def test_deduction_log_filters(client, sharing_world, use):
    w = sharing_world
    p = w.portal
    # The owner's own use, in an hour of the plan that a_dev did not use up.
    use(p.a_main, "3.00", at=HOUR + timedelta(hours=1), external_id="main-own")
    login(client, w, "owner")
    changelist = url("sharing_deduction_changelist")

    def usage_ids(query):
        return [r[1] for r in result_rows(client.get(changelist + query))]

    assert usage_ids("") == ["main-own", "dev-usage"]
    assert usage_ids(f"?beneficiary={p.a_dev.pk}") == ["dev-usage"]
    assert usage_ids(f"?owner={p.a_main.pk}") == ["main-own", "dev-usage"]
    assert usage_ids(f"?asset={w.plan.pk}") == ["main-own", "dev-usage"]
    assert usage_ids("?asset__type__exact=coupon") == []
    assert usage_ids("?asset__type__exact=savings_plan") == ["main-own", "dev-usage"]
    assert usage_ids("?usage_start__gte=2000-01-01T00:00:00%2B00:00") == [
        "main-own",
        "dev-usage",
    ]
    since = (HOUR + timedelta(days=1)).isoformat().replace("+", "%2B")
    assert usage_ids(f"?usage_start__gte={since}") == []
    # Another company's asset or account as a filter: nothing more to see.
    assert usage_ids(f"?asset={w.b_plan.pk}") == []
    assert usage_ids(f"?beneficiary={p.b2.pk}") == []


def test_deduction_log_links_usage_records_only_of_visible_accounts(
    client, sharing_world
):
    w = sharing_world
    login(client, w, "manager")  # sees a_main and a_dev, not a_hidden
    response = client.get(url("sharing_deduction_changelist"))
    link = parse(response).find("td", class_="field-usage_link").find("a")
    assert link.attrs["href"] == url("sharing_usagerecord_change", w.usage.pk)


def test_deduction_log_csv_is_for_spreadsheets(client, sharing_world):
    w = sharing_world
    p = w.portal
    type(p.a_dev).objects.filter(pk=p.a_dev.pk).update(name="=HYPERLINK(1)")
    login(client, w, "owner")
    body = csv_body(client.get(url("sharing_deduction_export")))
    assert body.startswith("\ufeffusage_start,")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:4] == [
        "usage_start",
        "usage_external_id",
        "beneficiary_uid",
        "beneficiary_name",
    ]
    assert rows[1][1:4] == ["dev-usage", "\t1000000000000102", "'=HYPERLINK(1)"]
    assert rows[1][8:] == ["10.00", "10.00", "0.00", "", "CNY"]


# --- automatic sharing rules ---------------------------------------------------------

RULES = {
    "operator": ["b_rule", "rule"],
    "owner": ["rule"],
    "manager": ["rule"],
    "viewer": ["rule"],
    "cbm": ["rule"],
    "outsider": ["b_rule"],
    "dev_admin": [],
}


@pytest.mark.parametrize("role", ROLES)
def test_rules_are_scoped_and_listed_with_their_outcomes(client, sharing_world, role):
    w = sharing_world
    login(client, w, role)
    response = client.get(url("sharing_sharingrule_changelist"))
    rows = result_rows(response)
    assert [r[0] for r in rows] == [str(getattr(w, n).pk) for n in RULES[role]]
    if "rule" in RULES[role]:
        row = next(r for r in rows if r[0] == str(w.rule.pk))
        assert row[1:6] == [
            "Acme Main (1000000000000101)",
            "Coupon",
            "1 account(s)",
            "True",
            "0 active, 0 pending, 0 failed",
        ]


def test_adding_a_rule_offers_only_the_accounts_the_user_administers(
    client, sharing_world
):
    w = sharing_world
    p = w.portal
    login(client, w, "manager")
    step = client.get(url("sharing_sharingrule_add"))
    assert step.status_code == 200
    owners = [
        o.text for o in parse(step).find("select", id="id_owner").find_all("option")
    ]
    assert owners == ["---------", name_uid(p.a_main), name_uid(p.a_dev)]
    # Not administered (a_usd: no access; b1: another company): like missing.
    for other in (p.a_usd, p.b1, MISSING):
        pk = getattr(other, "pk", other)
        again = client.get(url("sharing_sharingrule_add") + f"?owner={pk}")
        assert parse(again).find("select", id="id_owner") is not None
        assert [e.text for e in parse(again).with_class("errorlist")] == [
            "Select a valid choice. That choice is not one of the available choices."
        ]
    targets_url = url("sharing_sharingrule_targets")
    offered = client.get(targets_url, {"owner": p.a_main.pk}).json()["results"]
    assert [r["text"] for r in offered] == [
        name_uid(a) for a in (p.a_dev, p.a_hidden, w.spare)
    ]
    assert client.get(targets_url, {"owner": p.b1.pk}).json()["results"] == []

    form_url = url("sharing_sharingrule_add") + f"?owner={p.a_main.pk}"
    form = client.get(form_url)
    assert form.status_code == 200
    done = client.post(
        form_url,
        {
            "asset_types": ["savings_plan", "scu_package"],
            "target": "accounts",
            "accounts": [w.spare.pk],
        },
        follow=True,
    )
    rule = SharingRule.objects.latest("pk")
    assert (rule.owner, rule.asset_types, list(rule.accounts.all())) == (
        p.a_main,
        ["savings_plan", "scu_package"],
        [w.spare],
    )
    assert messages_of(done) == [
        f"Rule #{rule.pk} saved: new assets of Acme Main (1000000000000101) of these "
        "types are shared about a minute after they are provisioned."
    ]
    assert section_rows(done, "rule")[1:3] == [
        ["Asset types", "Savings plan, Storage capacity unit package"],
        ["Shares with", name_uid(w.spare)],
    ]


@pytest.mark.parametrize("role", ["viewer", "cbm"])
def test_users_who_administer_nothing_cannot_add_rules(client, sharing_world, role):
    w = sharing_world
    login(client, w, role)
    assert client.get(url("sharing_sharingrule_add")).status_code == 403
    changelist = client.get(url("sharing_sharingrule_changelist"))
    assert url("sharing_sharingrule_add") not in changelist.content.decode()


def test_rule_page_shows_the_shares_it_made(client, sharing_world, provision):
    w = sharing_world
    p = w.portal
    coupon = provision("coupon", p.a_main, capacity="50.00")
    login(client, w, "owner")
    response = client.get(url("sharing_sharingrule_change", w.rule.pk))
    share = Share.objects.get(asset=coupon)
    assert section_rows(response, "rule-shares")[1:] == [
        [
            f"Coupon #{coupon.pk}",
            name_uid(p.a_dev),
            f"Automatic: rule #{w.rule.pk}, queued at {stamp(share.created_at)}",
            f"Pending, expected at {stamp(share.due_at)}",
        ]
    ]


# --- the chargeback ------------------------------------------------------------------


def chargeback_url(**params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return url("sharing_asset_chargeback") + (f"?{query}" if query else "")


def period_params():
    return {
        "start": (HOUR - timedelta(days=3)).date().isoformat(),
        "end": HOUR.date().isoformat(),
    }


def test_chargeback_attributes_savings_to_each_beneficiary(client, sharing_world, use):
    w = sharing_world
    p = w.portal
    # The owner's own use, in an hour a_dev did not use up.
    use(p.a_main, "4.00", at=HOUR + timedelta(hours=2), external_id="main-own")
    login(client, w, "owner")
    response = client.get(chargeback_url(**period_params()))
    assert response.status_code == 200
    groups = parse(response).with_class("chargeback-asset")
    assert [g.attrs["id"] for g in groups] == [f"asset-{w.plan.pk}"]
    assert table_rows(groups[0])[1:] == [
        [name_uid(p.a_main) + " (owner)", "1", "4.00", "28.6 %"],
        [name_uid(p.a_dev), "1", "10.00", "71.4 %"],
        ["Total", "", "14.00", ""],
    ]
    assert table_rows(parse(response).find(id="chargeback-totals")) == [
        ["CNY", "14.00"]
    ]
    # A period without usage of the asset.
    empty = client.get(chargeback_url(start="2000-01-01", end="2000-01-31"))
    assert table_rows(parse(empty).with_class("chargeback-asset")[0])[1:] == [
        ["Nothing deducted in this period."]
    ]
    # One owner only: another of the user's accounts owns no shared asset.
    assert [
        o.text for o in parse(response).find("select", id="id_owner").find_all("option")
    ] == ["All owners", name_uid(p.a_main)]


def test_chargeback_csv_is_for_spreadsheets(client, sharing_world):
    w = sharing_world
    p = w.portal
    type(p.a_dev).objects.filter(pk=p.a_dev.pk).update(name="@SUM(A1)")
    login(client, w, "owner")
    params = period_params()
    body = csv_body(
        client.get(
            url("sharing_asset_chargeback_export")
            + "?"
            + "&".join(f"{k}={v}" for k, v in params.items())
        )
    )
    assert body.startswith("\ufeffperiod_start,")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == [
        "period_start",
        "period_end",
        "asset_id",
        "asset_type",
        "owner_uid",
        "owner_name",
        "beneficiary_uid",
        "beneficiary_name",
        "usage_records",
        "savings",
        "currency",
    ]
    assert rows[1][2:] == [
        str(w.plan.pk),
        "savings_plan",
        "\t1000000000000101",
        "Acme Main",
        "\t1000000000000102",
        "'@SUM(A1)",
        "1",
        "10.00",
        "CNY",
    ]


@pytest.mark.parametrize("role", ["owner", "viewer", "cbm", "outsider", "dev_admin"])
def test_chargeback_is_scoped(client, sharing_world, role):
    w = sharing_world
    login(client, w, role)
    response = client.get(chargeback_url(**period_params()))
    ids = [g.attrs["id"] for g in parse(response).with_class("chargeback-asset")]
    expected = {
        "outsider": [f"asset-{w.b_plan.pk}"],
        "dev_admin": [],  # a recipient, not the owner
    }.get(role, [f"asset-{w.plan.pk}"])
    assert ids == expected
    # Another company's owner as the filter answers like a missing account.
    foreign = w.portal.a_main if role == "outsider" else w.portal.b1
    seen = client.get(chargeback_url(owner=foreign.pk, **period_params()))
    missing = client.get(chargeback_url(owner=MISSING, **period_params()))
    assert seen.status_code == missing.status_code == 200
    assert (
        [e.text for e in parse(seen).with_class("errorlist")]
        == [e.text for e in parse(missing).with_class("errorlist")]
        == ["Select a valid choice. That choice is not one of the available choices."]
    )
    assert parse(seen).with_class("chargeback-asset") == []
    exported = client.get(
        url("sharing_asset_chargeback_export") + f"?owner={foreign.pk}"
    )
    assert exported.status_code == 200
    assert not exported.get("Content-Type", "").startswith("text/csv")


# --- the account page's panel ---------------------------------------------------------


def test_account_page_lists_benefits_shared_with_it(client, sharing_world):
    w = sharing_world
    p = w.portal
    stopped_at = SHARED_AT + timedelta(hours=1)
    with at(stopped_at):
        services.stop_share(asset=w.plan, account=p.a_dev, actor=p.owner)
    login(client, w, "owner")
    response = client.get(url("accounts_account_change", p.a_dev.pk))
    panel = section(response, "benefits")
    assert panel.find("h2").text == "Benefits shared with this account"
    assert table_rows(panel)[1:] == [
        [
            f"Savings plan #{w.plan.pk}",
            name_uid(p.a_main),
            "directly",
            f"[{minute(SHARED_AT)}, {minute(stopped_at)})",
        ]
    ]
    response = client.get(url("accounts_account_change", p.a_usd.pk))
    assert section(response, "benefits").text.startswith(
        "Benefits shared with this account No asset has been shared with this account."
    )


def test_account_page_panels_are_a_setting(client, sharing_world, settings):
    w = sharing_world
    settings.ACCOUNT_PAGE_PANELS = []
    login(client, w, "owner")
    response = client.get(url("accounts_account_change", w.portal.a_dev.pk))
    assert parse(response).find("section", id="benefits") is None


# --- translated -----------------------------------------------------------------------


def test_the_why_not_panel_is_translated(client, sharing_world):
    w = sharing_world
    login(client, w, "owner")
    response = client.get(
        url("sharing_usagerecord_change", w.late.pk), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    panel = section(response, "why-not")
    assert panel.find("h2").text == "为什么我的账单没有享受到权益\uff1f"
    assert "用量开始于该资产共享给此账号之前" in panel.text


def test_nothing_is_written_by_reading(client, sharing_world):
    w = sharing_world
    login(client, w, "owner")
    before = sharing_state()
    for name, pk in [
        ("sharing_asset_change", w.plan.pk),
        ("sharing_asset_share", w.plan.pk),
        ("sharing_usagerecord_change", w.usage.pk),
        ("sharing_sharingrule_change", w.rule.pk),
    ]:
        assert client.get(url(name, pk)).status_code == 200
    assert sharing_state() == before
    assert IdempotencyRecord.objects.count() == 0
    assert Asset.objects.count() == 3


# --- another company's objects answer like missing ids ------------------------------

SHARING_URLS = [
    ("get", "sharing_asset_change", "asset"),
    ("get", "sharing_asset_history", "asset"),
    ("get", "sharing_asset_share", "asset"),
    ("post", "sharing_asset_share", "asset"),
    ("get", "sharing_asset_share_targets", "asset"),
    ("get", "sharing_share_change", "share"),
    ("get", "sharing_share_stop", "share"),
    ("post", "sharing_share_stop", "share"),
    ("get", "sharing_usagerecord_change", "usage"),
    ("get", "sharing_deduction_change", "deduction"),
    ("get", "sharing_sharingrule_change", "rule"),
]


def _foreign_objects(w, role):
    if role == "outsider":
        return {
            "asset": w.plan,
            "share": w.dev_share,
            "usage": w.usage,
            "deduction": Deduction.objects.get(usage=w.usage),
            "rule": w.rule,
        }
    return {
        "asset": w.b_plan,
        "share": w.b_share,
        "usage": w.b_usage,
        "deduction": Deduction.objects.get(usage=w.b_usage),
        "rule": w.b_rule,
    }


def _outcome(client, method, target, hide):
    data = {
        "target": "accounts",
        "confirm": "yes",
        "confirmation_token": secrets.token_urlsafe(32),
    }
    response = getattr(client, method)(
        target, data if method == "post" else {}, follow=True
    )
    if response.get("Content-Type", "").startswith("application/json"):
        return response.status_code, response.redirect_chain, response.json()
    messages = [m.replace(f"\u201c{hide}\u201d", "{id}") for m in messages_of(response)]
    return response.status_code, response.redirect_chain, messages


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
def test_another_companys_sharing_objects_answer_like_missing_ids(
    client, sharing_world, role
):
    w = sharing_world
    login(client, w, role)
    foreign = _foreign_objects(w, role)
    before = sharing_state()
    for method, name, kind in SHARING_URLS:
        obj = foreign[kind]
        seen = _outcome(client, method, url(name, obj.pk), obj.pk)
        missing = _outcome(client, method, url(name, MISSING), MISSING)
        assert seen == missing, (method, name)
        _status, chain, body = seen
        if name == "sharing_asset_share_targets":
            assert body == {"results": [], "pagination": {"more": False}}
        else:
            assert chain == [(url("index"), 302)], name
            assert len(body) == 1, name
            assert "ID {id} doesn\u2019t exist" in body[0], name
    assert sharing_state() == before


def test_lists_cost_a_fixed_number_of_queries(
    client, sharing_world, provision, django_assert_max_num_queries
):
    """More assets, shares and deductions on a page cost no more queries."""
    w = sharing_world
    p = w.portal
    login(client, w, "owner")
    pages = [
        url("sharing_asset_changelist"),
        url("sharing_share_changelist"),
        url("sharing_deduction_changelist"),
        url("sharing_sharingrule_changelist"),
        url("sharing_usagerecord_changelist"),
    ]
    counts = {}
    for page_url in pages:
        with django_assert_max_num_queries(100) as captured:
            client.get(page_url)
        counts[page_url] = len(captured)
    for _n in range(5):
        asset = provision("coupon", p.a_main, capacity="10.00")
        services.share_with_accounts(asset=asset, accounts=[w.spare], actor=p.owner)
    services.create_sharing_rule(
        owner=p.a_dev, asset_types=["coupon"], accounts=[p.a_main], actor=p.manager
    )
    for page_url in pages:
        with django_assert_max_num_queries(counts[page_url]):
            client.get(page_url)
