"""The home page per role (issue 12): what waits for this user, each a count
linking to the list where it is handled (filtered to exactly those rows), the
balances per currency of the accounts it sees with their last 30 days; the
operators' and the CBM's own sections; nothing of another company; both
languages; a bounded number of statements.

The world is ``portal`` (tests/accounts/conftest_admin.py) plus ``waiting``:
what waits in Acme (A) and in Globex (B), in different numbers so that a count
of the other company would show.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Company
from accounts.selectors import list_balance_history, list_visible_accounts
from billing_portal.models import Notification
from coupons.services import approve_pool, request_pool
from sharing.models import Share
from sharing.services import provision_asset, resolve_share, share_with_folder
from tests.accounts.conftest_admin import (  # noqa: F401 (the ``portal`` fixture)
    parse,
    portal_fixture,
    result_rows,
    table_rows,
)
from tests.credit_helpers import set_limit, set_quota
from tests.factories import AccountFactory, CompanyFactory

pytestmark = pytest.mark.django_db
D = Decimal
HOME = "/admin/"


def fail_folder_share(asset, folder, *, actor):
    """A folder share the worker could not apply: the owner's company was not
    verified when it ran (test setup: the status is a plain field)."""
    share = share_with_folder(asset=asset, folder=folder, actor=actor)
    company = Company.objects.filter(pk=asset.owner.company_id)
    company.update(verification_status=Company.Verification.UNVERIFIED)
    Share.objects.filter(pk=share.pk).update(due_at=timezone.now())
    assert resolve_share(share.pk) == "failed"
    company.update(verification_status=Company.Verification.VERIFIED)
    return share


@pytest.fixture
def waiting(portal):
    """What waits: in A one contract (set by the manager), two invitations,
    the owner's access request (a_usd is linked to a partner who pays for it),
    a failed folder share, an approved pool with value left and a requested
    one; in B two contracts and one invitation; an unverified company and a
    notification the worker gave up on."""
    p, op = portal, portal.operator
    now = timezone.now()
    set_quota(p.company, "5000.00", actor=op)
    set_limit(p.a_dev, "300.00", actor=p.manager)
    services.set_management_account(company=p.company, account=p.a_main, actor=op)
    for member in (p.a_usd, p.a_hidden):
        services.invite_member(
            management_account=p.a_main,
            member_account=member,
            type="financial_management",
            permissions=[],
            actor=p.owner,
        )
    services.update_account(
        account=p.a_usd, actor=op, partner_name="Partner", partner_mode="pay_on_behalf"
    )
    services.request_access(account=p.a_usd, actor=p.owner, message="please")
    plan = provision_asset(
        type="savings_plan",
        owner=p.a_main,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        commitment_per_hour=D("1.00"),
        actor=op,
    )
    root = p.company.folders.get(parent__isnull=True)
    fail_folder_share(plan, root, actor=p.owner)
    pools = [
        request_pool(
            company=p.company,
            distribution_target="enterprise_management_account",
            management_account=p.a_main,
            products=[],
            bill_types=["pay_as_you_go"],
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=30),
            amount=D(amount),
            actor=p.cbm,
        )
        for amount in ("1000.00", "2000.00")
    ]
    approve_pool(pool=pools[0], actor=op)

    set_quota(p.other_company, "5000.00", actor=op)
    for account in (p.b1, p.b2):
        set_limit(account, "100.00", actor=p.outsider)
    services.set_management_account(company=p.other_company, account=p.b1, actor=op)
    services.invite_member(
        management_account=p.b1,
        member_account=p.b2,
        type="financial_management",
        permissions=[],
        actor=p.outsider,
    )
    CompanyFactory(name="Initech", verification_status="unverified")
    failed = Notification.objects.order_by("pk").first()
    Notification.objects.filter(pk=failed.pk).update(status=Notification.Status.FAILED)
    return p.refresh()


def home(client, user, language=None):
    if language:
        client.cookies["django_language"] = language
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    return response


def attention(response) -> dict[str, dict[str, tuple[int, str]]]:
    """Each group's title → {label: (count, link)} as the page shows them, or
    {"": empty sentence} when nothing waits."""
    groups = {}
    for section in parse(response).with_class("portal-attention"):
        title = section.find("h2").text
        items = {}
        for li in section.find_all("li"):
            link = li.find("a")
            items[link.text] = (
                int(li.with_class("portal-count")[0].text),
                link.attrs["href"],
            )
        if not items:
            items[""] = section.find("p").text
        groups[title] = items
    return groups


def balances(response) -> list[list[str]]:
    table = parse(response).with_class("portal-home-balances")[0]
    return table_rows(table)


BALANCE_HEADER = [
    "Currency",
    "Accounts",
    "Cash",
    "Uncleared",
    "Credit limit",
    "Available",
    "Transferable",
]


def test_the_owners_home(client, waiting):
    page = home(client, waiting.owner)
    contracts = reverse("admin:accounts_contract_changelist")
    assert attention(page) == {
        "What needs your attention": {
            "Contracts waiting for your confirmation": (
                1,
                f"{contracts}?status__exact=pending&confirmer=me",
            ),
            "Invitations waiting for an answer": (
                2,
                reverse("admin:accounts_financialrelationship_changelist")
                + "?status__exact=pending",
            ),
            "Your access requests waiting for the business manager": (
                1,
                reverse("admin:accounts_accessrequest_changelist")
                + "?status__exact=requested"
                + f"&requested_by__id__exact={waiting.owner.pk}",
            ),
            "Folder shares that failed": (
                1,
                reverse("admin:sharing_share_changelist")
                + "?status__exact=failed&target__exact=folder",
            ),
            "Approved pools with value left to issue as coupons": (
                1,
                reverse("admin:coupons_creditpool_changelist") + "?issuable=yes",
            ),
        }
    }
    # a_main 600 and a_dev 350 (20 uncleared); a_usd's transfers are disabled
    # while its partner pays for it: nothing of it is transferable.
    assert balances(page) == [
        BALANCE_HEADER,
        ["CNY", "2", "950.00", "20.00", "0.00", "930.00", "650.00"],
        ["USD", "1", "80.00", "0.00", "0.00", "80.00", "0.00"],
    ]
    html = page.content.decode()
    assert reverse("admin:accounts_account_changelist") + "?currency__exact=CNY" in html
    # A chart per currency, its four series drawn.
    charts = parse(page).with_class("portal-home-chart")
    assert [c.attrs["data-currency"] for c in charts] == ["CNY", "USD"]
    assert [len(c.find_all("polyline")) for c in charts] == [4, 4]


def test_each_count_is_the_number_of_rows_behind_its_link(client, waiting):
    for user in (waiting.owner, waiting.manager, waiting.cbm, waiting.operator):
        client.force_login(user)
        for group in attention(client.get(HOME)).values():
            for label, (count, url) in group.items():
                if label:
                    shown = client.get(url)
                    assert shown.status_code == 200, (user, label)
                    assert len(result_rows(shown)) == count, (user, label)


def test_a_manager_sees_that_only_an_owner_confirms(client, waiting):
    items = attention(home(client, waiting.manager))["What needs your attention"]
    assert "Contracts waiting for your confirmation" not in items
    count, url = items["Contracts waiting for an owner's confirmation"]
    assert count == 1
    assert url.endswith("?status__exact=pending&confirmer=owner")
    assert "Only an owner of the account can confirm a contract." in (
        home(client, waiting.manager).content.decode()
    )
    # The manager asked for nothing: no access request of its own.
    assert "Your access requests waiting for the business manager" not in items
    assert items["Folder shares that failed"][0] == 1


def test_a_read_only_user_has_nothing_to_do_but_sees_its_balances(client, waiting):
    page = home(client, waiting.viewer)
    assert attention(page) == {
        "What needs your attention": {"": "Nothing needs your attention right now."}
    }
    assert balances(page)[1] == [
        "CNY",
        "2",
        "950.00",
        "20.00",
        "0.00",
        "930.00",
        "650.00",
    ]


def test_each_company_sees_only_its_own_numbers(client, waiting):
    outsider = attention(home(client, waiting.outsider))["What needs your attention"]
    assert {label: count for label, (count, _url) in outsider.items()} == {
        "Contracts waiting for your confirmation": 2,
        "Invitations waiting for an answer": 1,
    }
    assert balances(home(client, waiting.outsider)) == [
        BALANCE_HEADER,
        ["CNY", "2", "500.00", "1.00", "0.00", "499.00", "450.00"],
    ]
    owner = attention(home(client, waiting.owner))["What needs your attention"]
    assert owner["Contracts waiting for your confirmation"][0] == 1
    assert owner["Invitations waiting for an answer"][0] == 2


def test_the_operators_home(client, waiting):
    page = home(client, waiting.operator)
    assert attention(page) == {
        "Provider operations": {
            "Notifications that could not be sent": (
                1,
                reverse("admin:billing_portal_notification_changelist")
                + "?status__exact=failed",
            ),
            "Companies waiting for verification": (
                1,
                reverse("admin:accounts_company_changelist")
                + "?verification_status__exact=unverified",
            ),
            "Pool requests waiting for your approval": (
                1,
                reverse("admin:coupons_creditpool_changelist")
                + "?status__exact=requested",
            ),
        }
    }
    # Every account: A's four and B's two.
    assert balances(page)[1:] == [
        ["CNY", "5", "1550.00", "21.00", "0.00", "1529.00", "1100.00"],
        ["USD", "1", "80.00", "0.00", "0.00", "80.00", "0.00"],
    ]


def test_the_cbms_home(client, waiting):
    page = home(client, waiting.cbm)
    assert attention(page) == {
        "Your customers": {
            "Access requests waiting for your decision": (
                1,
                reverse("admin:accounts_accessrequest_changelist")
                + "?status__exact=requested"
                + f"&business_manager__id__exact={waiting.cbm.pk}",
            ),
            "Your pool requests waiting for an operator's approval": (
                1,
                reverse("admin:coupons_creditpool_changelist")
                + "?status__exact=requested",
            ),
        }
    }
    # A's accounts only (the CBM manages Acme).
    assert [row[:2] for row in balances(page)[1:]] == [["CNY", "3"], ["USD", "1"]]


def test_nothing_waiting_says_so(client, portal):
    page = home(client, portal.owner)
    assert attention(page) == {
        "What needs your attention": {"": "Nothing needs your attention right now."}
    }
    page = home(client, portal.operator)
    assert attention(page) == {
        "Provider operations": {"": "Nothing is waiting for the billing operators."}
    }


def test_the_trend_is_each_days_closing_balance_summed_per_currency(waiting):
    """a_main held 1000.00 before today; today it sent 400.00 out, a_dev
    received 300.00 and 50.00 and was billed 20.00."""
    history = list_balance_history(list_visible_accounts(waiting.owner), days=3)
    cny = history["CNY"]
    assert [d.day for d in cny] == [
        timezone.localdate() - timedelta(days=n) for n in (2, 1, 0)
    ]
    assert [(d.cash, d.transferred_in, d.uncleared) for d in cny] == [
        (D("1000.00"), D("0.00"), D("0.00")),
        (D("1000.00"), D("0.00"), D("0.00")),
        (D("950.00"), D("300.00"), D("20.00")),
    ]
    assert [d.cash for d in history["USD"]] == [D("0.00"), D("0.00"), D("80.00")]


def test_the_home_in_chinese(client, waiting):
    page = home(client, waiting.owner, language="zh-hans")
    html = page.content.decode()
    groups = attention(page)
    assert list(groups) == ["需要您处理的事项"]
    assert "费用与成本" in html
    assert "权益共享" in html
    assert "代金券额度池" in html
    for english in (
        "What needs your attention",
        "Contracts waiting for your confirmation",
        "Expenses and Costs",
        "Equity sharing",
        "Balances",
        "the last 30 days",
    ):
        assert english not in html
    assert table_rows(parse(page).with_class("portal-home-balances")[0])[0] == [
        "币种",
        "账号数",
        "现金",
        "未结清",
        "信用额度",
        "可用",
        "可划拨",
    ]


def _queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(HOME).status_code == 200
    return len(captured)


#: The statements of each role's home page (session, user, groups, the sidebar's
#: permissions, each count, the balances): pinned, and the same with more rows.
MAX_QUERIES = {"owner": 20, "manager": 20, "viewer": 15, "cbm": 14, "operator": 13}


@pytest.mark.parametrize("role", list(MAX_QUERIES))
def test_the_home_page_costs_a_bounded_number_of_statements(client, waiting, role):
    user = waiting.user(role)
    before = _queries(client, user)
    assert before <= MAX_QUERIES[role]
    # More of everything in A: accounts with money, contracts, invitations.
    p = waiting
    for n in range(5):
        extra = AccountFactory(company=p.company, uid=f"10000000000009{n:02d}")
        for user_, perm in (
            (p.owner, "owner"),
            (p.manager, "manage"),
            (p.viewer, "use"),
        ):
            services.grant_access(
                account=extra, user=user_, permission=perm, actor=p.operator
            )
        services.top_up(account=extra, amount=D("10.00"), actor=p.operator)
        set_limit(extra, "10.00", actor=p.manager)
    assert _queries(client, user) == before
