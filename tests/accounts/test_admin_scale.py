"""Pages stay cheap on big tables: capped counts, fixed filter choices, and an
account page whose statements do not grow with its history."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import Posting
from billing_portal.admin_base import CappedCountPaginator


def test_the_paginator_counts_at_most_its_cap(make_account, fund, monkeypatch):
    account = make_account()
    for _ in range(4):
        fund(account, "1.00")  # two ledger lines each
    monkeypatch.setattr(CappedCountPaginator, "CAP", 5)

    paginator = CappedCountPaginator(Posting.objects.order_by("id"), 2)

    assert paginator.count == 6  # the cap and one more: "more than 5"
    assert paginator.capped
    assert [p.pk for p in paginator.page(3).object_list] == list(
        Posting.objects.order_by("id").values_list("pk", flat=True)[4:6]
    )


def test_the_ledger_changelist_lists_books_without_scanning_ledger_lines(
    client, operator, make_account, fund
):
    account = make_account()
    fund(account, "5.00")
    client.force_login(operator)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/accounts/posting/")

    assert response.status_code == 200
    # The date drill-down still reads distinct dates (docs/benchmarks.md).
    assert not [
        q
        for q in queries.captured_queries
        if "DISTINCT" in q["sql"] and '"book"' in q["sql"]
    ]
    html = response.content.decode()
    for book in ("own_cash", "transferred_in", "uncleared"):
        assert f"?book={book}" in html


#: Statements of an account page as its owner: the session, user, groups and
#: permission lookups of every admin page, then the page's panels (balances,
#: transferable and its rules, credit bounds and allocation, contract, access
#: request, relationships, limit history, latest lines, balance history,
#: benefits). Issue 9's target is 12: see docs/benchmarks.md.
ACCOUNT_PAGE_QUERIES = 28


def test_the_account_page_costs_the_same_statements_whatever_its_history(
    client, owner, grant, make_account, fund, operator
):
    source = make_account()
    grant(owner, source)
    fund(source, "1000.00")
    few = [make_account() for _ in range(2)]
    many = [make_account() for _ in range(25)]
    client.force_login(owner)
    page = reverse("admin:accounts_account_change", args=[source.pk])

    def statements():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page)
        assert response.status_code == 200
        return len(queries.captured_queries)

    client.get(page)  # the session's first save and per-process caches
    for destination in few:
        services.transfer_balance(
            source=source, destination=destination, amount=1, actor=operator
        )
    before = statements()
    for destination in many:
        services.transfer_balance(
            source=source, destination=destination, amount=1, actor=operator
        )
        fund(source, "1.00")
    assert statements() == before == ACCOUNT_PAGE_QUERIES
