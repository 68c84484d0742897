"""Issue 11's flow in a real browser, in English and in Chinese: the CBM
requests a coupon credit pool, an operator approves it in Contracts, and the
management account's administrator issues coupons to two members from the
Contracts view; the pool's page shows its numbers after each step."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.ledger import find_discrepancies
from coupons.models import Coupon, CreditPool
from tests.e2e.browser import LANGUAGES, check_page, log_in, say, switch_user

pytestmark = pytest.mark.django_db(transaction=True)


def pool_amounts(page):
    """The pool page's Amounts panel: total, issued, revoked back, remaining."""
    return page.locator("#amounts td.num").all_inner_texts()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_cbm_requests_operator_approves_administrator_issues(
    live_server, page, company, operator, owner, request, lang
):
    # The pools' fixtures (tests/coupon_fixtures.py).
    request.getfixturevalue("company_cbm")
    _manager, m1, m2 = request.getfixturevalue("enterprise")
    base = live_server.url

    log_in(page, base, "cbm-acme", lang)
    page.goto(f"{base}/admin/accounts/contract/")
    check_page(page, lang)
    ask = say(lang, "Request a coupon credit pool", "申请代金券额度池")
    page.locator("#pool-section").get_by_role("link", name=ask).click()
    expect(page.locator("h1")).to_have_text(ask)
    check_page(page, lang)
    expect(page.locator("#id_company")).to_contain_text(
        say(lang, "management account Manager", "管理账号 Manager")
    )
    page.fill("#id_amount", "2000.00")
    page.get_by_role("button", name=say(lang, "Review the request", "核对申请")).click()
    expect(page.locator("#request-summary")).to_contain_text("2000.00 CNY")
    check_page(page, lang)
    page.get_by_role(
        "button", name=say(lang, "Yes, send the request", "是，提交申请")
    ).click()
    pool = CreditPool.objects.get()
    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            f"Pool #{pool.pk} requested for Acme: 2000.00 CNY, waiting for an "
            "operator's approval.",
            f"已为 Acme 申请额度池 #{pool.pk}：2000.00 CNY，等待运营人员审批。",
        )
    )
    check_page(page, lang)
    assert pool_amounts(page) == ["2000.00", "0.00", "0.00", "0.00"]
    assert pool.status == "requested"

    switch_user(page, base, "op", lang)
    page.goto(f"{base}/admin/accounts/contract/")
    check_page(page, lang)
    waiting = page.locator("#pools-waiting")
    expect(waiting).to_contain_text("2000.00 CNY")
    waiting.get_by_role("link", name=say(lang, "Approve", "批准")).click()
    expect(page.locator("#content-main")).to_contain_text(
        say(lang, "Approve this pool?", "批准该额度池？")  # noqa: RUF001
    )
    check_page(page, lang)
    page.get_by_role(
        "button", name=say(lang, "Yes, approve the pool", "是，批准额度池")
    ).click()
    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            f"Pool #{pool.pk} approved: 2000.00 CNY can now be issued",
            f"额度池 #{pool.pk} 已批准：",
        )
    )
    check_page(page, lang)
    assert pool_amounts(page) == ["2000.00", "0.00", "0.00", "2000.00"]

    switch_user(page, base, "owner", lang)
    page.goto(f"{base}/admin/accounts/contract/")
    check_page(page, lang)
    granted = page.locator("#pools-granted")
    expect(granted).to_contain_text("2000.00")
    issue = say(lang, "Issue coupons", "发放代金券")
    granted.get_by_role("link", name=issue).click()
    expect(page.locator("h1")).to_have_text(issue)
    check_page(page, lang)
    expect(page.locator("#pool-remaining .portal-big")).to_have_text("2000.00 CNY")
    expect(page.locator("#scope-note")).to_have_text(
        say(
            lang,
            "Set by your business manager; request another pool for another scope.",
            "由您的客户经理设定；如需其他范围，请申请新的额度池。",
        )
    )
    page.get_by_label(f"Member 1 ({m1.uid})").check()
    page.get_by_label(f"Member 2 ({m2.uid})").check()
    page.fill("#id_count", "2")
    page.fill("#id_face_value", "150.00")
    page.get_by_role(
        "button", name=say(lang, "Review the coupons", "核对代金券")
    ).click()
    expect(page.locator("#issue-summary")).to_contain_text("1700.00 CNY")
    check_page(page, lang)
    page.get_by_role(
        "button", name=say(lang, "Yes, issue the coupons", "是，发放代金券")
    ).click()
    expect(page.locator(".messagelist")).to_contain_text(
        say(
            lang,
            "Issued 2 coupons of 150.00 CNY each",
            "发放 2 张面值 150.00 CNY 的代金券（合计 300.00 CNY）",
        )
    )
    check_page(page, lang)
    expect(page.locator("#coupons h2")).to_have_text(
        say(lang, "2 coupons issued from this pool", "已从该额度池发放 2 张代金券")
    )
    assert pool_amounts(page) == ["2000.00", "300.00", "0.00", "1700.00"]
    expect(page.locator("#pool-sum")).to_contain_text(
        "2000.00 = 1700.00 + 300.00 − 0.00"  # noqa: RUF001
    )

    pool.refresh_from_db()
    assert (pool.remaining, pool.issued_amount) == (
        Decimal("1700.00"),
        Decimal("300.00"),
    )
    assert Coupon.objects.count() == 2
    for coupon in Coupon.objects.all():
        assert set(coupon.accounts.all()) == {m1, m2}
    assert find_discrepancies() == []
