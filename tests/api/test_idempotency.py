"""Idempotency-Key on money-moving POSTs (SPEC §8)."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Charge, Movement
from billing_portal.models import IdempotencyRecord
from sharing.models import UsageRecord
from tests.api.helpers import API, balances, usage_body
from tests.factories import UserFactory


@pytest.fixture
def pair(make_account, owner, grant, fund):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "100.00")
    return source, destination


def _transfer(client, source, destination, amount, key, **kwargs):
    return client.post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
        **kwargs,
    )


def _transfers():
    return Movement.objects.filter(kind="transfer").count()


@pytest.mark.parametrize("again", ["1", "1.00", "1.0", "1.000"])
def test_same_key_and_same_request_replays_the_original(pair, owner, client_for, again):
    source, destination = pair
    client = client_for(owner)

    first = _transfer(client, source, destination, "1.00", "key-1")
    second = _transfer(client, source, destination, again, "key-1")

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert second.json() == first.json()
    assert _transfers() == 1
    assert balances(source)["cash"] == "99.00"
    assert balances(destination)["cash"] == "1.00"


def test_a_json_number_equals_the_same_amount_as_a_string(pair, owner, client_for):
    source, destination = pair
    client = client_for(owner)
    body = f'{{"source": {source.pk}, "destination": {destination.pk}, "amount": '

    first = client.post(
        f"{API}/transfers/",
        body + "2.5}",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    second = _transfer(client, source, destination, "2.50", "key-1")

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert _transfers() == 1


def test_replay_does_not_see_later_changes(pair, owner, client_for, transfer):
    source, destination = pair
    client = client_for(owner)
    first = _transfer(client, source, destination, "10.00", "key-1")
    transfer(source, destination, "5.00")  # revocable grows to 15.00

    replay = _transfer(client, source, destination, "10.00", "key-1")

    assert replay.json() == first.json()
    assert replay.json()["revocable_amount"] == "10.00"
    assert _transfers() == 2


def test_a_stored_409_is_replayed_even_after_the_rule_would_pass(
    pair, owner, client_for, fund
):
    source, destination = pair
    client = client_for(owner)

    refused = _transfer(client, source, destination, "150.00", "key-1")
    fund(source, "100.00")
    replay = _transfer(client, source, destination, "150.00", "key-1")
    without_key = client.post(
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "150.00"},
        format="json",
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "exceeds_transferable"
    assert replay.status_code == 409
    assert replay.json() == refused.json()
    assert without_key.status_code == 201
    assert _transfers() == 1
    assert balances(source)["cash"] == "50.00"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "1.01"},
        {"destination": "other"},
        {"path": "revocations"},
    ],
    ids=["amount", "destination", "path"],
)
def test_same_key_with_a_different_request_is_409_key_reused(
    pair, owner, client_for, make_account, change
):
    source, destination = pair
    client = client_for(owner)
    first = _transfer(client, source, destination, "1.00", "key-1")
    body = {"source": source.pk, "destination": destination.pk, "amount": "1.00"}
    path = "transfers"
    if "amount" in change:
        body["amount"] = change["amount"]
    if "destination" in change:
        body["destination"] = make_account().pk
    if "path" in change:
        path = change["path"]

    reused = client.post(
        f"{API}/{path}/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1"
    )

    assert first.status_code == 201
    assert reused.status_code == 409, reused.content
    assert reused.json()["code"] == "idempotency_key_reused"
    assert set(reused.json()) == {"code", "detail", "reasons"}
    assert [r["code"] for r in reused.json()["reasons"]] == ["idempotency_key_reused"]
    assert Movement.objects.filter(kind__in=["transfer", "revocation"]).count() == 1
    assert balances(source)["cash"] == "99.00"
    # The original is still replayed.
    assert _transfer(client, source, destination, "1", "key-1").json() == first.json()


def test_keys_are_scoped_per_user(make_account, grant, fund, client_for):
    alice, bob = UserFactory(), UserFactory()
    a_source, b_source, destination = make_account(), make_account(), make_account()
    grant(alice, a_source)
    grant(bob, b_source)
    fund(a_source, "10.00")
    fund(b_source, "10.00")

    by_alice = _transfer(client_for(alice), a_source, destination, "3.00", "shared")
    by_bob = _transfer(client_for(bob), b_source, destination, "4.00", "shared")

    assert by_alice.status_code == 201
    assert by_bob.status_code == 201
    assert by_bob.json()["id"] != by_alice.json()["id"]
    assert _transfers() == 2
    assert balances(destination)["cash"] == "7.00"
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_the_same_body_by_two_users_with_one_key_is_two_movements(
    make_account, grant, fund, client_for
):
    alice, bob = UserFactory(), UserFactory()
    source, destination = make_account(), make_account()
    grant(alice, source)
    grant(bob, source, "manage")
    fund(source, "10.00")

    first = _transfer(client_for(alice), source, destination, "3.00", "shared")
    second = _transfer(client_for(bob), source, destination, "3.00", "shared")

    assert first.status_code == second.status_code == 201
    assert _transfers() == 2
    assert balances(source)["cash"] == "4.00"


def test_refusals_before_idempotency_do_not_store_the_key(
    pair, owner, client_for, make_account, grant
):
    """400 and 403 come before idempotency: the key stays free."""
    source, destination = pair
    viewer = UserFactory()
    grant(viewer, source, "use")
    client = client_for(owner)

    invalid = _transfer(client, source, destination, "0", "key-1")
    forbidden = _transfer(client_for(viewer), source, destination, "1.00", "key-1")
    accepted = _transfer(client, source, destination, "1.00", "key-1")

    assert invalid.status_code == 400
    assert forbidden.status_code == 403
    assert accepted.status_code == 201
    assert _transfers() == 1
    assert IdempotencyRecord.objects.count() == 1
    # A reused key with an invalid body is still a 400, not a replay.
    assert _transfer(client, source, destination, "-1", "key-1").status_code == 400


def test_keys_are_kept_at_least_24_hours(pair, owner, client_for):
    source, destination = pair
    client = client_for(owner)
    first = _transfer(client, source, destination, "1.00", "key-1")
    IdempotencyRecord.objects.filter(key="key-1").update(
        created_at=timezone.now() - timedelta(hours=24, minutes=-1)
    )

    replay = _transfer(client, source, destination, "1.00", "key-1")

    assert replay.json() == first.json()
    assert _transfers() == 1


def test_top_up_revocation_usage_and_settle_are_idempotent(
    operator, owner, pair, client_for, transfer, charge
):
    source, destination = pair
    transfer(source, destination, "20.00")
    charge(source, "5.00")
    op, customer = client_for(operator), client_for(owner)
    requests = [
        (op, f"accounts/{source.pk}/top-ups/", {"amount": "7.00"}),
        (
            customer,
            "revocations/",
            {"source": source.pk, "destination": destination.pk, "amount": "2.00"},
        ),
        (op, "usage/", usage_body(source, amount="3.00")),
        (op, f"accounts/{source.pk}/settle/", {}),
    ]
    first = []
    for client, path, body in requests:
        response = client.post(
            f"{API}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=path
        )
        assert response.status_code in (200, 201), response.content
        first.append(response)
    movements = Movement.objects.count()
    state = balances(source)

    for (client, path, body), original in zip(requests, first, strict=True):
        again = client.post(
            f"{API}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=path
        )
        assert again.status_code == original.status_code
        assert again.json() == original.json()

    assert Movement.objects.count() == movements
    assert balances(source) == state
    assert UsageRecord.objects.count() == 1
    assert Charge.objects.count() == 2
    # 80 + 7 (settles the 5.00 charge) + 2 back, then usage 3.00 settled.
    assert state == {"cash": "81.00", "transferred_in": "0.00", "uncleared": "0.00"}


# --- concurrency (real PostgreSQL, separate connections) ---------------------------

THREADS = 10


def _race(token_key, url, body, key):
    barrier = threading.Barrier(THREADS)
    responses = [None] * THREADS
    errors = []

    def worker(i):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
            barrier.wait(timeout=30)
            responses[i] = client.post(
                url, body, format="json", HTTP_IDEMPOTENCY_KEY=key
            )
        except Exception as exc:  # reported below, with the thread's number
            errors.append((i, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert all(r is not None for r in responses)
    return responses


def _assert_one_original(responses, status):
    originals = [r for r in responses if r.status_code == status]
    others = [r for r in responses if r.status_code != status]
    assert originals, [r.content for r in responses]
    assert all(r.json() == originals[0].json() for r in originals)
    for r in others:
        assert r.status_code == 409, r.content
        assert r.json()["code"] == "idempotency_request_in_progress"
    return originals[0].json()


@pytest.mark.django_db(transaction=True)
def test_concurrent_transfers_with_one_key_make_one_movement(
    make_account, owner, grant, fund
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "100.00")
    token = Token.objects.create(user=owner)

    responses = _race(
        token.key,
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "12.34"},
        "race-key",
    )

    original = _assert_one_original(responses, 201)
    movement = Movement.objects.get(kind="transfer")
    assert original["id"] == movement.pk
    assert original["amount"] == "12.34"
    assert balances(source)["cash"] == "87.66"
    assert balances(destination)["cash"] == "12.34"
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_top_ups_with_one_key_make_one_movement(make_account, operator):
    account = make_account()
    token = Token.objects.create(user=operator)

    responses = _race(
        token.key,
        f"{API}/accounts/{account.pk}/top-ups/",
        {"amount": "5.55"},
        "race-key",
    )

    original = _assert_one_original(responses, 201)
    assert Movement.objects.filter(kind="top_up").count() == 1
    assert original["id"] == Movement.objects.get(kind="top_up").pk
    assert balances(account)["cash"] == "5.55"


@pytest.mark.django_db(transaction=True)
def test_concurrent_refusals_with_one_key_are_one_stored_409(
    make_account, owner, grant, fund
):
    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "1.00")
    token = Token.objects.create(user=owner)

    responses = _race(
        token.key,
        f"{API}/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "2.00"},
        "race-key",
    )

    refusals = [r for r in responses if r.json()["code"] == "exceeds_transferable"]
    assert refusals
    assert all(r.status_code == 409 for r in responses)
    assert all(r.json() == refusals[0].json() for r in refusals)
    assert {r.json()["code"] for r in responses} <= {
        "exceeds_transferable",
        "idempotency_request_in_progress",
    }
    assert Movement.objects.filter(kind="transfer").count() == 0
    record = IdempotencyRecord.objects.get()
    assert record.response_status == 409


def test_an_overlong_idempotency_key_is_a_400_and_moves_nothing(
    make_account, fund, owner, grant, client_for
):
    from accounts.models import Movement

    source, destination = make_account(), make_account()
    grant(owner, source)
    fund(source, "50.00")
    before = Movement.objects.count()
    response = client_for(owner).post(
        "/api/v1/transfers/",
        {"source": source.pk, "destination": destination.pk, "amount": "5.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )
    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]
    assert Movement.objects.count() == before
