"""An owner shares an asset in a real browser, in English and in Chinese:
with two accounts (the select2 picker fed by the asset's eligible recipients,
the review page with the counter, the confirmation, the recipients on the
asset's timeline), then with a folder, pending until the real background
worker applies it, after which the folder's accounts are recipients too.

The ``portal`` world of tests/accounts/conftest_admin.py, committed rows
(``transaction=True``) so that the live server's thread sees them.
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import create_folder, place_accounts
from sharing.models import Share, SharePeriod
from sharing.services import provision_asset
from tests.e2e.browser import (
    LANGUAGES,
    check_page,
    log_in,
    no_results,
    pick,
    say,
)
from tests.factories import AccountFactory
from tests.sharing.test_shares import DATABASE_TASKS, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_owner_shares_an_asset_with_accounts_and_a_folder(
    live_server, page, portal, settings, grant, lang
):
    # Folder shares go through the real worker's queue, due a second after
    # they are saved (tests/sharing/test_shares.py does the same).
    settings.TASKS = DATABASE_TASKS
    settings.SHARING_RESOLVE_DELAY_SECONDS = 1
    now = timezone.now()
    plan = provision_asset(
        type="savings_plan",
        owner=portal.a_main,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        commitment_per_hour=Decimal("10.00"),
        actor=portal.operator,
    )
    spare = AccountFactory(
        uid="1000000000000105", name="Acme Spare", company=portal.company
    )
    grant(portal.owner, spare, "owner")
    team = create_folder(company=portal.company, name="Team", actor=portal.operator)
    place_accounts(folder=team, accounts=[spare, portal.a_dev], actor=portal.operator)

    base = live_server.url
    log_in(page, base, "owner", lang)
    page.goto(f"{base}/admin/sharing/asset/")
    check_page(page, lang)
    page.locator("#result_list").get_by_role("link", name=str(plan.pk)).first.click()
    check_page(page, lang)
    expect(page.locator("#recipient-counter")).to_have_text("0 / 100")
    expect(page.locator("#recipients")).to_contain_text(
        say(
            lang,
            "No account has received this asset yet.",
            "还没有账号获得过该资产。",
        )
    )

    share_link = say(lang, "Share with accounts or a folder", "共享给账号或文件夹")
    page.get_by_role("link", name=share_link).click()
    expect(page.locator("h1")).to_have_text(
        say(lang, f"Share Savings plan #{plan.pk}", f"共享 节省计划 #{plan.pk}")
    )
    check_page(page, lang)
    pick(page, "Acme Dev")
    pick(page, "Acme Hidden")
    # Another company's accounts and the owner itself are never offered.
    for absent in ("Globex", "Acme Main"):
        page.locator(".select2-search__field").fill(absent)
        expect(page.locator(".select2-results__option")).to_have_text(
            [no_results(lang)]
        )
    page.keyboard.press("Escape")
    review = say(lang, "Review share", "预览共享")
    page.get_by_role("button", name=review).click()

    expect(page.locator("h1")).to_have_text(say(lang, "Confirm sharing", "确认共享"))
    check_page(page, lang)
    expect(page.locator("#chosen tr")).to_have_count(2)
    expect(page.locator("#recipients-after")).to_have_text("2 / 100")
    assert SharePeriod.objects.count() == 0
    confirm = say(lang, "Yes, share it", "是的，共享")
    page.get_by_role("button", name=confirm).click()

    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            "Shared with 2 accounts: Acme Dev (1000000000000102), Acme Hidden "
            "(1000000000000104). They receive the asset from now on.",
            "已共享给 2 个账号：Acme Dev (1000000000000102), Acme Hidden "
            "(1000000000000104)。从现在起它们可获得该资产。",
        )
    )
    check_page(page, lang)
    expect(page.locator("#recipient-counter")).to_have_text("2 / 100")
    rows = page.locator("#recipients tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator("td.who")).to_have_text(
        ["Acme Dev (1000000000000102)", "Acme Hidden (1000000000000104)"]
    )
    expect(rows.locator(".bar.open")).to_have_count(2)
    expect(page.locator("#shares tbody tr")).to_have_count(2)

    # Then with the folder "Team" (Acme Dev, already a recipient, and Acme Spare).
    page.get_by_role("link", name=share_link).click()
    check_page(page, lang)
    page.locator("input[name=target][value=folder]").check()
    page.select_option("#id_folder", str(team.pk))
    page.get_by_role("button", name=review).click()
    expect(page.locator("h1")).to_have_text(say(lang, "Confirm sharing", "确认共享"))
    check_page(page, lang)
    expect(page.locator("#content-main")).to_contain_text(
        say(
            lang,
            "The folder holds 2 accounts now (1 not receiving the asset yet).",
            "该文件夹目前有 2 个账号（其中 1 个尚未获得该资产）。",
        )
    )
    expect(page.locator("#recipients-after")).to_have_text("3 / 100")
    page.get_by_role("button", name=confirm).click()

    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            "Shared with folder Team: pending until the background job applies it",
            "已共享给文件夹 Team：等待后台任务生效",
        )
    )
    check_page(page, lang)
    folder_share = Share.objects.get(asset=plan, folder=team)
    folder_row = page.locator(f"#share-{folder_share.pk}")
    expect(folder_row).to_contain_text(
        say(lang, "Folder Team (0 accounts receive it)", "文件夹 Team (0 个账号获得它)")
    )
    expect(folder_row).to_contain_text(
        say(lang, "Pending, expected at", "等待中，预计于")
    )
    expect(page.locator("#recipient-counter")).to_have_text("2 / 100")
    assert folder_share.status == "pending"

    # The real worker applies it once it is due.
    while timezone.now() <= folder_share.due_at:
        time.sleep(0.2)
    run_worker()
    folder_share.refresh_from_db()
    assert folder_share.status == "active"

    page.reload()
    check_page(page, lang)
    expect(folder_row).to_contain_text(
        say(lang, "Folder Team (1 account receives it)", "文件夹 Team (1 个账号获得它)")
    )
    expect(folder_row).to_contain_text(say(lang, "Active since", "自"))
    expect(page.locator("#recipient-counter")).to_have_text("3 / 100")
    expect(rows.locator("td.who")).to_have_text(
        [
            "Acme Dev (1000000000000102)",
            "Acme Hidden (1000000000000104)",
            "Acme Spare (1000000000000105)",
        ]
    )
    expect(page.locator("#recipients")).to_contain_text(
        say(lang, "via folder Team", "通过文件夹 Team")
    )
    assert set(
        SharePeriod.objects.filter(asset=plan, end__isnull=True).values_list(
            "recipient__name", flat=True
        )
    ) == {"Acme Dev", "Acme Hidden", "Acme Spare"}
