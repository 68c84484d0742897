"""Exactly-once confirmations in the admin (findings 2026-11-28 item 1, SPEC §8).

Every money confirmation (transfer, revocation, top-up, settle, credit limit,
contract confirmation, credit quota) carries a one-time token issued with its
review page and runs through the same idempotency core as the API's
Idempotency-Key. Replaying the exact "Yes" POST — again, or at the same time
from other connections — shows the first result and writes nothing more.
"""

import threading
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connections
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import (
    Account,
    Contract,
    CreditLimitChange,
    CreditQuota,
    Movement,
    Posting,
    TransferPair,
)
from billing_portal.errors import reason
from billing_portal.models import IdempotencyRecord, Notification
from tests.accounts.conftest_admin import (
    confirmation_fields,
    parse,
    portal_fixture,  # noqa: F401 (the ``portal`` fixture)
    refusal_items,
)

D = Decimal
THREADS = 4
JOIN_TIMEOUT = 120


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def account_url(view, account):
    return url(f"accounts_account_{view}", account.pk)


def messages_shown(response):
    return [
        li.text
        for ul in parse(response).with_class("messagelist")
        for li in ul.find_all("li")
    ]


def balances(account):
    account.refresh_from_db()
    return (
        account.cash_balance,
        account.own_cash,
        account.transferred_in_balance,
        account.uncleared_amount,
    )


def written():
    """Everything a confirmation may write, to prove that a replay did not."""
    return {
        "accounts": list(
            Account.objects.order_by("pk").values_list(
                "pk",
                "own_cash",
                "transferred_in_balance",
                "uncleared_amount",
                "credit_limit",
            )
        ),
        "pairs": list(
            TransferPair.objects.order_by("pk").values_list("pk", "remaining_revocable")
        ),
        "movements": Movement.objects.count(),
        "postings": Posting.objects.count(),
        "contracts": list(
            Contract.objects.order_by("pk").values_list("pk", "status", "limit")
        ),
        "limit_changes": CreditLimitChange.objects.count(),
        "quotas": list(CreditQuota.objects.order_by("pk").values_list("pk", "amount")),
        "notifications": Notification.objects.count(),
        "log_entries": LogEntry.objects.count(),
    }


def review(client, target, data=None):
    """The review page's confirming fields (POST ``data``, or GET without)."""
    page = client.post(target, data) if data is not None else client.get(target)
    assert page.status_code == 200
    return confirmation_fields(page)


def replay_twice(client, target, fields):
    """Send the same confirming POST twice; both answers, followed."""
    first = client.post(target, fields, follow=True)
    between = written()
    second = client.post(target, fields, follow=True)
    assert written() == between, "the replay wrote something"
    assert second.redirect_chain == first.redirect_chain
    assert messages_shown(second) == messages_shown(first)
    return first


@pytest.fixture
def quota(portal):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=D("1000.00"),
        actor=portal.operator,
    )
    return portal


# --- replayed in sequence: the first result, nothing written --------------------


def test_replayed_transfer_confirmation_moves_the_money_once(client, portal):
    client.force_login(portal.owner)
    target = account_url("transfer", portal.a_main)
    fields = review(client, target, {"destination": portal.a_dev.pk, "amount": "2.00"})
    movements = Movement.objects.count()

    done = replay_twice(client, target, fields)

    assert done.redirect_chain == [(account_url("change", portal.a_main), 302)]
    assert messages_shown(done) == [
        "Transferred 2.00 CNY to Acme Dev (1000000000000102)."
    ]
    assert Movement.objects.count() == movements + 1
    assert Movement.objects.filter(kind="transfer", amount=D("2.00")).count() == 1
    assert balances(portal.a_main) == (D("598.00"), D("598.00"), D(0), D(0))
    assert balances(portal.a_dev) == (D("352.00"), D("50.00"), D("302.00"), D("20.00"))
    pair = TransferPair.objects.get(source=portal.a_main, destination=portal.a_dev)
    assert pair.remaining_revocable == D("302.00")
    record = IdempotencyRecord.objects.get(user=portal.owner)
    assert record.key == "portal:" + fields["confirmation_token"]
    assert record.response_status == 200


def test_replayed_revocation_confirmation_takes_back_once(client, portal):
    client.force_login(portal.manager)
    target = account_url("revoke", portal.a_main)
    fields = review(client, target, {"destination": portal.a_dev.pk, "amount": "1.00"})

    done = replay_twice(client, target, fields)

    assert messages_shown(done) == [
        "Took back 1.00 CNY from Acme Dev (1000000000000102)."
    ]
    assert Movement.objects.filter(kind="revocation").count() == 1
    assert balances(portal.a_main) == (D("601.00"), D("601.00"), D(0), D(0))
    assert balances(portal.a_dev) == (D("349.00"), D("50.00"), D("299.00"), D("20.00"))
    pair = TransferPair.objects.get(source=portal.a_main, destination=portal.a_dev)
    assert pair.remaining_revocable == D("299.00")


def test_replayed_top_up_confirmation_tops_up_once(client, portal):
    client.force_login(portal.operator)
    target = account_url("top_up", portal.a_usd)
    fields = review(client, target, {"amount": "5.00"})

    done = replay_twice(client, target, fields)

    assert messages_shown(done) == ["Topped up 5.00 USD."]
    assert Movement.objects.filter(account=portal.a_usd, kind="top_up").count() == 2
    assert balances(portal.a_usd) == (D("85.00"), D("85.00"), D(0), D(0))


def test_replayed_settle_action_settles_once(client, portal, charge):
    client.force_login(portal.operator)
    changelist = url("accounts_account_changelist")
    selection = {
        "action": "settle_selected",
        "_selected_action": [str(portal.a_main.pk), str(portal.a_dev.pk)],
        "index": "0",
    }
    page = client.post(changelist, selection)
    assert (
        "Acme Main (1000000000000101)"
        in parse(page).find("p", id="nothing-to-settle").text
    )
    fields = {
        **selection,
        "post": "yes",
        "confirmation_token": confirmation_fields(page)["confirmation_token"],
    }

    first = client.post(changelist, fields, follow=True)
    assert messages_shown(first) == ["Settled 1 account."]
    assert balances(portal.a_dev) == (D("330.00"), D("50.00"), D("280.00"), D(0))
    charge(portal.a_dev, "3.00")  # something to settle again, were it not a replay
    before = written()

    second = client.post(changelist, fields, follow=True)

    assert messages_shown(second) == ["Settled 1 account."]
    assert written() == before
    assert Movement.objects.filter(kind="settlement").count() == 1
    assert balances(portal.a_dev) == (D("330.00"), D("50.00"), D("280.00"), D("3.00"))


def test_replayed_credit_limit_and_contract_confirmations_act_once(client, quota):
    portal = quota
    client.force_login(portal.owner)
    limit_url = account_url("credit_limit", portal.a_dev)

    # The first limit: one pending contract, however often "Yes" is sent.
    done = replay_twice(
        client, limit_url, review(client, limit_url, {"amount": "400.00"})
    )
    contract = Contract.objects.get(account=portal.a_dev)
    assert messages_shown(done) == [
        "The limit of 400.00 CNY is pending: it takes effect when an owner "
        f"confirms contract #{contract.pk} in Contracts."
    ]
    assert (contract.status, contract.limit) == ("pending", D("400.00"))
    assert CreditLimitChange.objects.filter(account=portal.a_dev).count() == 1

    # Its confirmation: the limit takes effect once, one SMS.
    confirm_url = url("accounts_contract_confirm", contract.pk)
    done = replay_twice(client, confirm_url, review(client, confirm_url))
    assert messages_shown(done) == [
        "Contract confirmed: the credit limit of 400.00 CNY is in effect. An SMS "
        "goes to +8613800138000."
    ]
    contract.refresh_from_db()
    assert (contract.status, contract.confirmed_by) == ("confirmed", portal.owner)
    portal.a_dev.refresh_from_db()
    assert portal.a_dev.credit_limit == D("400.00")
    assert portal.a_dev.available_balance == D("730.00")
    sms = Notification.objects.filter(channel="sms", account=portal.a_dev)
    assert sms.count() == 1

    # A later change takes effect at once: one SMS for one confirmation.
    done = replay_twice(
        client, limit_url, review(client, limit_url, {"amount": "250.00"})
    )
    assert messages_shown(done) == ["The credit limit is now 250.00 CNY."]
    portal.a_dev.refresh_from_db()
    assert portal.a_dev.credit_limit == D("250.00")
    assert sms.count() == 2
    assert CreditLimitChange.objects.filter(account=portal.a_dev).count() == 3


def test_replayed_contract_withdrawal_and_quota_act_once(client, quota):
    portal = quota
    _state, contract = services.set_credit_limit(
        account=portal.a_main, amount=D("100.00"), actor=portal.owner
    )
    client.force_login(portal.manager)
    withdraw_url = url("accounts_contract_withdraw", contract.pk)
    replay_twice(client, withdraw_url, review(client, withdraw_url))
    contract.refresh_from_db()
    assert contract.status == "withdrawn"
    assert (
        Notification.objects.filter(template="credit_contract_withdrawn").count() == 1
    )
    assert LogEntry.objects.filter(object_id=str(contract.pk)).count() == 1

    client.force_login(portal.operator)
    quota_url = url("accounts_company_credit_quota", portal.company.pk)
    fields = review(client, quota_url, {"currency": "CNY", "amount": "700.00"})
    first = client.post(quota_url, fields, follow=True)
    assert messages_shown(first) == ["Credit quota saved."]
    # Another operator changes it since; a replay must not put 700.00 back.
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=D("900.00"),
        actor=portal.operator,
    )
    response = client.post(quota_url, fields, follow=True)
    assert messages_shown(response) == ["Credit quota saved."]
    assert CreditQuota.objects.get(company=portal.company, currency="CNY").amount == (
        D("900.00")
    )


# --- refusals, reused and missing tokens -------------------------------------------


def test_a_replayed_refusal_shows_the_same_refusal_even_once_it_would_pass(
    client, portal, fund, transfer
):
    client.force_login(portal.owner)
    target = account_url("transfer", portal.a_main)
    fields = review(
        client, target, {"destination": portal.a_dev.pk, "amount": "500.00"}
    )
    transfer(portal.a_main, portal.a_hidden, "200.00")  # transferable 400.00
    expected = reason(
        "exceeds_transferable",
        amount="500.00",
        transferable="400.00",
        account=portal.a_main.uid,
    )

    refused = client.post(target, fields)
    assert refused.status_code == 200
    assert refusal_items(refused) == [f"{expected.message} {expected.code}"]
    assert "The transfer cannot be made. Nothing was moved." in parse(refused).text

    fund(portal.a_main, "1000.00")  # the transfer would pass now
    before = written()
    replay = client.post(target, fields)

    assert replay.status_code == 200
    assert refusal_items(replay) == refusal_items(refused)
    assert written() == before
    assert balances(portal.a_main)[0] == D("1400.00")


def test_a_token_reused_for_other_data_is_refused_and_writes_nothing(client, portal):
    client.force_login(portal.owner)
    target = account_url("transfer", portal.a_main)
    fields = review(client, target, {"destination": portal.a_dev.pk, "amount": "10.00"})
    client.post(target, fields)
    assert balances(portal.a_main)[0] == D("590.00")
    before = written()

    other_amount = client.post(target, {**fields, "amount": "11.00"})
    other_view = client.post(
        account_url("revoke", portal.a_main), {**fields, "amount": "10.00"}
    )

    for response in (other_amount, other_view):
        assert response.status_code == 200
        assert [i.rsplit(" ", 1)[1] for i in refusal_items(response)] == [
            "idempotency_key_reused"
        ]
        assert "already used for a different request" in parse(response).text
    assert written() == before
    # The original is still what the token answers.
    again = client.post(target, fields, follow=True)
    assert messages_shown(again) == [
        "Transferred 10.00 CNY to Acme Dev (1000000000000102)."
    ]
    assert written() == before


CONFIRMATIONS = {
    "transfer": ("owner", "transfer", {"destination": "a_dev", "amount": "5.00"}),
    "revoke": ("owner", "revoke", {"destination": "a_dev", "amount": "5.00"}),
    "top_up": ("operator", "top_up", {"amount": "5.00"}),
    "credit_limit": ("owner", "credit_limit", {"amount": "5.00"}),
}


@pytest.mark.parametrize("token", [None, "", "short", "x" * 200, "not a token!" * 3])
@pytest.mark.parametrize("name", sorted(CONFIRMATIONS))
def test_a_confirmation_without_a_valid_token_shows_the_review_again(
    client, quota, name, token
):
    portal = quota
    role, view, data = CONFIRMATIONS[name]
    data = {
        key: getattr(portal, value).pk if key == "destination" else value
        for key, value in data.items()
    }
    client.force_login(portal.user(role))
    before = written()
    confirm = {"confirm": "yes"}
    if token is not None:
        confirm["confirmation_token"] = token

    response = client.post(account_url(view, portal.a_main), {**data, **confirm})

    assert response.status_code == 200
    fresh = confirmation_fields(response)["confirmation_token"]
    assert fresh != token
    assert written() == before
    assert not IdempotencyRecord.objects.exists()


def test_a_contract_confirmation_without_a_token_confirms_nothing(client, quota):
    portal = quota
    _state, contract = services.set_credit_limit(
        account=portal.a_main, amount=D("100.00"), actor=portal.owner
    )
    client.force_login(portal.owner)
    before = written()

    response = client.post(
        url("accounts_contract_confirm", contract.pk), {"confirm": "yes"}
    )

    assert response.status_code == 200
    assert confirmation_fields(response)["confirmation_token"]
    assert written() == before
    contract.refresh_from_db()
    assert contract.status == "pending"


# --- replayed at the same time from other connections ------------------------------


def _post_concurrently(user, target, fields):
    """POST ``fields`` from THREADS clients of ``user`` at once; the answers."""
    clients = []
    for _ in range(THREADS):
        c = Client()
        c.force_login(user)
        clients.append(c)
    barrier = threading.Barrier(THREADS, timeout=30)
    responses = [None] * THREADS
    errors = []

    def worker(i):
        try:
            barrier.wait()
            responses[i] = clients[i].post(target, fields)
        except Exception as exc:  # reported below, with the thread's number
            errors.append((i, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not [t for t in threads if t.is_alive()], "a thread hung"
    assert errors == []
    return responses


def _assert_one_result(responses, location):
    """Every answer is the first result (the redirect) or, after waiting too
    long, "still being processed"; at least one is the result."""
    done = [r for r in responses if r.status_code == 302]
    assert done, [r.status_code for r in responses]
    assert {r["Location"] for r in done} == {location}
    for r in responses:
        if r.status_code != 302:
            assert [i.rsplit(" ", 1)[1] for i in refusal_items(r)] == [
                "idempotency_request_in_progress"
            ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["transfer", "revoke"])
def test_concurrent_replays_of_one_movement_confirmation_move_money_once(portal, view):
    client = Client()
    client.force_login(portal.owner)
    target = account_url(view, portal.a_main)
    fields = review(client, target, {"destination": portal.a_dev.pk, "amount": "12.34"})

    responses = _post_concurrently(portal.owner, target, fields)

    _assert_one_result(responses, account_url("change", portal.a_main))
    kind = "transfer" if view == "transfer" else "revocation"
    assert Movement.objects.filter(kind=kind, amount=D("12.34")).count() == 1
    if view == "transfer":
        assert balances(portal.a_main) == (D("587.66"), D("587.66"), D(0), D(0))
        assert balances(portal.a_dev)[:3] == (D("362.34"), D("50.00"), D("312.34"))
    else:
        assert balances(portal.a_main) == (D("612.34"), D("612.34"), D(0), D(0))
        assert balances(portal.a_dev)[:3] == (D("337.66"), D("50.00"), D("287.66"))
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_top_up_confirmation_top_up_once(portal):
    client = Client()
    client.force_login(portal.operator)
    target = account_url("top_up", portal.a_usd)
    fields = review(client, target, {"amount": "5.55"})

    responses = _post_concurrently(portal.operator, target, fields)

    _assert_one_result(responses, account_url("change", portal.a_usd))
    assert Movement.objects.filter(account=portal.a_usd, kind="top_up").count() == 2
    assert balances(portal.a_usd) == (D("85.55"), D("85.55"), D(0), D(0))


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_contract_confirmation_send_one_sms(portal):
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=D("1000.00"),
        actor=portal.operator,
    )
    _state, contract = services.set_credit_limit(
        account=portal.a_dev, amount=D("300.00"), actor=portal.owner
    )
    client = Client()
    client.force_login(portal.owner)
    target = url("accounts_contract_confirm", contract.pk)
    fields = review(client, target)

    responses = _post_concurrently(portal.owner, target, fields)

    _assert_one_result(responses, url("accounts_contract_changelist"))
    contract.refresh_from_db()
    assert contract.status == "confirmed"
    assert Notification.objects.filter(channel="sms", account=portal.a_dev).count() == 1
    assert (
        CreditLimitChange.objects.filter(
            account=portal.a_dev, outcome="applied"
        ).count()
        == 1
    )
    portal.a_dev.refresh_from_db()
    assert portal.a_dev.credit_limit == D("300.00")


def test_tokens_are_fresh_for_every_review(client, portal):
    client.force_login(portal.owner)
    target = account_url("transfer", portal.a_main)
    data = {"destination": portal.a_dev.pk, "amount": "1.00"}
    tokens = {review(client, target, data)["confirmation_token"] for _ in range(3)}
    assert len(tokens) == 3
    assert all(len(t) >= 32 for t in tokens)
