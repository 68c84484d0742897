"""Lists cost a fixed number of queries, however many rows they show."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Contract
from tests.api.helpers import API


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
