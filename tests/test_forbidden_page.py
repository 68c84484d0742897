"""A refusal is a portal page with why and a way back (issue 12)."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_customer_opening_a_user_record_gets_the_portal_403(client, owner):
    other = UserFactory()
    client.force_login(owner)
    page = client.get(
        reverse("admin:auth_user_change", args=[other.pk]),
        HTTP_REFERER="/admin/accounts/account/",
    )
    html = page.content.decode()
    assert page.status_code == 403
    assert "You cannot open this page" in html
    assert "ask an owner of the account" in html
    assert 'href="/admin/accounts/account/"' in html  # back where they were
    assert f'href="{reverse("admin:index")}"' in html


def test_the_403_page_speaks_chinese(client, owner):
    other = UserFactory()
    client.force_login(owner)
    page = client.get(
        reverse("admin:auth_user_change", args=[other.pk]),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert page.status_code == 403
    assert "您无法打开此页面" in page.content.decode()
