"""The API token page: the token is shown once (on creation or replacement),
later only its first characters; replacing it is confirmed with a one-time
token and a replayed confirmation replaces nothing."""

import re

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/admin/api-token/"
_ONCE = re.compile(r'name="confirmation_token" value="([^"]+)"')


def test_a_token_is_created_on_request_and_shown_once(client):
    user = UserFactory()
    client.force_login(user)
    first = client.get(PAGE).content.decode()
    assert 'id="no-token"' in first
    assert not Token.objects.filter(user=user).exists()  # a GET creates nothing

    created = client.post(PAGE, {"action": "create"})

    key = Token.objects.get(user=user).key
    assert key in created.content.decode()
    assert "Copy it now: it is not shown again." in created.content.decode()
    assert "no-store" in created["Cache-Control"]
    later = client.get(PAGE).content.decode()
    assert key not in later
    assert f"{key[:6]}••••••••••" in later
    # Creating again shows the existing token masked, never whole.
    again = client.post(PAGE, {"action": "create"}).content.decode()
    assert key not in again
    assert Token.objects.get(user=user).key == key


def test_replacing_the_token_needs_a_confirmation_and_shows_the_new_one_once(client):
    user = UserFactory()
    old = Token.objects.create(user=user).key
    client.force_login(user)
    assert old not in client.get(PAGE).content.decode()

    # A bare POST (the old page's button) replaces nothing.
    client.post(PAGE)
    assert Token.objects.get(user=user).key == old
    review = client.get(PAGE, {"replace": "1"}).content.decode()
    assert "The current token stops working at once" in review
    assert Token.objects.get(user=user).key == old
    once = _ONCE.search(review).group(1)

    done = client.post(PAGE, {"confirm": "yes", "confirmation_token": once})

    new = Token.objects.get(user=user).key
    assert new != old
    assert new in done.content.decode()
    assert "the old one no longer works" in done.content.decode()
    # The replayed confirmation replaces nothing and does not show the key.
    replay = client.post(PAGE, {"confirm": "yes", "confirmation_token": once})
    assert Token.objects.get(user=user).key == new
    assert new not in replay.content.decode()
    assert "This confirmation was already used" in replay.content.decode()
    assert new not in client.get(PAGE).content.decode()
    # The old key no longer works on the API; the new one does.
    assert (
        client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Token {old}").status_code
        == 401
    )
    client.logout()
    assert (
        client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Token {new}").status_code
        == 200
    )


def test_the_token_page_is_linked_and_needs_a_login(client):
    user = UserFactory()
    client.force_login(user)
    assert "/admin/api-token/" in client.get("/admin/").content.decode()
    client.logout()
    assert client.get(PAGE).status_code == 302
