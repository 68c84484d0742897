"""An owner shares an asset with two accounts in a real browser: the select2
picker fed by the asset's eligible recipients, the review page with the
counter, the confirmation, and the recipients on the asset's timeline.

The ``portal`` world of tests/accounts/conftest_admin.py, committed rows
(``transaction=True``) so that the live server's thread sees them.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sharing.models import SharePeriod
from sharing.services import provision_asset
from tests.e2e.test_portal_browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def pick(page, text):
    """Choose one account in the select2 picker (the share-targets view)."""
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill(text)
    option = page.locator(".select2-results__option", has_text=text)
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator(".select2-selection__rendered")).to_contain_text(text)


def test_owner_shares_an_asset_with_accounts_and_sees_the_recipients(
    live_server, page, portal
):
    now = timezone.now()
    plan = provision_asset(
        type="savings_plan",
        owner=portal.a_main,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        commitment_per_hour=Decimal("10.00"),
        actor=portal.operator,
    )
    base = live_server.url
    log_in(page, base, "owner")
    page.goto(f"{base}/admin/sharing/asset/")
    page.locator("#result_list").get_by_role("link", name=str(plan.pk)).first.click()
    expect(page.locator("#recipient-counter")).to_have_text("0 / 100")
    expect(page.locator("#recipients")).to_contain_text(
        "No account has received this asset yet."
    )

    page.get_by_role("link", name="Share with accounts or a folder").click()
    expect(page.locator("h1")).to_have_text(f"Share Savings plan #{plan.pk}")
    pick(page, "Acme Dev")
    pick(page, "Acme Hidden")
    # Another company's accounts and the owner itself are never offered.
    for absent in ("Globex", "Acme Main"):
        page.locator(".select2-search__field").fill(absent)
        expect(page.locator(".select2-results__option")).to_have_text(
            ["No results found"]
        )
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Review share").click()

    expect(page.locator("h1")).to_have_text("Confirm sharing")
    expect(page.locator("#chosen tr")).to_have_count(2)
    expect(page.locator("#recipients-after")).to_have_text("2 / 100")
    assert SharePeriod.objects.count() == 0
    page.get_by_role("button", name="Yes, share it").click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Shared with 2 accounts: Acme Dev (1000000000000102), Acme Hidden "
        "(1000000000000104). They receive the asset from now on."
    )
    expect(page.locator("#recipient-counter")).to_have_text("2 / 100")
    rows = page.locator("#recipients tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator("td.who")).to_have_text(
        ["Acme Dev (1000000000000102)", "Acme Hidden (1000000000000104)"]
    )
    expect(rows.locator(".bar.open")).to_have_count(2)
    expect(page.locator("#shares tbody tr")).to_have_count(2)
    assert set(
        SharePeriod.objects.filter(asset=plan, end__isnull=True).values_list(
            "recipient__name", flat=True
        )
    ) == {"Acme Dev", "Acme Hidden"}
