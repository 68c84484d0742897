"""The API root lists the endpoints; the interactive docs load without internet."""

import re

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


def test_api_root_needs_authentication(api_client):
    response = api_client.get("/api/v1/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_api_root_lists_the_endpoints_and_the_docs(client_for, user):
    response = client_for(user).get("/api/v1/")

    assert response.status_code == 200
    body = response.json()
    assert "/api/v1/transfers/" in body["endpoints"]
    assert "/api/v1/accounts/<int:pk>/transferable/" in body["endpoints"]
    assert "/api/v1/usage/" in body["endpoints"]
    assert body["schema"] == "http://testserver/api/schema/"
    assert body["docs"] == "http://testserver/api/docs/"
    assert "/admin/api-token/" in body["authentication"]


def test_interactive_docs_use_only_locally_served_assets(user):
    browser = Client()
    browser.force_login(user)

    page = browser.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"https?://(?!testserver)", html)
    scripts = re.findall(r'src="([^"]+\.js)"', html)
    assert any("swagger-ui-bundle" in src for src in scripts)
    for src in scripts:
        assert src.startswith("/static/"), src
        assert browser.get(src).status_code == 200
