"""Lists cost a fixed number of queries, however many rows they show, and their
numbers are those of the per-object path."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Account, Contract
from sharing import services as sharing_services
from tests.api.helpers import API

#: Statements of GET /accounts/ as an operator (token and user, its groups,
#: the count, the page with every column annotated), whatever the rows.
ACCOUNT_LIST_QUERIES = 4
#: Statements of the admin's Accounts overview (session, user, permissions,
#: counts, the page, the currency totals), whatever the rows.
ADMIN_CHANGELIST_QUERIES = 9


def _queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries), response.json()


def test_account_list_queries_do_not_grow_with_the_accounts(
    make_account, operator, client_for
):
    client = client_for(operator)
    for _ in range(3):
        make_account()
    few, body = _queries(client, f"{API}/accounts/?page_size=500")
    assert body["count"] == 3
    accounts = [make_account() for _ in range(20)]
    for account in accounts[:5]:
        Contract.objects.create(
            account=account, limit="10.00", currency="CNY", terms_version="t"
        )
    many, body = _queries(client, f"{API}/accounts/?page_size=500")
    assert body["count"] == 23
    assert many == few
    pending = {a["id"]: a["pending_credit_limit"] for a in body["results"]}
    assert [pending[a.pk] for a in accounts[:6]] == ["10.00"] * 5 + [None]


# --- accounts with significant receivables (SPEC §3.5) ------------------------------


def _at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


@pytest.fixture
def receivables(company, make_account, operator, owner, grant, cbm):
    """Make an account with 5,000.00 of own funds, 20,000.00 of charges billed
    40 days ago (overdue until a 30,000.00 transfer arrived 5 days ago): its
    receivables reach the CNY threshold after a 35-day overdue episode, so §3.5
    disables its transfers — unless ``excepted`` (an access exception granted
    by the CBM). Transferable without the block: 5,000.00."""
    services.set_business_manager(company=company, user=cbm, actor=operator)
    sender = make_account()
    now = timezone.now()
    with _at(now - timedelta(days=60)):
        services.top_up(account=sender, amount=Decimal("1000000.00"), actor=operator)

    def make(*, excepted=False, pay_on_behalf=False):
        account = make_account()
        grant(owner, account)
        with _at(now - timedelta(days=41)):
            services.top_up(account=account, amount=Decimal("5000.00"), actor=operator)
        with _at(now - timedelta(days=40)):
            services.charge_usage(
                usage_account=account,
                amount=Decimal("20000.00"),
                effective_at=now - timedelta(days=40),
                actor=operator,
            )
        with _at(now - timedelta(days=5)):
            services.transfer_balance(
                source=sender,
                destination=account,
                amount=Decimal("30000.00"),
                actor=operator,
            )
        if pay_on_behalf:
            services.update_account(
                account=account,
                actor=operator,
                partner_name="Partner",
                partner_mode=Account.PartnerMode.PAY_ON_BEHALF,
            )
        if excepted:
            request = services.request_access(account=account, actor=owner)
            services.grant_access_request(request=request, actor=cbm)
        account.refresh_from_db()
        return account

    return make


def test_receivable_accounts_cost_no_query_per_row_in_the_account_list(
    receivables, make_account, operator, client_for, django_assert_num_queries
):
    client = client_for(operator)
    plain = [make_account() for _ in range(3)]
    few, _body = _queries(client, f"{API}/accounts/?page_size=500")
    assert few == ACCOUNT_LIST_QUERIES
    blocked = [receivables() for _ in range(4)]
    excepted = [receivables(excepted=True) for _ in range(3)]
    partner = [receivables(pay_on_behalf=True, excepted=True) for _ in range(2)]

    with django_assert_num_queries(ACCOUNT_LIST_QUERIES):
        body = client.get(f"{API}/accounts/?page_size=500").json()

    listed = {a["id"]: a["transferable_amount"] for a in body["results"]}
    assert [listed[a.pk] for a in blocked] == ["0.00"] * 4
    assert [listed[a.pk] for a in excepted + partner] == ["5000.00"] * 5
    assert [listed[a.pk] for a in plain] == ["0.00"] * 3


def test_the_list_gives_the_numbers_of_the_per_object_path(
    receivables, operator, owner, client_for
):
    accounts = [receivables(), receivables(excepted=True), receivables()]
    client = client_for(owner)

    listed = client.get(f"{API}/accounts/").json()["results"]

    for row in listed:
        detail = client.get(f"{API}/accounts/{row['id']}/").json()
        fresh = selectors.get_transferable(Account.objects.get(pk=row["id"]))
        assert row == detail
        assert row["transferable_amount"] == f"{fresh.transferable_amount:.2f}"
        transferable = client.get(f"{API}/accounts/{row['id']}/transferable/").json()
        assert transferable["transferable_amount"] == row["transferable_amount"]
    assert [r["transferable_amount"] for r in listed] == ["0.00", "5000.00", "0.00"]
    assert {r["id"] for r in listed} == {a.pk for a in accounts}


def test_the_annotated_state_is_the_per_object_state(receivables):
    accounts = [receivables(), receivables(excepted=True), receivables()]
    at = timezone.now()

    annotated = selectors.with_disabled_state(
        Account.objects.filter(pk__in=[a.pk for a in accounts]), at=at
    ).order_by("pk")

    for row in annotated:
        one = selectors.get_disabled_state(Account.objects.get(pk=row.pk), at=at)
        listed = selectors.get_disabled_state(row)
        assert listed.disabled == one.disabled
        assert listed.conditions == one.conditions
        assert listed.excepted == one.excepted


def test_admin_account_changelist_queries_do_not_grow(
    receivables, make_account, operator, client, django_assert_num_queries
):
    client.force_login(operator)
    url = reverse("admin:accounts_account_changelist")
    for _ in range(3):
        make_account()
    with CaptureQueriesContext(connection) as few:
        first = client.get(url)
    for _ in range(3):
        receivables()
        receivables(excepted=True)
    with django_assert_num_queries(ADMIN_CHANGELIST_QUERIES):
        second = client.get(url)

    assert first.status_code == second.status_code == 200
    assert len(few.captured_queries) == ADMIN_CHANGELIST_QUERIES
    assert second.content.count(b"5000.00") >= 3


# --- equity asset sharing ------------------------------------------------------------

#: Statements of each sharing list as a customer (token and user, its groups,
#: the count, the page; usage adds its deductions, rules their accounts, and the
#: lists under an asset the asset and whether the user sees its owner).
SHARING_LIST_QUERIES = {
    "assets/": 4,
    "usage/": 5,
    "deductions/": 4,
    "sharing-rules/": 5,
    "assets/{plan}/shares/": 6,
    "assets/{plan}/recipients/": 6,
}


def _share_and_bill(owner_account, recipients, operator, rounds, batch):
    """Per round: a savings plan and an SCU package shared with every
    recipient, a rule, and usage of each recipient deducted by the plan."""
    at = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    plans = []
    for n in range(rounds):
        for kind, amount in (
            ("savings_plan", "commitment_per_hour"),
            ("scu_package", "capacity"),
        ):
            asset = sharing_services.provision_asset(
                type=kind,
                owner=owner_account,
                valid_from=at - timedelta(days=9),
                valid_until=at + timedelta(days=20),
                actor=operator,
                **{amount: Decimal("50.00")},
            )
            with _at(at):
                sharing_services.share_with_accounts(
                    asset=asset, accounts=recipients, actor=operator
                )
            plans.append(asset)
        sharing_services.create_sharing_rule(
            owner=owner_account,
            asset_types=["coupon"],
            accounts=recipients,
            actor=operator,
        )
        for m, account in enumerate(recipients):
            sharing_services.record_usage(
                external_id=f"{batch}-{n}-{m}",
                account=account,
                product="ecs",
                bill_type="pay_as_you_go",
                usage_start=at + timedelta(hours=1 + n),
                usage_end=at + timedelta(hours=2 + n),
                amount=Decimal("3.00"),
                billed_at=at + timedelta(days=1),
                actor=operator,
            )
    return plans[0]


def test_sharing_lists_cost_the_same_statements_whatever_the_rows(
    make_account, operator, owner, grant, client_for, django_assert_num_queries
):
    mine = make_account()
    grant(owner, mine)
    recipients = [make_account() for _ in range(3)]
    for account in recipients:
        grant(owner, account, "use")
    client = client_for(owner)
    plan = _share_and_bill(mine, recipients[:1], operator, rounds=1, batch="few")

    def run(path):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{API}/{path.format(plan=plan.pk)}?page_size=500")
        assert response.status_code == 200, response.content
        return len(captured.captured_queries), response.json()["count"]

    few = {path: run(path) for path in SHARING_LIST_QUERIES}
    _share_and_bill(mine, recipients, operator, rounds=4, batch="many")
    plan.refresh_from_db()
    sharing_services.share_with_accounts(
        asset=plan, accounts=recipients, actor=operator
    )
    many = {path: run(path) for path in SHARING_LIST_QUERIES}

    for path, queries in SHARING_LIST_QUERIES.items():
        assert few[path][0] == many[path][0] == queries, (path, few, many)
        assert many[path][1] > few[path][1], path
    usage = client.get(f"{API}/usage/?page_size=500").json()["results"]
    assert len(usage) == 13
    assert all(len(r["deductions"]) == 1 for r in usage)
