"""The portal on a laptop screen (1366 x 768 and 1440 x 900, the navigation
sidebar open), in English and in Chinese: the accounts overview, an account's
page, the ledger and the Contracts view never scroll sideways, keep the
overview's Available and Transferable columns on screen, keep the title clear
of the action buttons and every table inside its panel, and wrap long names.

The rules measured here live in billing_portal/static/billing_portal/layout.css
(and accounts/static/accounts/portal.css for the panels).
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts import services
from accounts.models import Account
from tests.e2e.browser import LANGUAGES, log_in

pytestmark = pytest.mark.django_db(transaction=True)

#: A long account name, as companies name their accounts after departments.
LONG_NAME = "Acme Research and Development Centre for the East China Region"

SCREENS = [(1366, 768), (1440, 900)]

#: Everything the checks need, measured in the page (CSS pixels).
_MEASURE = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            width: r.width, height: r.height};
  };
  const doc = document.documentElement;
  const title = document.querySelector('#content > h1');
  const subtitle = document.querySelector('#content > h2');
  const tools = [...document.querySelectorAll('#content .object-tools li')].map(box);
  const tables = [...document.querySelectorAll('#content table')]
    .filter((t) => t.getBoundingClientRect().width > 0)
    .map((t) => {
      const panel = t.closest(
        '.portal-panel, .module, .results, fieldset, #content-main');
      const name = t.id || t.className
        || (panel && (panel.id || panel.className)) || 'table';
      return {name, table: box(t), panel: panel && box(panel)};
    });
  return {scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth,
          title: title && box(title), subtitle: subtitle && box(subtitle),
          tools, tables};
}"""


def intersects(a, b):
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def check_layout(page, what):
    m = page.evaluate(_MEASURE)
    assert m["scrollWidth"] <= m["innerWidth"], (
        f"{what}: the page scrolls sideways ({m['scrollWidth']} > {m['innerWidth']})"
    )
    assert m["title"] is not None, f"{what}: no title"
    for heading in ("title", "subtitle"):
        if m[heading] is None:
            continue
        for tool in m["tools"]:
            assert not intersects(m[heading], tool), (
                f"{what}: the {heading} lies under an action button"
            )
    assert m["tables"], f"{what}: no table measured"
    for t in m["tables"]:
        assert t["panel"] is not None, f"{what}: table {t['name']} outside any panel"
        assert t["table"]["right"] <= t["panel"]["right"] + 1, (
            f"{what}: table {t['name']} overflows its panel "
            f"({t['table']['right']:.0f} > {t['panel']['right']:.0f})"
        )
        assert t["table"]["left"] >= t["panel"]["left"] - 1
    return m


def lines_of(locator):
    """How many lines a piece of text takes on screen."""
    return locator.evaluate(
        """(el) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          const tops = [...range.getClientRects()].map((r) => Math.round(r.top));
          return new Set(tops).size;
        }"""
    )


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_main_screens_fit_a_laptop_screen(
    live_server, page, portal, request, lang, width, height
):
    # Test setup, not a money write: a long name for an account with money,
    # transfers and ledger lines; a pending contract and a coupon credit pool
    # so that the Contracts view shows every one of its tables.
    Account.objects.filter(pk=portal.a_dev.pk).update(name=LONG_NAME)
    services.set_credit_quota(
        company=portal.company,
        currency="CNY",
        amount=Decimal("5000.00"),
        actor=portal.operator,
    )
    services.set_credit_limit(
        account=portal.a_dev, amount=Decimal("100.00"), actor=portal.owner
    )
    request.getfixturevalue("make_pool")()
    page.set_viewport_size({"width": width, "height": height})
    base = live_server.url
    log_in(page, base, "owner", lang)
    viewport = f"{width}px, {lang}"

    # The accounts overview: every column on screen, long names wrapped.
    page.goto(f"{base}/admin/accounts/account/")
    expect(page.locator("#result_list")).to_be_visible()
    m = check_layout(page, f"accounts overview ({viewport})")
    results = page.locator("#changelist .results").bounding_box()
    for column in ("available", "transferable"):
        header = page.locator(f"#result_list thead th.column-{column}")
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box["x"] + box["width"] <= min(
            m["innerWidth"], results["x"] + results["width"] + 1
        ), f"the {column} column is off screen ({viewport})"
        assert box["x"] >= results["x"]
    name = page.locator(
        "#result_list td.field-name, #result_list th.field-name"
    ).filter(has_text=LONG_NAME)
    expect(name).to_have_count(1)
    assert lines_of(name) >= 2, f"the long name does not wrap ({viewport})"

    # The account's page: its long name as the subtitle, panels, tables.
    page.locator("#result_list").get_by_role("link", name=LONG_NAME).click()
    expect(page.locator("#balances")).to_be_visible()
    check_layout(page, f"account page ({viewport})")
    subtitle = page.locator("#content > h2")
    expect(subtitle).to_contain_text(LONG_NAME)

    # An account with transfers both ways: the revocation tables.
    page.goto(f"{base}/admin/accounts/account/{portal.a_main.pk}/change/")
    expect(page.locator("#outgoing tbody tr")).to_have_count(2)
    check_layout(page, f"account page with transfers ({viewport})")

    # The ledger of the long-named account, with its filters.
    page.goto(f"{base}/admin/accounts/posting/?account={portal.a_dev.pk}")
    expect(page.locator("#result_list tbody tr").first).to_be_visible()
    check_layout(page, f"ledger ({viewport})")

    # Contracts: the pending contract and the pool section.
    page.goto(f"{base}/admin/accounts/contract/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#pools-granted")).to_be_visible()
    check_layout(page, f"contracts ({viewport})")
