"""The tenant-scoped admin portal (issue 3): every role, every page, every flow.

The world is ``portal`` (tests/accounts/conftest_admin.py): companies A (Acme)
and B (Globex), their users and balances. Money moves only through the admin's
views here; the numbers are asserted to the cent, in the HTML the user reads.
"""

import calendar
import csv
import io
import json
import secrets
from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Account, Company, Movement, Posting, TransferPair
from billing_portal.errors import RevocationRefused, reason
from billing_portal.models import AuditEvent
from sharing.models import UsageRecord
from tests.accounts.conftest_admin import (
    MISSING,
    PAST_TOP_UP_AT,
    confirmation_fields,
    disabled_button,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
    refusal_items,
    result_rows,
    table_rows,
)
from tests.factories import AccountFactory, CompanyFactory

D = Decimal
ROLES = ["operator", "owner", "manager", "viewer", "cbm", "outsider"]
CUSTOMERS_OF_A = ["owner", "manager", "viewer", "cbm"]

# uid, name, company, currency, status, cash, transferred in, uncleared,
# credit limit, available, overdue, transferable
OVERVIEW_ROWS = {
    "a_main": [
        "1000000000000101", "Acme Main", "Acme", "CNY", "Valid",
        "600.00", "0.00", "0.00", "0.00", "600.00", "No", "600.00",
    ],
    "a_dev": [
        "1000000000000102", "Acme Dev", "Acme", "CNY", "Valid",
        "350.00", "300.00", "20.00", "0.00", "330.00", "No", "50.00",
    ],
    "a_usd": [
        "1000000000000103", "Acme Dollar", "Acme", "USD", "Valid",
        "80.00", "0.00", "0.00", "0.00", "80.00", "No", "80.00",
    ],
    "a_hidden": [
        "1000000000000104", "Acme Hidden", "Acme", "CNY", "Valid",
        "100.00", "100.00", "0.00", "0.00", "100.00", "No", "0.00",
    ],
    "b1": [
        "2000000000000201", "Globex HQ", "Globex", "CNY", "Valid",
        "450.00", "0.00", "0.00", "0.00", "450.00", "No", "450.00",
    ],
    "b2": [
        "2000000000000202", "Globex Ops", "Globex", "CNY", "Valid",
        "50.00", "50.00", "1.00", "0.00", "49.00", "No", "0.00",
    ],
}  # fmt: skip
VISIBLE = {
    "operator": ["a_main", "a_dev", "a_usd", "a_hidden", "b1", "b2"],
    "owner": ["a_main", "a_dev", "a_usd"],
    "manager": ["a_main", "a_dev"],
    "viewer": ["a_main", "a_dev"],
    "cbm": ["a_main", "a_dev", "a_usd", "a_hidden"],
    "outsider": ["b1", "b2"],
}
USD_TOTAL = ["USD", "80.00", "0.00", "0.00", "0.00", "80.00"]
# currency, cash, transferred in, uncleared, credit limit, available
TOTALS = {
    "operator": [["CNY", "1550.00", "450.00", "21.00", "0.00", "1529.00"], USD_TOTAL],
    "owner": [["CNY", "950.00", "300.00", "20.00", "0.00", "930.00"], USD_TOTAL],
    "manager": [["CNY", "950.00", "300.00", "20.00", "0.00", "930.00"]],
    "viewer": [["CNY", "950.00", "300.00", "20.00", "0.00", "930.00"]],
    "cbm": [["CNY", "1050.00", "400.00", "20.00", "0.00", "1030.00"], USD_TOTAL],
    "outsider": [["CNY", "500.00", "50.00", "1.00", "0.00", "499.00"]],
}
MANAGES = {"operator", "owner", "manager"}


def login(client, portal, role):
    client.force_login(portal.user(role))
    return client


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def account_url(view, account_or_pk):
    pk = getattr(account_or_pk, "pk", account_or_pk)
    return url(f"accounts_account_{view}", pk)


def totals_rows(response):
    panel = parse(response).with_class("portal-totals")
    if not panel:
        return []
    return table_rows(panel[0].find("tbody"))


def section_rows(response, section_id):
    return table_rows(parse(response).find("section", id=section_id))


def filter_choices(response, title):
    details = parse(response).find("details", **{"data-filter-title": title})
    return [li.text for li in details.find_all("li")]


def compare_rows(response):
    return table_rows(parse(response).with_class("portal-compare")[0].find("tbody"))


def followed_messages(response):
    root = parse(response)
    return [
        li.text for ul in root.with_class("messagelist") for li in ul.find_all("li")
    ]


def csv_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode()), "the UTF-8 byte order mark for Excel"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def ledger_state():
    """Everything money views may write, to prove that nothing was."""
    return {
        "accounts": list(
            Account.objects.order_by("pk").values_list(
                "pk", "own_cash", "transferred_in_balance", "uncleared_amount"
            )
        ),
        "pairs": list(
            TransferPair.objects.order_by("pk").values_list("pk", "remaining_revocable")
        ),
        "movements": Movement.objects.count(),
        "postings": Posting.objects.count(),
        "log_entries": LogEntry.objects.count(),
    }


def balances(account):
    account.refresh_from_db()
    return (
        account.cash_balance,
        account.own_cash,
        account.transferred_in_balance,
        account.uncleared_amount,
    )


def confirming(confirm=True):
    """The fields of a confirming POST, with a fresh one-time token (a refused
    amount gets no review page, so the token is made here as a client could)."""
    if not confirm:
        return {}
    return {"confirm": "yes", "confirmation_token": secrets.token_urlsafe(32)}


def log_entries(account, user):
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Account),
            object_id=str(account.pk),
            user=user,
        ).order_by("pk")
    )


# --- accounts overview -------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_overview_shows_the_visible_accounts_with_balances_and_totals(
    client, portal, role
):
    login(client, portal, role)
    response = client.get(url("accounts_account_changelist"))
    assert response.status_code == 200
    assert result_rows(response) == [OVERVIEW_ROWS[n] for n in VISIBLE[role]]
    assert totals_rows(response) == TOTALS[role]
    context_totals = [
        [
            t["currency"],
            t["cash"],
            t["transferred_in"],
            t["uncleared"],
            t["limit"],
            t["available"],
        ]
        for t in response.context_data["currency_totals"]
    ]
    assert context_totals == TOTALS[role]
    html = response.content.decode()
    hidden = set(OVERVIEW_ROWS) - set(VISIBLE[role])
    for name in hidden:
        assert OVERVIEW_ROWS[name][0] not in html
        assert OVERVIEW_ROWS[name][1] not in html
    if role != "operator":
        other = "Acme" if role == "outsider" else "Globex"
        assert other not in html


def test_overview_totals_follow_the_filter(client, portal):
    login(client, portal, "owner")
    response = client.get(url("accounts_account_changelist") + "?currency__exact=USD")
    assert result_rows(response) == [OVERVIEW_ROWS["a_usd"]]
    assert totals_rows(response) == [USD_TOTAL]
    response = client.get(url("accounts_account_changelist") + "?q=Dev")
    assert result_rows(response) == [OVERVIEW_ROWS["a_dev"]]
    assert totals_rows(response) == [
        ["CNY", "350.00", "300.00", "20.00", "0.00", "330.00"]
    ]


@pytest.mark.parametrize("role", CUSTOMERS_OF_A)
def test_overview_company_filter_never_lists_another_company(client, portal, role):
    login(client, portal, role)
    changelist = url("accounts_account_changelist")
    response = client.get(changelist)
    assert filter_choices(response, "company") == ["All", "Acme", "-"]
    response = client.get(changelist + "?_facets=True")
    assert "Globex" not in response.content.decode()
    other = client.get(changelist + f"?company__id__exact={portal.other_company.pk}")
    missing = client.get(changelist + f"?company__id__exact={MISSING}")
    assert result_rows(other) == result_rows(missing) == []
    assert totals_rows(other) == totals_rows(missing) == []
    assert "Globex" not in other.content.decode()
    searched = client.get(changelist + "?q=Globex")
    assert result_rows(searched) == []
    searched = client.get(changelist + f"?q={portal.b1.uid}")
    assert result_rows(searched) == []


# --- the account page --------------------------------------------------------


def test_account_page_shows_balances_and_why_transferable_is_below_cash(client, portal):
    login(client, portal, "owner")
    response = client.get(account_url("change", portal.a_dev))
    assert response.status_code == 200
    assert section_rows(response, "balances") == [
        ["Cash balance", "350.00"],
        ["of which own funds", "50.00"],
        ["of which transferred in", "300.00"],
        ["Uncleared (billed, not yet paid)", "20.00"],
        ["Credit limit", "0.00"],
        ["Available balance", "330.00"],
        ["Overdue payment", "No"],
    ]
    panel = parse(response).find("section", id="transferable")
    assert panel.with_class("portal-big")[0].text == "50.00 CNY"
    items = panel.with_class("portal-reasons")[0].find_all("li")
    # The sentences only: their codes are for the API, kept out of sight.
    assert [li.text for li in items] == [
        "300.00 of your 350.00 arrived by transfer and can only be spent, "
        "not transferred again.",
        "Billed charges of 20.00 not yet paid lower the available balance to 330.00.",
    ]
    assert [li.attrs["data-reason"] for li in items] == [
        "transferred_in_funds",
        "uncleared_charges",
    ]
    assert "uncleared_charges" not in panel.text
    assert "transferred_in_funds" not in panel.text
    assert "300.00 of your 350.00 arrived by transfer" in response.content.decode()
    assert response.context_data["transferable"].transferable_amount == D("50.00")
    # Received from a_main: 300.00 sent; revocable = min(300 - 20, 300, 330).
    assert section_rows(response, "incoming") == [
        ["Sender", "Sent, not taken back", "Sender can revoke now"],
        ["Acme Main (1000000000000101)", "300.00", "280.00"],
    ]
    outgoing = parse(response).find("section", id="outgoing")
    assert "has not transferred funds to other accounts" in outgoing.text
    ledger = section_rows(response, "ledger")[1:]
    assert [row[1:] for row in ledger] == [
        [
            f"Usage charge #{_movement(portal.a_dev, 'usage_charge')}",
            "",
            "Uncleared charges",
            "20.00",
            "20.00",
        ],
        [
            f"Transfer #{_movement(portal.a_main, 'transfer', portal.a_dev)}",
            f"Acme Main ({portal.a_main.uid})",
            "Transferred-in funds",
            "300.00",
            "300.00",
        ],
        [
            f"Top-up #{_movement(portal.a_dev, 'top_up')}",
            "",
            "Own funds",
            "50.00",
            "50.00",
        ],
    ]
    links = [a.attrs["href"] for a in parse(response).find_all("a")]
    assert account_url("transfer", portal.a_dev) in links


def _movement(account, kind, counterparty=None):
    qs = Movement.objects.filter(account=account, kind=kind)
    if counterparty is not None:
        qs = qs.filter(counterparty=counterparty)
    return qs.get().pk


def test_account_page_lists_outgoing_pairs_with_revocable_amounts(client, portal):
    login(client, portal, "owner")
    response = client.get(account_url("change", portal.a_main))
    assert section_rows(response, "balances")[0] == ["Cash balance", "600.00"]
    panel = parse(response).find("section", id="transferable")
    assert panel.with_class("portal-big")[0].text == "600.00 CNY"
    assert "The whole cash balance can be transferred." in panel.text
    assert panel.with_class("portal-reasons") == []
    outgoing = parse(response).find("section", id="outgoing")
    assert table_rows(outgoing) == [
        ["Destination", "Sent, not taken back", "Revocable now", ""],
        ["Acme Dev (1000000000000102)", "300.00", "280.00", "Revoke"],
        ["Acme Hidden (1000000000000104)", "100.00", "100.00", "Revoke"],
    ]
    hrefs = [a.attrs["href"] for a in outgoing.find_all("a")]
    assert hrefs == [
        account_url("revoke", portal.a_main) + f"?destination={portal.a_dev.pk}",
        account_url("revoke", portal.a_main) + f"?destination={portal.a_hidden.pk}",
    ]
    # The hidden destination is named (uid and name), its balances are not.
    assert "Cash balance" not in outgoing.text


@pytest.mark.parametrize("role", ROLES)
def test_account_page_by_role(client, portal, role):
    login(client, portal, role)
    response = client.get(account_url("change", portal.a_main), follow=True)
    if "a_main" not in VISIBLE[role]:
        assert response.redirect_chain == [(url("index"), 302)]
        assert followed_messages(response) == [
            f"Account with ID \u201c{portal.a_main.pk}\u201d doesn\u2019t exist. "
            "Perhaps it was deleted?"
        ]
        assert "600.00" not in response.content.decode()
        return
    assert response.status_code == 200
    assert section_rows(response, "balances")[0] == ["Cash balance", "600.00"]
    links = [a.attrs.get("href") for a in parse(response).find_all("a")]
    transfer = account_url("transfer", portal.a_main)
    revoke = account_url("revoke", portal.a_main)
    top_up = account_url("top_up", portal.a_main)
    assert (transfer in links) == (role in MANAGES)
    assert any(link.startswith(revoke) for link in links if link) == (role in MANAGES)
    assert (top_up in links) == (role == "operator")
    html = response.content.decode()
    assert ("Transfer funds" in html) == (role in MANAGES)


# --- the ledger --------------------------------------------------------------

# account shown, movement kind, book, change, balance after
LEDGER = {
    "a_main": [
        ["Acme Main (1000000000000101)", "Transfer", "Own funds", "-100.00", "600.00"],
        ["Acme Main (1000000000000101)", "Transfer", "Own funds", "-300.00", "700.00"],
        ["Acme Main (1000000000000101)", "Top-up", "Own funds", "1000.00", "1000.00"],
    ],
    "a_dev": [
        [
            "Acme Dev (1000000000000102)",
            "Usage charge",
            "Uncleared charges",
            "20.00",
            "20.00",
        ],
        [
            "Acme Dev (1000000000000102)",
            "Transfer",
            "Transferred-in funds",
            "300.00",
            "300.00",
        ],
        ["Acme Dev (1000000000000102)", "Top-up", "Own funds", "50.00", "50.00"],
    ],
    "a_usd": [
        ["Acme Dollar (1000000000000103)", "Top-up", "Own funds", "80.00", "80.00"]
    ],
    "a_hidden": [
        [
            "Acme Hidden (1000000000000104)",
            "Transfer",
            "Transferred-in funds",
            "100.00",
            "100.00",
        ]
    ],
    "b1": [
        ["Globex HQ (2000000000000201)", "Transfer", "Own funds", "-50.00", "450.00"],
        ["Globex HQ (2000000000000201)", "Top-up", "Own funds", "500.00", "500.00"],
    ],
    "b2": [
        [
            "Globex Ops (2000000000000202)",
            "Usage charge",
            "Uncleared charges",
            "1.00",
            "1.00",
        ],
        [
            "Globex Ops (2000000000000202)",
            "Transfer",
            "Transferred-in funds",
            "50.00",
            "50.00",
        ],
    ],
}


def _ledger_cells(response):
    """Account, movement kind, book, change, balance after of each line (the
    "With" column is checked on its own)."""
    return [[row[1], row[2], *row[4:7]] for row in result_rows(response)]


@pytest.mark.parametrize("role", ROLES)
def test_ledger_lists_only_lines_of_visible_accounts(client, portal, role):
    login(client, portal, role)
    response = client.get(url("accounts_posting_changelist"))
    assert response.status_code == 200
    shown = _ledger_cells(response)
    expected = [line for n in VISIBLE[role] for line in LEDGER[n]]
    assert sorted(shown) == sorted(expected)
    choices = filter_choices(response, "account")
    assert choices == ["All"] + [LEDGER[n][0][0] for n in VISIBLE[role]]


def test_ledger_filters_by_account_kind_and_date(client, portal):
    login(client, portal, "owner")
    changelist = url("accounts_posting_changelist")
    response = client.get(changelist + f"?account={portal.a_dev.pk}")
    assert _ledger_cells(response) == LEDGER["a_dev"]
    # "With": the account on the other side, as on the account page.
    assert [row[3] for row in result_rows(response)] == [
        "-",
        f"Acme Main ({portal.a_main.uid})",
        "-",
    ]
    response = client.get(changelist + "?movement__kind=transfer")
    assert _ledger_cells(response) == [
        LEDGER["a_main"][0],
        LEDGER["a_dev"][1],
        LEDGER["a_main"][1],
    ]
    response = client.get(
        changelist + f"?account={portal.a_main.pk}&movement__kind=top_up"
    )
    assert _ledger_cells(response) == [LEDGER["a_main"][2]]
    day = "movement__posted_at__year=2024&movement__posted_at__month=3"
    response = client.get(changelist + f"?{day}&movement__posted_at__day=15")
    assert _ledger_cells(response) == [LEDGER["a_main"][2]]
    response = client.get(changelist + f"?{day}&movement__posted_at__day=16")
    assert _ledger_cells(response) == []


def _date_links(response):
    nav = parse(response).find("nav", class_="toplinks")
    return [(a.text, a.attrs["href"]) for a in nav.find_all("a")]


@pytest.mark.parametrize("changelist", ["accounts_posting", "accounts_movement"])
def test_ledger_date_drill_down_comes_from_the_calendar_not_the_rows(
    client, portal, changelist
):
    """No MIN/MAX or DISTINCT over every visible line to draw the links (the
    page's cost at a million lines); the same parameters as Django's."""
    login(client, portal, "operator" if "movement" in changelist else "owner")
    field = "movement__posted_at" if "posting" in changelist else "posted_at"
    page = url(f"{changelist}_changelist")
    today = timezone.localdate()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page)
    statements = " ".join(q["sql"] for q in queries.captured_queries).upper()
    assert "DISTINCT" not in statements
    assert "MIN(" not in statements
    links = _date_links(response)
    assert links[0][0] == "Today"
    assert f"{field}__year={today.year}" in links[0][1]
    assert f"{field}__day={today.day}" in links[0][1]
    assert [title for title, _ in links][-3:] == [str(today.year - n) for n in range(3)]
    # A past year: its twelve months; a month: every day; a day: back to it.
    response = client.get(page + f"?{field}__year=2024")
    assert [t for t, _ in _date_links(response)][1:] == [
        f"{month} 2024" for month in calendar.month_name[1:]
    ]
    response = client.get(page + f"?{field}__year=2024&{field}__month=2")
    links = _date_links(response)
    assert links[0][0].endswith(" 2024")  # the way back to the year
    assert len(links) == 1 + 29
    assert f"{field}__day=29" in links[-1][1]


@pytest.mark.parametrize("role", CUSTOMERS_OF_A)
def test_ledger_filter_by_another_company_account_shows_nothing(client, portal, role):
    login(client, portal, role)
    changelist = url("accounts_posting_changelist")
    for pk in (portal.b1.pk, portal.b2.pk, MISSING):
        response = client.get(changelist + f"?account={pk}")
        assert response.status_code == 200
        assert result_rows(response) == []
        html = response.content.decode()
        assert "Globex" not in html
        assert "450.00" not in html


CSV_HEADER = [
    "posted_at",
    "effective_at",
    "account_uid",
    "account_name",
    "movement",
    "kind",
    "book",
    "change",
    "balance_after",
    "currency",
    "counterparty_uid",
    "counterparty_name",
]


def _csv_line(posting, uid, name, change, other=None):
    movement = posting.movement
    return [
        movement.posted_at.isoformat(),
        movement.effective_at.isoformat(),
        "\t" + uid,  # as text: a spreadsheet keeps all 16 digits
        name,
        str(movement.pk),
        movement.kind,
        posting.book,
        change,
        f"{posting.balance_after:.2f}",
        "CNY",
        "\t" + other.uid if other else "",
        other.name if other else "",
    ]


def test_csv_export_streams_without_counting(client, portal):
    """Issue 9: an export sends rows as the database yields them; the
    changelist's COUNT(*) queries (filtered and total) are not run for it."""
    login(client, portal, "owner")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("accounts_posting_export"))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0].split(",")[:3] == CSV_HEADER[:3]
    assert len(body.splitlines()) > 3
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [q for q in sql if "COUNT(" in q]


def test_ledger_csv_export_is_exactly_what_the_filter_shows(client, portal):
    login(client, portal, "owner")
    export = url("accounts_posting_export")
    rows = csv_rows(client.get(export + f"?account={portal.a_dev.pk}"))
    lines = list(
        Posting.objects.filter(holder_type="account", holder_id=portal.a_dev.pk)
        .select_related("movement")
        .order_by("-id")
    )
    uid, name = portal.a_dev.uid, portal.a_dev.name
    assert rows == [
        CSV_HEADER,
        _csv_line(lines[0], uid, name, "20.00"),
        # The transfer's line names the account it came from, as the
        # account page's "With" column does.
        _csv_line(lines[1], uid, name, "300.00", other=portal.a_main),
        _csv_line(lines[2], uid, name, "50.00"),
    ]
    assert [r[5:9] for r in rows[1:]] == [
        ["usage_charge", "uncleared", "20.00", "20.00"],
        ["transfer", "transferred_in", "300.00", "300.00"],
        ["top_up", "own_cash", "50.00", "50.00"],
    ]
    # The export link on the changelist carries the filter.
    page = client.get(
        url("accounts_posting_changelist") + f"?account={portal.a_dev.pk}"
    )
    links = [a.attrs.get("href") for a in parse(page).find_all("a")]
    assert f"{export}?account={portal.a_dev.pk}" in links

    day = "movement__posted_at__year=2024&movement__posted_at__month=3"
    rows = csv_rows(client.get(export + f"?{day}&movement__posted_at__day=15"))
    assert len(rows) == 2
    assert rows[1][:2] == [PAST_TOP_UP_AT.isoformat(), PAST_TOP_UP_AT.isoformat()]
    assert rows[1][2:] == [
        "\t" + portal.a_main.uid,
        "Acme Main",
        rows[1][4],
        "top_up",
        "own_cash",
        "1000.00",
        "1000.00",
        "CNY",
        "",  # a top-up has no other side
        "",
    ]

    rows = csv_rows(client.get(export + "?movement__kind=transfer"))
    assert [(r[2].lstrip("\t"), r[6], r[7], r[8]) for r in rows[1:]] == [
        (portal.a_main.uid, "own_cash", "-100.00", "600.00"),
        (portal.a_dev.uid, "transferred_in", "300.00", "300.00"),
        (portal.a_main.uid, "own_cash", "-300.00", "700.00"),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_ledger_csv_export_never_contains_another_company(client, portal, role):
    login(client, portal, role)
    export = url("accounts_posting_export")
    rows = csv_rows(client.get(export))
    assert rows[0] == CSV_HEADER
    visible_uids = {OVERVIEW_ROWS[n][0] for n in VISIBLE[role]}
    assert {r[2].lstrip("\t") for r in rows[1:]} == visible_uids
    assert len(rows) - 1 == sum(len(LEDGER[n]) for n in VISIBLE[role])
    # The same lines, in the same order, as the changelist shows.
    page = client.get(url("accounts_posting_changelist"))
    assert [r[4] for r in rows[1:]] == [row[-1] for row in result_rows(page)]
    if role != "operator":
        foreign = ["b1", "b2"] if role != "outsider" else ["a_main", "a_dev"]
        for name in [*foreign, "missing"]:
            pk = MISSING if name == "missing" else getattr(portal, name).pk
            assert csv_rows(client.get(export + f"?account={pk}")) == [CSV_HEADER]


def test_ledger_csv_export_with_a_malformed_filter_is_a_400_not_a_500(client, portal):
    login(client, portal, "owner")
    export = url("accounts_posting_export")
    for query in (
        "?movement__posted_at__year=abc",
        "?movement__posted_at__year=2024&movement__posted_at__month=13",
    ):
        response = client.get(export + query)
        assert response.status_code == 400, query
    # Lookups on the model's own fields stay inside the user's scope.
    for query in (f"?holder_id={portal.b1.pk}", f"?holder_id__in={portal.b1.pk}"):
        assert csv_rows(client.get(export + query)) == [CSV_HEADER]
        page = client.get(url("accounts_posting_changelist") + query)
        assert result_rows(page) == []


# --- movements, usage records, companies -------------------------------------


def _movement_ids(portal, names):
    accounts = [getattr(portal, n) for n in names]
    return set(
        Movement.objects.filter(
            Q(account__in=accounts) | Q(counterparty__in=accounts)
        ).values_list("pk", flat=True)
    )


@pytest.mark.parametrize("role", ROLES)
def test_movements_changelist_is_scoped(client, portal, role):
    login(client, portal, role)
    response = client.get(url("accounts_movement_changelist"))
    assert response.status_code == 200
    shown = {int(row[0]) for row in result_rows(response)}
    assert shown == _movement_ids(portal, VISIBLE[role])
    expected_count = {
        "operator": 9,
        "owner": 6,
        "manager": 5,
        "viewer": 5,
        "cbm": 6,
        "outsider": 3,
    }
    assert len(shown) == expected_count[role]
    assert filter_choices(response, "account") == ["All"] + [
        LEDGER[n][0][0] for n in VISIBLE[role]
    ]


def test_movements_filter_by_account_and_kind(client, portal):
    login(client, portal, "owner")
    changelist = url("accounts_movement_changelist")
    response = client.get(changelist + f"?account={portal.a_dev.pk}")
    rows = result_rows(response)
    assert sorted((r[1], r[4]) for r in rows) == [
        ("Top-up", "50.00"),
        ("Transfer", "300.00"),
        ("Usage charge", "20.00"),
    ]
    response = client.get(changelist + f"?account={portal.b1.pk}")
    assert result_rows(response) == []
    response = client.get(changelist + "?kind__exact=transfer")
    assert sorted(r[4] for r in result_rows(response)) == ["100.00", "300.00"]


def test_movement_page_shows_legs_to_operators_only(client, portal):
    movement = _movement(portal.a_main, "transfer", portal.a_hidden)
    page = url("accounts_movement_change", movement)
    login(client, portal, "owner")
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Hidden" in html
    assert "transferred_in" not in html  # the legs (with a_hidden's balances)
    login(client, portal, "operator")
    response = client.get(page)
    assert "transferred_in" in response.content.decode()


USAGE = {"a_dev": "acme-usage-1", "b2": "globex-usage-1"}


@pytest.mark.parametrize("role", ROLES)
def test_usage_records_are_scoped(client, portal, role):
    login(client, portal, role)
    response = client.get(url("sharing_usagerecord_changelist"))
    assert response.status_code == 200
    rows = result_rows(response)
    expected = [USAGE[n] for n in ("a_dev", "b2") if n in VISIBLE[role]]
    assert sorted(r[0] for r in rows) == sorted(expected)
    for row in rows:
        amount = "20.00" if row[0] == "acme-usage-1" else "1.00"
        assert row[5] == row[6] == amount


@pytest.mark.parametrize("role", ROLES)
def test_companies_are_scoped(client, portal, role):
    login(client, portal, role)
    response = client.get(url("accounts_company_changelist"))
    assert response.status_code == 200
    names = [row[0] for row in result_rows(response)]
    expected = {
        "operator": ["Acme", "Globex"],
        "outsider": ["Globex"],
    }.get(role, ["Acme"])
    assert names == expected


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
def test_operator_only_admins_are_forbidden_to_customers(client, portal, role):
    login(client, portal, role)
    for name in (
        "accounts_charge_changelist",
        "accounts_transferpair_changelist",
        "accounts_accountaccess_changelist",
        "billing_portal_auditevent_changelist",
    ):
        assert client.get(url(name)).status_code == 403, name
    index = client.get(url("index")).content.decode()
    assert "Transfer pairs" not in index
    assert "Audit events" not in index


# --- transfer ----------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(MANAGES))
def test_transfer_review_confirm_and_done(client, portal, role):
    actor = portal.user(role)
    login(client, portal, role)
    transfer_url = account_url("transfer", portal.a_main)

    response = client.get(transfer_url)
    assert response.status_code == 200
    form_page = parse(response)
    assert form_page.with_class("portal-big")[0].text == "600.00 CNY"
    select = form_page.find("select", id="id_destination")
    assert select.attrs["data-ajax--url"] == account_url("targets", portal.a_main)

    before = ledger_state()
    data = {"destination": portal.a_dev.pk, "amount": "125.50"}
    response = client.post(transfer_url, data)
    assert response.status_code == 200
    assert "You are about to transfer 125.50 CNY" in parse(response).text
    assert compare_rows(response) == [
        [
            "Source — before",
            "Acme Main (1000000000000101)",
            "600.00",
            "0.00",
            "0.00",
            "600.00",
        ],
        [
            "Source — after",
            "Acme Main (1000000000000101)",
            "474.50",
            "0.00",
            "0.00",
            "474.50",
        ],
        [
            "Destination — before",
            "Acme Dev (1000000000000102)",
            "350.00",
            "300.00",
            "20.00",
            "330.00",
        ],
        [
            "Destination — after",
            "Acme Dev (1000000000000102)",
            "475.50",
            "425.50",
            "20.00",
            "455.50",
        ],
    ]
    hidden = {
        i.attrs["name"]: i.attrs.get("value")
        for i in parse(response).find_all("input", type="hidden")
    }
    assert hidden["destination"] == str(portal.a_dev.pk)
    assert hidden["amount"] == "125.50"
    assert hidden["confirm"] == "yes"
    assert len(hidden["confirmation_token"]) >= 32
    assert ledger_state() == before  # the review writes nothing

    response = client.post(transfer_url, confirmation_fields(response))
    assert response.status_code == 302
    assert response["Location"] == account_url("change", portal.a_main)
    assert balances(portal.a_main) == (D("474.50"), D("474.50"), D("0.00"), D(0))
    assert balances(portal.a_dev) == (
        D("475.50"),
        D("50.00"),
        D("425.50"),
        D("20.00"),
    )
    pair = TransferPair.objects.get(source=portal.a_main, destination=portal.a_dev)
    assert pair.remaining_revocable == D("425.50")
    assert Movement.objects.count() == before["movements"] + 1
    movement = Movement.objects.latest("pk")
    assert (movement.kind, movement.amount, movement.actor) == (
        "transfer",
        D("125.50"),
        actor,
    )
    assert (movement.account, movement.counterparty) == (portal.a_main, portal.a_dev)
    message = "Transferred 125.50 CNY to Acme Dev (1000000000000102)."
    [entry] = log_entries(portal.a_main, actor)[-1:]
    assert entry.action_flag == CHANGE
    assert entry.get_change_message() == message
    page = client.get(response["Location"])
    assert followed_messages(page) == [message]
    assert section_rows(page, "balances")[0] == ["Cash balance", "474.50"]
    assert parse(page).find("section", id="transferable").with_class("portal-big")[
        0
    ].text == ("474.50 CNY")


def test_transfer_confirmation_hides_balances_the_user_cannot_see(client, portal):
    login(client, portal, "owner")
    transfer_url = account_url("transfer", portal.a_main)
    data = {"destination": portal.a_hidden.pk, "amount": "10.00"}
    response = client.post(transfer_url, data)
    rows = compare_rows(response)
    assert rows[:2] == [
        [
            "Source — before",
            "Acme Main (1000000000000101)",
            "600.00",
            "0.00",
            "0.00",
            "600.00",
        ],
        [
            "Source — after",
            "Acme Main (1000000000000101)",
            "590.00",
            "0.00",
            "0.00",
            "590.00",
        ],
    ]
    assert rows[2] == [
        "Destination — before",
        "Acme Hidden (1000000000000104)",
        "Balances of accounts you do not have access to are not shown.",
    ]
    assert rows[3] == ["Destination — after", "Acme Hidden (1000000000000104)", ""]
    html = response.content.decode()
    assert "100.00" not in html
    assert "110.00" not in html
    response = client.post(transfer_url, confirmation_fields(response))
    assert response.status_code == 302
    assert balances(portal.a_hidden)[:3] == (D("110.00"), D("0.00"), D("110.00"))
    assert balances(portal.a_main)[0] == D("590.00")

    login(client, portal, "operator")
    response = client.post(transfer_url, data)
    assert compare_rows(response)[2] == [
        "Destination — before",
        "Acme Hidden (1000000000000104)",
        "110.00",
        "110.00",
        "0.00",
        "110.00",
    ]


def _assert_refused(response, before, expected):
    assert response.status_code == 200
    assert "The transfer cannot be made. Nothing was moved." in parse(response).text
    assert refusal_items(response) == [f"{r.message} {r.code}" for r in expected]
    assert ledger_state() == before


@pytest.mark.parametrize("confirm", [False, True], ids=["review", "confirm"])
def test_transfer_refusal_shows_every_reason_and_moves_nothing(client, portal, confirm):
    login(client, portal, "owner")
    before = ledger_state()
    response = client.post(
        account_url("transfer", portal.a_dev),
        {"destination": portal.a_main.pk, "amount": "100.00", **confirming(confirm)},
    )
    expected = [
        reason(
            "exceeds_transferable",
            amount="100.00",
            transferable="50.00",
            account=portal.a_dev.uid,
        )
    ]
    _assert_refused(response, before, expected)
    assert (
        "100.00 is more than the 50.00 that account 1000000000000102 can transfer."
        in response.content.decode()
    )

    services.update_account(
        account=portal.a_hidden, actor=portal.operator, status="frozen"
    )
    before = ledger_state()
    response = client.post(
        account_url("transfer", portal.a_main),
        {"destination": portal.a_hidden.pk, "amount": "700.00", **confirming(confirm)},
    )
    _assert_refused(
        response,
        before,
        [
            reason("account_not_active", variant="frozen", account=portal.a_hidden.uid),
            reason(
                "exceeds_transferable",
                amount="700.00",
                transferable="600.00",
                account=portal.a_main.uid,
            ),
        ],
    )

    response = client.post(
        account_url("transfer", portal.a_main),
        {"destination": portal.a_usd.pk, "amount": "5.00", **confirming(confirm)},
    )
    _assert_refused(
        response,
        before,
        [
            reason(
                "currency_mismatch",
                source=portal.a_main.uid,
                destination=portal.a_usd.uid,
                source_currency="CNY",
                destination_currency="USD",
            )
        ],
    )


def test_transfer_from_an_overdue_account_is_refused_with_reasons(
    client, portal, charge
):
    charge(portal.a_dev, "400.00")  # uncleared 420, available -70
    login(client, portal, "owner")
    response = client.get(account_url("change", portal.a_dev))
    panel = parse(response).find("section", id="transferable")
    assert panel.with_class("portal-big")[0].text == "0.00 CNY"
    assert section_rows(response, "balances")[-2:] == [
        ["Available balance", "-70.00"],
        ["Overdue payment", "Yes"],
    ]
    # The overview says so in words (the other accounts: "No").
    overview = client.get(url("accounts_account_changelist"))
    overdue_column = {row[1]: row[10] for row in result_rows(overview)}
    assert overdue_column["Acme Dev"] == "Yes"
    assert overdue_column["Acme Main"] == "No"
    before = ledger_state()
    overdue = reason("source_overdue", account=portal.a_dev.uid, available="-70.00")
    # The form is not offered: the rule that blocks every transfer is shown.
    page = client.get(account_url("transfer", portal.a_dev))
    assert refusal_items(page) == [f"{overdue.message} {overdue.code}"]
    assert parse(page).find("input", name="amount") is None
    assert "Nothing can be transferred from this account now." in parse(page).text
    # A POST typed by hand gets the same refusal and moves nothing.
    response = client.post(
        account_url("transfer", portal.a_dev),
        {"destination": portal.a_main.pk, "amount": "10.00"},
    )
    assert response.status_code == 200
    assert refusal_items(response) == [f"{overdue.message} {overdue.code}"]
    assert ledger_state() == before


@pytest.mark.parametrize("amount", ["1.505", "0", "-5.00", "abc", "1e2", ""])
def test_transfer_form_refuses_malformed_amounts(client, portal, amount):
    login(client, portal, "owner")
    before = ledger_state()
    response = client.post(
        account_url("transfer", portal.a_main),
        {"destination": portal.a_dev.pk, "amount": amount, "confirm": "yes"},
    )
    assert response.status_code == 200
    assert parse(response).with_class("errorlist")
    assert parse(response).with_class("portal-compare") == []
    assert ledger_state() == before


def test_transfer_to_another_company_is_answered_like_a_missing_account(client, portal):
    login(client, portal, "owner")
    transfer_url = account_url("transfer", portal.a_main)
    before = ledger_state()
    answers = []
    for pk in (portal.b1.pk, MISSING):
        for extra in ({}, {"confirm": "yes"}):
            response = client.post(
                transfer_url, {"destination": pk, "amount": "1.00", **extra}
            )
            assert response.status_code == 200
            errors = [e.text for e in parse(response).with_class("errorlist")]
            answers.append(errors)
    assert answers[0] == answers[1] == answers[2] == answers[3]
    assert answers[0] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert ledger_state() == before


@pytest.mark.parametrize("role", ["viewer", "cbm"])
def test_users_without_manage_cannot_reach_the_money_views(client, portal, role):
    login(client, portal, role)
    before = ledger_state()
    a_main = portal.a_main
    assert client.get(account_url("transfer", a_main)).status_code == 403
    response = client.post(
        account_url("transfer", a_main),
        {"destination": portal.a_dev.pk, "amount": "1.00", "confirm": "yes"},
    )
    assert response.status_code == 403
    revoke = account_url("revoke", a_main) + f"?destination={portal.a_dev.pk}"
    assert client.get(revoke).status_code == 403
    response = client.post(
        account_url("revoke", a_main),
        {"destination": portal.a_dev.pk, "amount": "1.00", "confirm": "yes"},
    )
    assert response.status_code == 403
    assert client.get(account_url("targets", a_main)).status_code == 403
    assert client.get(account_url("top_up", a_main)).status_code == 403
    assert ledger_state() == before


# --- transfer targets --------------------------------------------------------


def _targets(client, account, term=""):
    response = client.get(account_url("targets", account), {"term": term})
    assert response.status_code == 200
    return response.json()


def test_transfer_targets_are_accounts_of_the_source_company_only(client, portal):
    """Accounts of the source's company in its currency: a transfer to Acme
    Dollar (USD) from a CNY account could only be refused (currency_mismatch),
    so it is not offered."""
    login(client, portal, "owner")
    expected = [
        {"id": str(portal.a_dev.pk), "text": "Acme Dev (1000000000000102)"},
        {"id": str(portal.a_hidden.pk), "text": "Acme Hidden (1000000000000104)"},
    ]
    assert _targets(client, portal.a_main) == {
        "results": expected,
        "pagination": {"more": False},
    }
    assert _targets(client, portal.a_main, "Dollar")["results"] == []
    assert _targets(client, portal.a_usd)["results"] == []  # no other USD account
    assert _targets(client, portal.a_main, "hidd")["results"] == [expected[1]]
    assert _targets(client, portal.a_main, "10000000000001")["results"] == expected
    for term in ("Globex", "Glob", portal.b1.uid, "2000"):
        assert _targets(client, portal.a_main, term)["results"] == []
    # uid and name only: nothing else of the hidden account.
    body = json.dumps(_targets(client, portal.a_main))
    assert "100.00" not in body

    login(client, portal, "operator")
    assert _targets(client, portal.a_main)["results"] == expected
    login(client, portal, "outsider")
    assert _targets(client, portal.b1)["results"] == [
        {"id": str(portal.b2.pk), "text": "Globex Ops (2000000000000202)"}
    ]


def test_transfer_targets_of_an_unverified_company_are_empty(
    client, portal, grant, fund
):
    unverified = CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )
    one = AccountFactory(company=unverified, name="Initech One")
    AccountFactory(company=unverified, name="Initech Two")
    grant(portal.owner, one)
    fund(one, "10.00")
    login(client, portal, "owner")
    assert _targets(client, one)["results"] == []
    response = client.get(account_url("change", one))
    reasons = parse(response).find("section", id="transferable").text
    assert reason("company_not_verified", account=one.uid).message in reasons


# --- revocation --------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(MANAGES))
def test_revoke_review_confirm_and_done(client, portal, role):
    actor = portal.user(role)
    login(client, portal, role)
    revoke_url = account_url("revoke", portal.a_main)
    response = client.get(revoke_url + f"?destination={portal.a_dev.pk}")
    assert response.status_code == 200
    page = parse(response)
    assert page.with_class("portal-big")[0].text == "280.00 CNY"
    terms = page.with_class("portal-panel")[0].find("table")
    assert table_rows(terms) == [
        [
            "Transferred-in funds the destination has not spent (billed charges "
            "count as spent)",
            "280.00",
        ],
        ["What this account sent there and has not taken back", "300.00"],
        ["The destination's available balance", "330.00"],
    ]
    binding = terms.with_class("portal-warn")
    assert len(binding) == 1
    assert binding[0].find("td", **{"class": "num"}).text == "280.00"
    assert binding[0].find("td").text.startswith("Transferred-in funds")

    before = ledger_state()
    data = {"destination": portal.a_dev.pk, "amount": "80.00"}
    response = client.post(revoke_url, data)
    assert response.status_code == 200
    assert compare_rows(response) == [
        [
            "Source — before",
            "Acme Main (1000000000000101)",
            "600.00",
            "0.00",
            "0.00",
            "600.00",
        ],
        [
            "Source — after",
            "Acme Main (1000000000000101)",
            "680.00",
            "0.00",
            "0.00",
            "680.00",
        ],
        [
            "Destination — before",
            "Acme Dev (1000000000000102)",
            "350.00",
            "300.00",
            "20.00",
            "330.00",
        ],
        [
            "Destination — after",
            "Acme Dev (1000000000000102)",
            "270.00",
            "220.00",
            "20.00",
            "250.00",
        ],
    ]
    assert ledger_state() == before

    response = client.post(revoke_url, confirmation_fields(response))
    assert response.status_code == 302
    assert response["Location"] == account_url("change", portal.a_main)
    assert balances(portal.a_main) == (D("680.00"), D("680.00"), D(0), D(0))
    assert balances(portal.a_dev) == (D("270.00"), D("50.00"), D("220.00"), D("20.00"))
    pair = TransferPair.objects.get(source=portal.a_main, destination=portal.a_dev)
    assert pair.remaining_revocable == D("220.00")
    movement = Movement.objects.latest("pk")
    assert (movement.kind, movement.amount, movement.actor) == (
        "revocation",
        D("80.00"),
        actor,
    )
    assert Movement.objects.count() == before["movements"] + 1
    message = "Took back 80.00 CNY from Acme Dev (1000000000000102)."
    assert log_entries(portal.a_main, actor)[-1].get_change_message() == message
    page = client.get(response["Location"])
    assert followed_messages(page) == [message]
    assert table_rows(parse(page).find("section", id="outgoing"))[1] == [
        "Acme Dev (1000000000000102)",
        "220.00",
        "200.00",
        "Revoke",
    ]


@pytest.mark.parametrize("confirm", [False, True], ids=["review", "confirm"])
def test_revoke_refusal_lists_every_exceeded_term_binding_first(
    client, portal, confirm
):
    login(client, portal, "owner")
    before = ledger_state()
    response = client.post(
        account_url("revoke", portal.a_main),
        {"destination": portal.a_dev.pk, "amount": "340.00", **confirming(confirm)},
    )
    assert response.status_code == 200
    assert "The funds cannot be taken back. Nothing was moved." in parse(response).text
    ids = {"source": portal.a_main.uid, "destination": portal.a_dev.uid}
    expected = [
        reason(
            "exceeds_transferred_in_balance", amount="340.00", limit="280.00", **ids
        ),
        reason("exceeds_remaining_revocable", amount="340.00", limit="300.00", **ids),
        reason("would_cause_overdue", amount="340.00", limit="330.00", **ids),
    ]
    assert refusal_items(response) == [f"{r.message} {r.code}" for r in expected]
    assert ledger_state() == before

    response = client.post(
        account_url("revoke", portal.a_main),
        {"destination": portal.a_dev.pk, "amount": "290.00", **confirming(confirm)},
    )
    assert refusal_items(response) == [
        "290.00 is more than the 280.00 of transferred-in funds that account "
        "1000000000000102 has not spent yet. exceeds_transferred_in_balance"
    ]
    assert ledger_state() == before


def test_revoke_from_a_destination_the_user_cannot_see(client, portal):
    login(client, portal, "owner")
    revoke_url = account_url("revoke", portal.a_main)
    data = {"destination": portal.a_hidden.pk, "amount": "40.00"}
    response = client.post(revoke_url, data)
    rows = compare_rows(response)
    assert rows[1] == [
        "Source — after",
        "Acme Main (1000000000000101)",
        "640.00",
        "0.00",
        "0.00",
        "640.00",
    ]
    assert rows[2][2] == "Balances of accounts you do not have access to are not shown."
    assert "60.00" not in response.content.decode()
    response = client.post(revoke_url, confirmation_fields(response))
    assert response.status_code == 302
    assert balances(portal.a_hidden)[:3] == (D("60.00"), D("0.00"), D("60.00"))
    assert balances(portal.a_main)[:2] == (D("640.00"), D("640.00"))


def test_revoke_from_an_account_of_another_company_is_answered_like_a_missing_id(
    client, portal
):
    login(client, portal, "owner")
    revoke_url = account_url("revoke", portal.a_main)
    for pk in (portal.b2.pk, MISSING):
        assert _outcome(client, "get", revoke_url + f"?destination={pk}", hide=pk) == (
            _outcome(
                client, "get", revoke_url + f"?destination={MISSING}", hide=MISSING
            )
        )
    before = ledger_state()
    answers = []
    for pk in (portal.b2.pk, MISSING):
        response = client.post(
            revoke_url, {"destination": pk, "amount": "1.00", "confirm": "yes"}
        )
        answers.append([e.text for e in parse(response).with_class("errorlist")])
    assert answers[0] == answers[1]
    assert answers[0]
    assert ledger_state() == before


def test_revoke_from_an_account_never_transferred_to_says_so(client, portal):
    """An account of the company that a_main never sent funds to: the page says
    there is nothing to revoke, in the service's own sentence (not "doesn't
    exist"), and offers no form."""
    login(client, portal, "owner")
    revoke_url = account_url("revoke", portal.a_main)
    before = ledger_state()
    never = reason(
        "no_prior_transfer", source=portal.a_main.uid, destination=portal.a_usd.uid
    )

    page = client.get(revoke_url + f"?destination={portal.a_usd.pk}")
    typed = client.post(revoke_url, {"destination": portal.a_usd.pk, "amount": "1"})

    assert page.status_code == typed.status_code == 200
    for response in (page, typed):
        assert refusal_items(response) == [f"{never.message} {never.code}"]
        assert parse(response).find("input", name="amount") is None
        text = parse(response).text
        assert "Nothing can be taken back from this account now." in text
        assert "has never transferred funds to account 1000000000000103" in text
        assert "doesn't exist" not in text
    with pytest.raises(RevocationRefused) as refused:
        services.revoke_transfer(
            source=portal.a_main,
            destination=portal.a_usd,
            amount=D("1.00"),
            actor=portal.owner,
        )
    assert [r.message for r in refused.value.reasons] == [never.message]
    assert ledger_state() == before


def test_revoke_is_greyed_with_why_when_nothing_can_be_taken_back(
    client, portal, charge
):
    """a_hidden spent the 100.00 a_main sent it: its row's "Revoke" is greyed
    with the binding term in a sentence, on the account page and on the page
    of all pairs; the service refuses any amount."""
    charge(portal.a_hidden, "100.00")
    login(client, portal, "owner")
    revoke = account_url("revoke", portal.a_main) + f"?destination={portal.a_hidden.pk}"
    sentence = (
        "Account 1000000000000104 has spent the funds transferred to it (billed "
        "charges count as spent), so nothing can be taken back now."
    )

    page = client.get(account_url("change", portal.a_main))
    pairs = client.get(url("accounts_account_pairs", portal.a_main.pk, "out"))

    for response, rows in ((page, "outgoing"), (pairs, None)):
        node = parse(response).find("section", id=rows) if rows else parse(response)
        assert revoke not in response.content.decode()
        greyed = disabled_button(node, "Revoke")
        assert greyed["reasons"] == [sentence]
    # The other pair (a_dev) still offers its Revoke link.
    assert (
        account_url("revoke", portal.a_main) + f"?destination={portal.a_dev.pk}"
    ) in page.content.decode()
    with pytest.raises(RevocationRefused) as refused:
        services.revoke_transfer(
            source=portal.a_main,
            destination=portal.a_hidden,
            amount=D("0.01"),
            actor=portal.owner,
        )
    assert [r.code for r in refused.value.reasons] == [
        "exceeds_transferred_in_balance",
        "would_cause_overdue",
    ]
    # Its form says the same instead of offering an amount field.
    form = client.get(revoke)
    assert refusal_items(form) == [f"{sentence} nothing_revocable"]
    assert parse(form).find("input", name="amount") is None


# --- operators: top-up, settle, verify, add and change -----------------------


def test_operator_top_up_with_confirmation_settles(client, portal):
    login(client, portal, "operator")
    top_up_url = account_url("top_up", portal.a_dev)
    assert client.get(top_up_url).status_code == 200
    before = ledger_state()
    response = client.post(top_up_url, {"amount": "25.00"})
    assert response.status_code == 200
    assert table_rows(parse(response).with_class("portal-compare")[0]) == [
        ["", "Cash", "Uncleared"],
        ["Before", "350.00", "20.00"],
        ["After top-up and settlement", "355.00", "0.00"],
    ]
    assert (
        "Top-up: 25.00 CNY; then uncleared charges of 20.00 CNY are settled from cash."
        in parse(response).text
    )
    assert ledger_state() == before
    response = client.post(top_up_url, confirmation_fields(response))
    assert response.status_code == 302
    assert response["Location"] == account_url("change", portal.a_dev)
    # Settlement spends transferred-in funds first.
    assert balances(portal.a_dev) == (D("355.00"), D("75.00"), D("280.00"), D(0))
    kinds = list(Movement.objects.order_by("-pk").values_list("kind", "amount")[:2])
    assert kinds == [("settlement", D("20.00")), ("top_up", D("25.00"))]
    message = "Topped up 25.00 CNY."
    assert log_entries(portal.a_dev, portal.operator)[-1].get_change_message() == (
        message
    )
    assert followed_messages(client.get(response["Location"])) == [message]


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm"])
def test_customers_get_403_on_the_top_up_of_a_visible_account(client, portal, role):
    login(client, portal, role)
    before = ledger_state()
    top_up_url = account_url("top_up", portal.a_main)
    assert client.get(top_up_url).status_code == 403
    response = client.post(top_up_url, {"amount": "25.00", **confirming()})
    assert response.status_code == 403
    assert ledger_state() == before


def _action(client, changelist, action, pks, confirmed, token=None):
    data = {"action": action, "_selected_action": [str(pk) for pk in pks]}
    data["index"] = "0"
    if confirmed:
        data["post"] = "yes"
        data["confirmation_token"] = token or secrets.token_urlsafe(32)
    return client.post(changelist, data)


def test_settle_action_shows_a_confirmation_then_settles(client, portal):
    login(client, portal, "operator")
    changelist = url("accounts_account_changelist")
    pks = [portal.a_main.pk, portal.a_dev.pk]
    before = ledger_state()
    response = _action(client, changelist, "settle_selected", pks, confirmed=False)
    assert response.status_code == 200
    content = parse(response).find("div", id="content")
    assert table_rows(content.find("table")) == [
        ["Account", "Cash", "Uncleared", "Will be paid"],
        ["Acme Dev (1000000000000102)", "350.00 CNY", "20.00", "20.00"],
    ]
    assert ledger_state() == before
    token = confirmation_fields(response)["confirmation_token"]
    response = _action(
        client, changelist, "settle_selected", pks, confirmed=True, token=token
    )
    assert response.status_code == 302
    assert balances(portal.a_dev) == (D("330.00"), D("50.00"), D("280.00"), D(0))
    assert balances(portal.a_main) == (D("600.00"), D("600.00"), D(0), D(0))
    movement = Movement.objects.latest("pk")
    assert (movement.kind, movement.amount, movement.actor) == (
        "settlement",
        D("20.00"),
        portal.operator,
    )
    assert [
        e.get_change_message() for e in log_entries(portal.a_dev, portal.operator)
    ] == ["Settled uncleared charges."]
    assert log_entries(portal.a_main, portal.operator) == []
    assert followed_messages(client.get(response["Location"])) == ["Settled 1 account."]


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_customers_cannot_run_the_settle_action(client, portal, role):
    login(client, portal, role)
    changelist = url("accounts_account_changelist")
    response = client.get(changelist)
    assert "settle_selected" not in response.content.decode()
    before = ledger_state()
    _action(client, changelist, "settle_selected", [portal.a_dev.pk], confirmed=True)
    assert ledger_state() == before


def test_verify_action_shows_a_confirmation_then_records_who_and_when(client, portal):
    initech = CompanyFactory(
        name="Initech",
        registration_number="REGINITECH",
        verification_status=Company.Verification.UNVERIFIED,
    )
    login(client, portal, "operator")
    changelist = url("accounts_company_changelist")
    response = _action(client, changelist, "verify_selected", [initech.pk], False)
    assert response.status_code == 200
    assert "Initech — REGINITECH" in parse(response).text
    initech.refresh_from_db()
    assert initech.verification_status == "unverified"
    assert initech.verified_by is None
    assert not AuditEvent.objects.filter(action="company.verify").exists()

    token = confirmation_fields(response)["confirmation_token"]
    response = _action(
        client, changelist, "verify_selected", [initech.pk], True, token=token
    )
    assert response.status_code == 302
    initech.refresh_from_db()
    assert initech.verification_status == "verified"
    assert initech.verified_by == portal.operator
    assert initech.verified_at is not None
    event = AuditEvent.objects.get(action="company.verify")
    assert (event.actor, event.target_id) == (portal.operator, str(initech.pk))
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Company),
        object_id=str(initech.pk),
    )
    assert (entry.user, entry.get_change_message()) == (
        portal.operator,
        "Verified identity.",
    )
    assert followed_messages(client.get(response["Location"])) == [
        "Verified 1 company."
    ]
    row = next(r for r in result_rows(client.get(changelist)) if r[0] == "Initech")
    assert row[2] == "Verified"
    assert row[4] == "op"


def test_customers_cannot_verify_companies(client, portal, grant):
    initech = CompanyFactory(
        name="Initech", verification_status=Company.Verification.UNVERIFIED
    )
    grant(portal.owner, AccountFactory(company=initech))
    login(client, portal, "owner")
    changelist = url("accounts_company_changelist")
    assert "verify_selected" not in client.get(changelist).content.decode()
    _action(client, changelist, "verify_selected", [initech.pk], True)
    initech.refresh_from_db()
    assert initech.verification_status == "unverified"
    assert not AuditEvent.objects.filter(action="company.verify").exists()


def test_operator_adds_and_changes_accounts_through_services(client, portal):
    login(client, portal, "operator")
    response = client.post(
        url("accounts_account_add"),
        {
            "uid": "1000000000000999",
            "name": "Acme New",
            "company": portal.company.pk,
            "currency": "USD",
            "mobile": "+14155550100",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get(uid="1000000000000999")
    assert (account.name, account.company, account.currency) == (
        "Acme New",
        portal.company,
        "USD",
    )
    assert balances(account) == (D(0), D(0), D(0), D(0))
    event = AuditEvent.objects.get(action="account.create", target_id=str(account.pk))
    assert event.actor == portal.operator
    assert event.after["uid"] == "1000000000000999"
    assert [e.action_flag for e in log_entries(account, portal.operator)] == [ADDITION]

    before_money = balances(portal.a_dev)
    response = client.post(
        account_url("change", portal.a_dev),
        {
            "name": "Acme Development",
            "mobile": "+8613800138001",
            "status": "frozen",
            "partner_name": "",
            "partner_mode": "",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    portal.a_dev.refresh_from_db()
    assert (portal.a_dev.name, portal.a_dev.status, portal.a_dev.mobile) == (
        "Acme Development",
        "frozen",
        "+8613800138001",
    )
    assert balances(portal.a_dev) == before_money
    event = AuditEvent.objects.get(action="account.update")
    assert event.actor == portal.operator
    assert event.before == {
        "name": "Acme Dev",
        "mobile": "+8613800138000",
        "status": "valid",
    }
    assert event.after == {
        "name": "Acme Development",
        "mobile": "+8613800138001",
        "status": "frozen",
    }


def test_operator_grants_access_through_the_service(client, portal):
    login(client, portal, "operator")
    response = client.post(
        url("accounts_accountaccess_add"),
        {"user": portal.viewer.pk, "account": portal.a_usd.pk, "permission": "use"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.grant_access")
    assert (event.actor, event.target_id) == (portal.operator, str(portal.a_usd.pk))
    login(client, portal, "viewer")
    rows = result_rows(client.get(url("accounts_account_changelist")))
    assert [r[0] for r in rows] == [
        portal.a_main.uid,
        portal.a_dev.uid,
        portal.a_usd.uid,
    ]


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm"])
def test_customers_cannot_add_or_change_accounts(client, portal, role):
    login(client, portal, role)
    assert client.get(url("accounts_account_add")).status_code == 403
    response = client.post(
        account_url("change", portal.a_main),
        {"name": "Mine now", "status": "valid", "_save": "Save"},
    )
    assert response.status_code == 403
    portal.a_main.refresh_from_db()
    assert portal.a_main.name == "Acme Main"
    assert not AuditEvent.objects.filter(action="account.update").exists()


# --- isolation: another company's objects do not exist -----------------------


def _outcome(client, method, target, data=None, hide=None):
    """What the user gets: statuses, redirects, messages and JSON bodies."""
    response = getattr(client, method)(target, data or {}, follow=True)
    body = None
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
    messages = followed_messages(response) if body is None else []
    if hide is not None:
        messages = [m.replace(f"\u201c{hide}\u201d", "{id}") for m in messages]
    return (response.status_code, response.redirect_chain, messages, body)


def _foreign(portal, role):
    """Objects of the company the role is not linked to (names for URLs)."""
    if role == "outsider":
        return {
            "account": portal.a_main,
            "other": portal.a_dev,
            "company": portal.company,
            "usage": USAGE["a_dev"],
        }
    return {
        "account": portal.b1,
        "other": portal.b2,
        "company": portal.other_company,
        "usage": USAGE["b2"],
    }


ISOLATED_VIEWS = [
    ("get", "accounts_account_change", None),
    ("post", "accounts_account_change", {"name": "x", "_save": "Save"}),
    ("get", "accounts_account_history", None),
    ("get", "accounts_account_delete", None),
    ("get", "accounts_account_transfer", None),
    ("post", "accounts_account_transfer", "transfer"),
    ("post", "accounts_account_transfer", "transfer-confirm"),
    ("get", "accounts_account_targets", None),
    ("get", "accounts_account_revoke", "?destination"),
    ("post", "accounts_account_revoke", "revoke-confirm"),
    ("get", "accounts_account_top_up", None),
    ("post", "accounts_account_top_up", {"amount": "1.00", "confirm": "yes"}),
    ("get", "accounts_company_change", None),
    ("get", "accounts_company_history", None),
    ("get", "accounts_movement_change", None),
    ("get", "accounts_movement_history", None),
    ("get", "accounts_posting_change", None),
    ("get", "accounts_posting_history", None),
    ("get", "sharing_usagerecord_change", None),
    ("get", "sharing_usagerecord_history", None),
]


def _object_for(view, foreign, portal):
    if view.startswith("accounts_account_"):
        return foreign["account"]
    if view.startswith("accounts_company_"):
        return foreign["company"]
    account = foreign["account"]
    if view.startswith("accounts_movement_"):
        return Movement.objects.filter(account=account).first()
    if view.startswith("accounts_posting_"):
        return Posting.objects.filter(holder_type="account", holder_id=account.pk)[0]
    return UsageRecord.objects.get(external_id=foreign["usage"])


def _request_parts(extra, other):
    """The query string and POST data of one ISOLATED_VIEWS entry."""
    if extra == "?destination":
        return f"?destination={other.pk}", None
    if extra in ("transfer", "transfer-confirm", "revoke-confirm"):
        data = {"destination": other.pk, "amount": "1.00"}
        if extra.endswith("confirm"):
            data.update(confirming())
        return "", data
    return "", extra


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
def test_another_company_object_is_answered_like_a_missing_id(client, portal, role):
    """Every admin URL of the other company's objects, compared with id 999999:
    same statuses, same redirects, same message (the id aside), same JSON."""
    login(client, portal, role)
    foreign = _foreign(portal, role)
    before = ledger_state()
    differences = []
    for method, view, extra in ISOLATED_VIEWS:
        obj = _object_for(view, foreign, portal)
        query, data = _request_parts(extra, foreign["other"])
        target = url(view, obj.pk) + query
        seen = _outcome(client, method, target, data, hide=obj.pk)
        missing_target = url(view, MISSING) + query
        missing = _outcome(client, method, missing_target, data, hide=MISSING)
        if seen != missing:
            differences.append((method, target, seen, missing))
            continue
        _status, chain, messages, body = seen
        if chain:
            assert chain == [(url("index"), 302)], target
            assert len(messages) == 1, target
            assert "ID {id} doesn\u2019t exist" in messages[0], target
        if body is not None:
            assert body == {"results": [], "pagination": {"more": False}}, target
    assert differences == []
    assert ledger_state() == before


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "cbm", "outsider"])
@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name"),
    [
        ("accounts", "accountaccess", "account"),
        ("accounts", "movement", "counterparty"),
        ("accounts", "movement", "account"),
        ("sharing", "usagerecord", "account"),
    ],
)
def test_admin_autocomplete_lists_only_visible_accounts(
    client, portal, role, app_label, model_name, field_name
):
    login(client, portal, role)

    def search(term):
        response = client.get(
            url("autocomplete"),
            {
                "app_label": app_label,
                "model_name": model_name,
                "field_name": field_name,
                "term": term,
            },
        )
        assert response.status_code == 200
        return [r["text"] for r in response.json()["results"]]

    visible = [LEDGER[n][0][0] for n in VISIBLE[role]]
    assert search("") == visible
    foreign = _foreign(portal, role)["account"]
    assert search(foreign.name) == []
    assert search(foreign.uid) == []
    assert search(foreign.name.split()[0]) == []


def test_targets_of_another_company_account_look_like_a_missing_account(client, portal):
    login(client, portal, "owner")
    for term in ("", "Globex", "Acme"):
        seen = client.get(account_url("targets", portal.b1), {"term": term})
        missing = client.get(account_url("targets", MISSING), {"term": term})
        assert seen.status_code == missing.status_code == 200
        assert (
            seen.json()
            == missing.json()
            == {
                "results": [],
                "pagination": {"more": False},
            }
        )
