"""Take the README's screenshots with headless Chromium (Playwright).

Usage: start the portal (`make run`), then
    .venv/bin/python bench/screenshots.py [base-url] [group ...]
Groups: accounts (the first screens, credit control, the newer screens),
pools (coupon credit pools), sharing (equity asset sharing) and actions
(buttons greyed with why, read-only notes, the 404 page: run with DEBUG off,
after the others, as it changes the demo data); all of them by default.
Screenshots go to docs/screenshots/. Uses the system Chromium
(/usr/bin/chromium or $CHROMIUM); never downloads a browser.
"""

import os
import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
GROUPS = set(sys.argv[2:]) or {"accounts", "pools", "sharing", "actions"}
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "demo-pass-123"


def login(page, username):
    page.context.clear_cookies()
    page.goto(f"{BASE}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def account_id(page, uid):
    page.goto(f"{BASE}/admin/accounts/account/?q={uid}")
    href = page.locator("#result_list tbody a").first.get_attribute("href")
    return re.search(r"/account/(\d+)/", href).group(1)


def shot(page, name):
    # After a click the page may still be loading its icons: wait, so that
    # every run draws the same picture.
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / name), full_page=True)
    print("wrote", OUT / name)


def credit_flow(page):
    """A first credit limit: pending, confirmed in Contracts; a partner-linked
    account's disabled panel and its access request, granted by the CBM."""
    data = account_id(page, "1000000000000003")
    page.goto(f"{BASE}/admin/accounts/account/{data}/credit-limit/")
    page.fill("#id_amount", "1500.00")
    page.click("input[type=submit]")
    page.click("input[type=submit]")  # confirm the pending limit
    shot(page, "credit-limit-pending.png")
    page.goto(f"{BASE}/admin/accounts/contract/")
    shot(page, "contracts.png")
    page.locator("#result_list tbody a").first.click()
    page.click("text=Confirm contract")
    shot(page, "contract-confirm.png")
    page.click("input[type=submit]")
    partner = account_id(page, "1000000000000005")
    page.goto(f"{BASE}/admin/accounts/account/{partner}/change/")
    page.wait_for_load_state("networkidle")
    page.locator("#disabled").screenshot(path=str(OUT / "disabled-panel.png"))
    print("wrote", OUT / "disabled-panel.png")
    page.click("#disabled >> text=Request access")
    page.click("input[type=submit]")
    login(page, "cbm")
    page.goto(f"{BASE}/admin/accounts/accessrequest/")
    page.locator("#result_list tbody a").first.click()
    page.click("text=Grant")
    page.click("input[type=submit]")
    shot(page, "access-granted.png")
    login(page, "operator")
    page.goto(f"{BASE}/admin/billing_portal/notification/")
    shot(page, "notifications.png")


def new_screens(page):
    """The screens built from refusal selectors and the new confirmation pages.
    Nothing here changes data: the revocation is shown, not confirmed."""
    login(page, "operator")
    page.goto(f"{BASE}/admin/accounts/company/?q=Acme")
    page.locator("#result_list tbody a").first.click()
    shot(page, "company-management-account.png")
    page.goto(f"{BASE}/admin/accounts/accountaccess/?q=erin")
    page.locator("#result_list tbody a").first.click()
    page.click("text=Revoke access")
    shot(page, "access-revoke-confirm.png")  # not confirmed
    login(page, "erin")
    initech = account_id(page, "3000000000000001")
    page.goto(f"{BASE}/admin/accounts/account/{initech}/change/")
    shot(page, "account-unverified.png")
    login(page, "carol")
    dev = account_id(page, "1000000000000002")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/change/")
    shot(page, "account-read-only.png")
    login(page, "alice")
    main_id = account_id(page, "1000000000000001")
    page.goto(f"{BASE}/admin/accounts/account/{main_id}/credit-limit/")
    page.fill("#id_amount", "999999.00")  # above the company's quota
    page.click("input[type=submit]")
    shot(page, "credit-limit-refused.png")


def pools(page):
    """Coupon credit pools on the demo data (coupons/demo.py). Nothing here
    changes data: the request is filled in, not sent."""
    login(page, "cbm")
    page.goto(f"{BASE}/admin/coupons/creditpool/request/")
    page.check("input[name=product_scope][value=some]")
    page.check("input[name=products][value=ecs]")
    page.check("input[name=products][value=oss]")
    page.fill("#id_amount", "5000.00")
    shot(page, "pools-request-form.png")
    page.goto(f"{BASE}/admin/accounts/contract/")
    page.locator("#pool-section").screenshot(path=str(OUT / "pools-contracts-cbm.png"))
    print("wrote", OUT / "pools-contracts-cbm.png")
    login(page, "operator")
    page.goto(f"{BASE}/admin/accounts/contract/")
    shot(page, "pools-contracts-operator.png")
    login(page, "alice")
    page.goto(f"{BASE}/admin/coupons/creditpool/?status__exact=approved")
    page.locator("#result_list tbody a").first.click()
    shot(page, "pools-page.png")
    pool_url = page.url
    page.goto(pool_url.replace("/change/", "/issue/"))
    shot(page, "pools-issue-form.png")
    pool = re.search(r"/creditpool/(\d+)/", pool_url).group(1)
    # The latest coupon of the pool: issued to both members, one of which
    # no longer has a payment relationship with Acme Main.
    page.goto(f"{BASE}/admin/coupons/coupon/?pool={pool}")
    page.locator("#result_list tbody a").first.click()
    shot(page, "pools-coupon-not-applying.png")
    login(page, "dave")
    page.goto(f"{BASE}/admin/coupons/creditpool/")
    shot(page, "pools-empty-state.png")


def accounts(page):
    login(page, "alice")
    page.goto(f"{BASE}/admin/accounts/account/")
    shot(page, "accounts-overview.png")
    dev = account_id(page, "1000000000000002")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/change/")
    shot(page, "account-page.png")
    main_id = account_id(page, "1000000000000001")
    page.goto(f"{BASE}/admin/accounts/account/{main_id}/transfer/")
    page.evaluate(
        "([id, text]) => { const s = document.querySelector('#id_destination');"
        " s.add(new Option(text, id, true, true)); }",
        [dev, "Acme Dev (1000000000000002)"],
    )
    page.fill("#id_amount", "25.00")
    page.click("input[type=submit]")
    shot(page, "transfer-confirm.png")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/transfer/")
    page.evaluate(
        "([id, text]) => { const s = document.querySelector('#id_destination');"
        " s.add(new Option(text, id, true, true)); }",
        [main_id, "Acme Main (1000000000000001)"],
    )
    page.fill("#id_amount", "100.00")
    page.click("input[type=submit]")
    shot(page, "transfer-refused.png")
    page.goto(f"{BASE}/admin/accounts/posting/?account={dev}")
    shot(page, "ledger.png")
    page.goto(f"{BASE}/admin/accounts/financialrelationship/")
    shot(page, "relationships.png")
    page.locator("#result_list tbody a").first.click()
    shot(page, "relationship-detail.png")
    page.goto(f"{BASE}/admin/accounts/folder/")
    shot(page, "directory.png")
    credit_flow(page)
    new_screens(page)


def sharing_screens(page):
    """Equity asset sharing (issue 10): the demo's savings plan with its
    recipients timeline, the share form and its review (not confirmed), a
    late bill that the plan did not deduct, the deduction log, the chargeback,
    an automatic rule and the benefits panel of an account page."""
    login(page, "alice")
    page.goto(f"{BASE}/admin/sharing/asset/")
    shot(page, "sharing-assets.png")
    page.goto(f"{BASE}/admin/sharing/asset/?type__exact=savings_plan")
    page.locator("#result_list tbody tr", has_text="10.00 CNY per hour").locator(
        "a"
    ).first.click()
    shot(page, "sharing-asset.png")
    page.click("#shares >> text=Share with accounts or a folder")
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Partner")
    page.locator(".select2-results__option", has_text="Partner").click()
    page.keyboard.press("Escape")
    shot(page, "sharing-share-form.png")
    page.click("input[type=submit]")
    shot(page, "sharing-share-confirm.png")  # not confirmed
    page.goto(f"{BASE}/admin/sharing/usagerecord/?q=demo-share-late")
    page.locator("#result_list tbody a").first.click()
    shot(page, "sharing-usage-not-applied.png")
    page.goto(f"{BASE}/admin/sharing/deduction/")
    shot(page, "sharing-deductions.png")
    page.goto(f"{BASE}/admin/sharing/asset/chargeback/")
    shot(page, "sharing-chargeback.png")
    page.goto(f"{BASE}/admin/sharing/sharingrule/")
    page.locator("#result_list tbody a").first.click()
    shot(page, "sharing-rule.png")
    data = account_id(page, "1000000000000003")
    page.goto(f"{BASE}/admin/accounts/account/{data}/change/")
    page.wait_for_load_state("networkidle")
    page.locator("#benefits").screenshot(path=str(OUT / "sharing-account-benefits.png"))
    print("wrote", OUT / "sharing-account-benefits.png")
    login(page, "carol")
    page.goto(f"{BASE}/admin/sharing/asset/?type__exact=savings_plan")
    page.locator("#result_list tbody tr", has_text="10.00 CNY per hour").locator(
        "a"
    ).first.click()
    page.goto(page.url.replace("/change/", "/share/"))
    shot(page, "sharing-share-refused.png")


def top(page, name):
    """The top of a page as a reader first sees it (1440 x 900)."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / name))
    print("wrote", OUT / name)


def part(page, selector, name):
    page.wait_for_load_state("networkidle")
    page.locator(selector).screenshot(path=str(OUT / name))
    print("wrote", OUT / name)


def chinese(page, on=True):
    page.context.add_cookies(
        [{"name": "django_language", "value": "zh-hans" if on else "en", "url": BASE}]
    )


def action_screens(page):
    """Buttons offered only when they can succeed (issue 12): greyed with the
    services' sentence, read-only notes, the portal's 404 page."""
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, "alice")
    data = account_id(page, "1000000000000003")
    page.goto(f"{BASE}/admin/accounts/account/{data}/change/")
    top(page, "transfer-disabled.png")
    # bob (manage) sets Acme Dev's first limit: pending until an owner confirms.
    login(page, "bob")
    dev = account_id(page, "1000000000000002")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/credit-limit/")
    if page.locator("#id_amount").count():  # not pending yet (a first run)
        page.fill("#id_amount", "800.00")
        page.click("input[type=submit]")
        page.click("input[type=submit]")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/change/")
    part(page, "#credit", "credit-limit-disabled.png")
    page.goto(f"{BASE}/admin/accounts/contract/")
    top(page, "contracts-manage-user.png")
    chinese(page)
    page.goto(f"{BASE}/admin/accounts/contract/")
    top(page, "zh-contracts-manage-user.png")
    chinese(page, on=False)
    login(page, "carol")
    page.goto(f"{BASE}/admin/accounts/financialrelationship/")
    top(page, "relationships-read-only.png")
    # An asset that cannot be shared: the revoked coupon.
    login(page, "alice")
    page.goto(f"{BASE}/admin/sharing/asset/?status__exact=revoked")
    page.locator("#result_list tbody a").first.click()
    part(page, "#shares", "share-disabled.png")
    # A pool with nothing left: issue all of it, then look at it.
    page.goto(f"{BASE}/admin/coupons/creditpool/?status__exact=approved")
    page.locator("#result_list tbody a").first.click()
    pool_url = page.url
    remaining = page.locator("#amounts tr", has_text="Remaining").locator("td.num")
    amount = remaining.inner_text().strip()
    if amount != "0.00":
        page.goto(pool_url.replace("/change/", "/issue/"))
        page.locator("input[name=accounts]").first.check()
        page.fill("#id_count", "1")
        page.fill("#id_face_value", amount)
        page.click("input[type=submit]")
        page.click("input[type=submit]")
        page.goto(pool_url)
    top(page, "pool-issue-disabled.png")
    # The portal's own 404, with the way back: only with DEBUG off (with it
    # on, Django shows its technical page instead).
    page.goto(f"{BASE}/admin/accounts/account/")
    page.goto(f"{BASE}/admin/accounts/acount/", referer=page.url)
    if not page.locator("#not-found").count():
        print("skipped not-found.png: start the portal with DEBUG=False")
        return
    top(page, "not-found.png")
    chinese(page)
    page.goto(f"{BASE}/admin/no-such-page/")
    top(page, "zh-not-found.png")
    chinese(page, on=False)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        # Pools first: they read the demo data as seeded (nothing they show
        # is changed by the other groups, but keep the order stable).
        if "pools" in GROUPS:
            pools(page)
        if "sharing" in GROUPS:
            sharing_screens(page)
        if "accounts" in GROUPS:
            accounts(page)
        if "actions" in GROUPS:
            action_screens(page)
        browser.close()


if __name__ == "__main__":
    main()
