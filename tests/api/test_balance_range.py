"""No movement leaves a balance at 10^13 or more (SPEC §2): 409
``balance_out_of_range``, nothing written. Checked once, in ``ledger.post``,
for every movement kind, at the boundary (9999999999999.99 fits, a cent more
does not)."""

from decimal import Decimal

import pytest

from accounts import services
from accounts.ledger import find_discrepancies
from accounts.models import Account
from sharing.models import UsageRecord
from tests.api.helpers import API, usage_body

TOP = "9999999999999.99"


def assert_out_of_range(response, account_uid=None):
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "balance_out_of_range"
    assert body["detail"] == "The movement would take a balance out of range."
    assert [r["code"] for r in body["reasons"]] == ["balance_out_of_range"]
    if account_uid is not None:
        assert body["reasons"][0]["message"] == (
            f"This would take a balance of account {account_uid} to "
            "10000000000000.00; every balance must stay below 10000000000000.00."
        )


@pytest.fixture
def clean_ledger():
    yield
    assert find_discrepancies() == []


def test_top_up_to_the_last_cent_and_one_cent_more(
    make_account, operator, client_for, db_state, clean_ledger
):
    account = make_account()
    client = client_for(operator)
    url = f"{API}/accounts/{account.pk}/top-ups/"

    almost = client.post(url, {"amount": "9999999999999.98"}, format="json")
    last_cent = client.post(url, {"amount": "0.01"}, format="json")
    before = db_state()
    one_more = client.post(url, {"amount": "0.01"}, format="json")

    assert almost.status_code == last_cent.status_code == 201
    assert_out_of_range(one_more, account.uid)
    assert db_state() == before
    account.refresh_from_db()
    assert account.cash_balance == Decimal(TOP)


def test_transfer_to_the_last_cent_and_one_cent_more(
    make_account, fund, owner, grant, client_for, db_state, clean_ledger
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "1.00")
    fund(destination, "9999999999999.98")
    client = client_for(owner)
    body = {"source": source.pk, "destination": destination.pk, "amount": "0.01"}

    last_cent = client.post(f"{API}/transfers/", body, format="json")
    before = db_state()
    one_more = client.post(f"{API}/transfers/", body, format="json")

    assert last_cent.status_code == 201, last_cent.content
    assert_out_of_range(one_more, destination.uid)
    assert db_state() == before
    destination.refresh_from_db()
    assert destination.cash_balance == Decimal(TOP)


def test_two_full_books_never_make_a_cash_balance_of_twice_the_limit(
    make_account, fund, owner, grant, client_for, db_state, clean_ledger
):
    """Own funds and transferred-in funds are two books each below 10^13; their
    sum, the cash balance, must stay below it as well."""
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, TOP)
    fund(destination, TOP)
    before = db_state()

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": TOP},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["reasons"][0]["message"] == (
        f"This would take a balance of account {destination.uid} to "
        "19999999999999.98; every balance must stay below 10000000000000.00."
    )
    assert db_state() == before


def test_revocation_to_the_last_cent_and_one_cent_more(
    make_account, fund, transfer, owner, grant, client_for, db_state, clean_ledger
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "1.00")
    transfer(source, destination, "1.00")
    fund(source, "9999999999999.98")
    client = client_for(owner)
    body = {"source": source.pk, "destination": destination.pk, "amount": "0.01"}

    last_cent = client.post(f"{API}/revocations/", body, format="json")
    before = db_state()
    one_more = client.post(f"{API}/revocations/", body, format="json")

    assert last_cent.status_code == 201, last_cent.content
    assert_out_of_range(one_more, source.uid)
    assert db_state() == before
    source.refresh_from_db()
    assert source.cash_balance == Decimal(TOP)


def test_usage_charge_to_the_last_cent_and_one_cent_more(
    make_account, operator, client_for, db_state, clean_ledger
):
    account = make_account()
    client = client_for(operator)

    almost = client.post(
        f"{API}/usage/",
        usage_body(account, external_id="big-1", amount="9999999999999.98"),
        format="json",
    )
    last_cent = client.post(
        f"{API}/usage/",
        usage_body(account, external_id="big-2", amount="0.01"),
        format="json",
    )
    before = db_state()
    one_more = client.post(
        f"{API}/usage/",
        usage_body(account, external_id="big-3", amount="0.01"),
        format="json",
    )

    assert almost.status_code == last_cent.status_code == 201
    assert_out_of_range(one_more, account.uid)
    assert db_state() == before
    account.refresh_from_db()
    assert account.uncleared_amount == Decimal(TOP)
    assert not UsageRecord.objects.filter(external_id="big-3").exists()


def test_the_pair_memo_stays_in_range_too(
    make_account,
    fund,
    transfer,
    charge,
    operator,
    owner,
    grant,
    client_for,
    db_state,
    clean_ledger,
):
    """What S may take back from D grows with every transfer and shrinks only by
    revocations: it is a balance like the others."""
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, TOP)
    transfer(source, destination, TOP)
    charge(destination, TOP)
    services.settle_account(account=destination, actor=operator)
    fund(source, "0.01")
    before = db_state()

    response = client_for(owner).post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "0.01"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["reasons"][0]["message"] == (
        f"This would take what account {source.uid} may take back from account "
        f"{destination.uid} to 10000000000000.00; every balance must stay below "
        "10000000000000.00."
    )
    assert db_state() == before


def test_the_available_balance_counts_the_credit_limit(
    make_account, operator, client_for, db_state
):
    """available = cash + credit limit - uncleared is a balance too (SPEC §3.1):
    a top-up may not take it to 10^13 even while cash alone stays below."""
    account = make_account()
    Account.objects.filter(pk=account.pk).update(credit_limit=Decimal("5000000.00"))
    client = client_for(operator)
    url = f"{API}/accounts/{account.pk}/top-ups/"

    fits = client.post(url, {"amount": "9999994999999.99"}, format="json")
    before = db_state()
    refused = client.post(url, {"amount": "0.01"}, format="json")

    assert fits.status_code == 201, fits.content
    assert_out_of_range(refused, account.uid)
    assert db_state() == before


def test_a_refused_movement_with_a_key_replays_its_409(
    make_account, operator, client_for, db_state
):
    account = make_account()
    client = client_for(operator)
    url = f"{API}/accounts/{account.pk}/top-ups/"
    client.post(url, {"amount": "9999999999999.00"}, format="json")
    movements = db_state()["movements"]

    first = client.post(
        url, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    again = client.post(
        url, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert_out_of_range(first, account.uid)
    assert again.status_code == 409
    assert again.json() == first.json()
    assert db_state()["movements"] == movements
