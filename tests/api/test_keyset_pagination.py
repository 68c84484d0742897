"""Deep pages by key (issue 9): ``?cursor=`` pages the same list as ``?page=``,
at the cost of the first page whatever the depth, in the same body shape."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Company
from sharing import services as sharing_services
from tests.api.helpers import API
from tests.factories import AccountFactory, CompanyFactory

pytestmark = pytest.mark.django_db


def walk(client, path, **params):
    """Every page of a list by following ``next`` from ``?cursor=``."""
    pages = [client.get(f"{API}/{path}", {"cursor": "", **params}).json()]
    while pages[-1]["next"]:
        response = client.get(pages[-1]["next"])
        assert response.status_code == 200, response.content
        pages.append(response.json())
    return pages


def by_number(client, path, **params):
    pages = [client.get(f"{API}/{path}", params).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    return pages


def ids(pages):
    return [row["id"] for page in pages for row in page["results"]]


def test_cursor_pages_are_the_numbered_pages(operator, client_for):
    Company.objects.bulk_create(
        Company(name=f"Co {i:03}", registration_number=f"KEY-{i:04}") for i in range(23)
    )
    client = client_for(operator)
    keyed = walk(client, "companies/", page_size=5)
    numbered = by_number(client, "companies/", page_size=5)

    assert [len(p["results"]) for p in keyed] == [5, 5, 5, 5, 3]
    assert ids(keyed) == ids(numbered)
    assert len(set(ids(keyed))) == 23
    assert {p["count"] for p in keyed} == {23}
    assert all(set(p) == {"count", "next", "previous", "results"} for p in keyed)
    assert "cursor=" in keyed[0]["next"]
    assert "page=" not in keyed[0]["next"]
    assert keyed[-1]["next"] is None
    # Back is a numbered page (offsets are cheap near where one came from).
    assert keyed[0]["previous"] is None
    assert keyed[1]["previous"].endswith("/companies/?page_size=5")
    assert keyed[3]["previous"].endswith("/companies/?page=3&page_size=5")
    third = client.get(keyed[3]["previous"]).json()
    assert [c["id"] for c in third["results"]] == [c["id"] for c in keyed[2]["results"]]


def test_a_descending_order_with_ties_loses_and_repeats_no_row(
    make_account, operator, owner, grant, client_for
):
    """Usage newest first (usage start, then id): six records share each start;
    pages cut through the ties."""
    account = make_account()
    grant(owner, account)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for n in range(18):
        sharing_services.record_usage(
            source="test",
            external_id=f"tie-{n}",
            account=account,
            product="ecs",
            bill_type="pay_as_you_go",
            usage_start=start + timedelta(hours=n // 6),
            usage_end=start + timedelta(hours=n // 6 + 1),
            amount=Decimal("1.00"),
            billed_at=start + timedelta(days=1),
            actor=operator,
        )
    client = client_for(owner)
    keyed = walk(client, "usage/", page_size=4)
    numbered = by_number(client, "usage/", page_size=4)
    assert ids(keyed) == ids(numbered)
    assert len(set(ids(keyed))) == 18
    starts = [r["usage_start"] for p in keyed for r in p["results"]]
    assert starts == sorted(starts, reverse=True)


def test_a_deep_page_by_key_costs_the_statements_of_the_first(operator, client_for):
    Company.objects.bulk_create(
        Company(name=f"Co {i:03}", registration_number=f"DEEP-{i:04}")
        for i in range(60)
    )
    client = client_for(operator)
    first = client.get(f"{API}/companies/", {"cursor": "", "page_size": 10}).json()
    with CaptureQueriesContext(connection) as at_first:
        client.get(f"{API}/companies/", {"cursor": "", "page_size": 10})
    page = first
    for _ in range(4):
        page = client.get(page["next"]).json()
    with CaptureQueriesContext(connection) as deep:
        response = client.get(page["next"])
    assert response.status_code == 200
    assert len(deep.captured_queries) == len(at_first.captured_queries)
    page_sql = [q["sql"] for q in deep.captured_queries if "LIMIT 11" in q["sql"]]
    assert len(page_sql) == 1
    assert "OFFSET" not in page_sql[0]


def _cursor(number, values):
    raw = json.dumps([number, values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        base64.urlsafe_b64encode(b"{not json").decode(),
        _cursor(2, []),  # not one value per sort key
        _cursor(2, ["x"]),  # not an id
        _cursor(2, ["99999999999999999999999"]),  # past any id
        _cursor(1, ["5"]),  # page 1 has no cursor
        _cursor(True, ["5"]),
        _cursor("2", ["5"]),
        _cursor(2, [5]),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(operator, client_for, cursor):
    response = client_for(operator).get(f"{API}/companies/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {
        "cursor": ["This cursor is not valid: follow the list's next link."]
    }


def test_a_list_sorted_by_a_related_field_pages_by_number_only(operator, client_for):
    response = client_for(operator).get(f"{API}/folders/", {"cursor": ""})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["This list pages by page number only."]}


def test_a_forged_cursor_only_narrows_what_the_person_sees(
    owner, grant, client_for, company
):
    """The cursor's key filters inside the person's own list: a key below every
    id shows the person's accounts, never another company's."""
    mine = [AccountFactory(company=company) for _ in range(3)]
    for account in mine:
        grant(owner, account)
    other = CompanyFactory()
    AccountFactory(company=other)
    AccountFactory(company=other)
    response = client_for(owner).get(
        f"{API}/accounts/", {"cursor": _cursor(2, ["0"]), "page_size": 500}
    )
    assert response.status_code == 200
    body = response.json()
    assert sorted(a["id"] for a in body["results"]) == sorted(a.pk for a in mine)
    assert body["count"] == 3
