"""Take the README's screenshots with headless Chromium (Playwright).

Usage: start the portal on fresh demo data (`make run`), then
    .venv/bin/python bench/screenshots.py [base-url] [group ...] [--lang zh-hans]
or let `make screenshots` do everything (a throwaway portal per language, both
languages, every group). Groups: accounts (the first screens, credit control,
the newer screens), pools (coupon credit pools), sharing (equity asset sharing),
more (history, API token, 403, transfer pairs, invite refused, API docs),
home (the home page per role; it leaves a pending contract and an invitation
in the demo) and, last, actions (greyed buttons, read-only notes, the 404 page with
DEBUG off; it issues what is left of a pool); all of them by default. Screenshots go to
docs/screenshots/; in Chinese (--lang zh-hans: the language cookie is set at
each login) the same names prefixed "zh-". Selectors must not depend on the
language (ids, names, hrefs, data; never a button's English label). Uses the
system Chromium (/usr/bin/chromium or $CHROMIUM); never downloads a browser.
"""

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
#: name → function taking the page, in the order they run (the order of the
#: functions in this file). A new group: a function decorated @group("name").
ALL_GROUPS = {}


def group(name):
    def register(function):
        ALL_GROUPS[name] = function
        return function

    return register


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("base", nargs="?", default="http://127.0.0.1:8000")
parser.add_argument("groups", nargs="*", metavar="group")
parser.add_argument("--lang", choices=["en", "zh-hans"], default="en")
_args = parser.parse_args()
BASE = _args.base
GROUPS = set(_args.groups)  # empty: every group
LANG = _args.lang
#: Where shot() writes; in Chinese a scratch folder, renamed into DOCS with
#: the "zh-" prefix at the end (so a group never needs to know the language).
OUT = DOCS if LANG == "en" else Path(tempfile.mkdtemp(prefix="screenshots-zh-"))
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
    # The cookie the header's language switch sets.
    page.context.add_cookies([{"name": "django_language", "value": LANG, "url": BASE}])
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


def part(page, selector, name):
    """One panel of the page as it is now."""
    page.wait_for_load_state("networkidle")
    page.locator(selector).screenshot(path=str(OUT / name))
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
    page.click("#content .object-tools a[href$='/confirm/']")
    shot(page, "contract-confirm.png")
    page.click("input[type=submit]")
    partner = account_id(page, "1000000000000005")
    page.goto(f"{BASE}/admin/accounts/account/{partner}/change/")
    page.wait_for_load_state("networkidle")
    page.locator("#disabled").screenshot(path=str(OUT / "disabled-panel.png"))
    print("wrote", OUT / "disabled-panel.png")
    page.click("#disabled a[href$='/request-access/']")
    page.click("input[type=submit]")
    login(page, "cbm")
    page.goto(f"{BASE}/admin/accounts/accessrequest/")
    page.locator("#result_list tbody a").first.click()
    page.click("#content .object-tools a[href$='/grant/']")
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
    page.click("#content .object-tools a[href$='/revoke/']")
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


@group("pools")
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
    part(page, "#pool-utilisation", "pools-utilisation.png")
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


@group("accounts")
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


#: The demo's savings plan of 10.00 CNY an hour, in either language.
TEN_AN_HOUR = re.compile(r"(?<![\d.])10\.00 CNY")


@group("sharing")
def sharing_screens(page):
    """Equity asset sharing (issue 10): the demo's savings plan with its
    recipients timeline, the share form and its review (not confirmed), a
    late bill that the plan did not deduct, the deduction log, the chargeback,
    an automatic rule and the benefits panel of an account page."""
    login(page, "alice")
    page.goto(f"{BASE}/admin/sharing/asset/")
    shot(page, "sharing-assets.png")
    page.goto(f"{BASE}/admin/sharing/asset/?type__exact=savings_plan")
    page.locator("#result_list tbody tr", has_text=TEN_AN_HOUR).locator(
        "a"
    ).first.click()
    shot(page, "sharing-asset.png")
    part(page, "#asset-history", "sharing-asset-charts.png")
    page.click("#shares a[href$='/share/']")
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
    page.locator("#result_list tbody tr", has_text=TEN_AN_HOUR).locator(
        "a"
    ).first.click()
    page.goto(page.url.replace("/change/", "/share/"))
    shot(page, "sharing-share-refused.png")


@group("more")
def more(page):
    """Change history, the API token page, a page outside one's access, every
    transfer pair of an account, the invite page for someone who cannot
    invite, and (in English only: Swagger UI has no Chinese) the API docs."""
    login(page, "alice")
    main_id = account_id(page, "1000000000000001")
    page.goto(f"{BASE}/admin/accounts/account/{main_id}/history/")
    shot(page, "history.png")
    page.goto(f"{BASE}/admin/accounts/account/{main_id}/pairs/out/")
    shot(page, "transfer-pairs.png")
    page.goto(f"{BASE}/admin/api-token/")
    shot(page, "api-token.png")
    page.goto(f"{BASE}/admin/auth/user/")
    shot(page, "forbidden.png")
    login(page, "carol")
    page.goto(f"{BASE}/admin/accounts/financialrelationship/invite/")
    shot(page, "invite-not-allowed.png")
    if LANG == "en":
        page.goto(f"{BASE}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock")
        shot(page, "api-docs.png")


@group("home")
def home(page):
    """The home page per role (issue 12): what waits for each, the balances per
    currency and their last 30 days. Last: it gives the demo something to wait
    for (bob, a manager, sets a first credit limit whose contract waits for an
    owner; alice invites Acme Global (USD) as a member and, unless the accounts
    group already did, asks the CBM for access on the partner-managed account).
    Nothing is confirmed."""
    login(page, "bob")
    dev = account_id(page, "1000000000000002")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/credit-limit/")
    if page.locator("#id_amount").count():  # not pending yet
        page.fill("#id_amount", "800.00")
        page.click("input[type=submit]")
        page.click("input[type=submit]")  # confirm the pending limit
    login(page, "alice")
    page.goto(f"{BASE}/admin/accounts/financialrelationship/invite/")
    page.select_option("#id_management_account", label="Acme Main (1000000000000001)")
    page.select_option(
        "#id_member_account", label="Acme Global (USD) (1000000000000004)"
    )
    page.select_option("#id_type", "financial_management")
    page.click("input[type=submit]")
    partner = account_id(page, "1000000000000005")
    page.goto(f"{BASE}/admin/accounts/account/{partner}/change/")
    request = page.locator("#disabled a[href$='/request-access/']")
    if request.count():
        request.first.click()
        page.click("input[type=submit]")
    page.goto(f"{BASE}/admin/")
    shot(page, "home-admin.png")
    login(page, "operator")
    page.goto(f"{BASE}/admin/")
    shot(page, "home-operator.png")
    login(page, "cbm")
    page.goto(f"{BASE}/admin/")
    shot(page, "home-cbm.png")


def top(page, name):
    """The top of a page as a reader first sees it (1440 x 900)."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / name))
    print("wrote", OUT / name)


@group("actions")
def action_screens(page):
    """Buttons offered only when they can succeed (issue 12): greyed with the
    services' sentence, read-only notes, the portal's 404 page (with DEBUG off:
    ``make screenshots`` starts the portal so). It changes the demo data (it
    issues what is left of a pool): after the other groups."""
    login(page, "alice")
    data = account_id(page, "1000000000000003")
    page.goto(f"{BASE}/admin/accounts/account/{data}/change/")
    top(page, "transfer-disabled.png")
    # bob (manage) sets Acme Dev's first limit: pending until an owner confirms.
    login(page, "bob")
    dev = account_id(page, "1000000000000002")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/credit-limit/")
    if page.locator("#id_amount").count():  # not pending yet
        page.fill("#id_amount", "800.00")
        page.click("input[type=submit]")
        page.click("input[type=submit]")
    page.goto(f"{BASE}/admin/accounts/account/{dev}/change/")
    part(page, "#credit", "credit-limit-disabled.png")
    page.goto(f"{BASE}/admin/accounts/contract/")
    top(page, "contracts-manage-user.png")
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
    # The fourth row of the amounts: remaining (can still be issued).
    amount = page.locator("#amounts tr").nth(3).locator("td.num").inner_text()
    if amount.strip() != "0.00":
        page.goto(pool_url.replace("/change/", "/issue/"))
        page.locator("input[name=accounts]").first.check()
        page.fill("#id_count", "1")
        page.fill("#id_face_value", amount.strip())
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


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    unknown = GROUPS - set(ALL_GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; groups: {list(ALL_GROUPS)}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # A laptop screen (the layout is tested at 1366-1440 px).
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        for name, take in ALL_GROUPS.items():
            if not GROUPS or name in GROUPS:
                take(page)
        browser.close()
    if OUT != DOCS:
        for picture in sorted(OUT.glob("*.png")):
            shutil.move(picture, DOCS / f"zh-{picture.name}")
            print("moved to", DOCS / f"zh-{picture.name}")
        shutil.rmtree(OUT)


if __name__ == "__main__":
    main()
