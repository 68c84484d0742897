"""Navigation by task (issue 12): the sidebar and the home page group the
admin's pages into the sections of ``billing_portal.navigation``, in both
languages; the per-app pages (/admin/accounts/) still work."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import Posting
from billing_portal import navigation
from billing_portal.admin_site import group_models
from tests.accounts.conftest_admin import parse, portal_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

SECTION_NAMES = {
    "en": [
        "Expenses and Costs",
        "Enterprise",
        "Equity sharing",
        "Coupon credit pools",
        "Administration",
    ],
    "zh-hans": ["费用与成本", "企业管理", "权益共享", "代金券额度池", "系统管理"],
}


def sidebar(response) -> dict[str, list[str]]:
    """The sidebar's sections, in order, each with its pages' names."""
    nav = parse(response).find("nav", id="nav-sidebar")
    return {table.find("caption").text: pages(table) for table in nav.find_all("table")}


def pages(node) -> list[str]:
    return [th.text for th in node.find_all("th", scope="row")]


def test_every_registered_model_is_in_one_section_of_the_table():
    """A model registered in the admin but missing from the table would only
    show under "Other": this fails first, naming it."""
    keys = [key for _slug, _title, models in navigation.SECTIONS for key in models]
    assert len(keys) == len(set(keys)), "a model is in two sections"
    registered = {navigation.model_key(model) for model in admin.site._registry}
    assert sorted(registered - set(keys)) == []
    # And the table names no model that is not registered (a stale entry).
    assert sorted(set(keys) - registered) == []


def test_a_model_missing_from_the_table_is_shown_under_other(monkeypatch):
    lines = {"model": Posting, "name": "Ledger lines"}
    monkeypatch.setattr(navigation, "SECTIONS", [])
    sections = group_models([{"models": [lines]}])
    assert [(s["app_label"], s["models"]) for s in sections] == [("other", [lines])]


def test_the_sidebar_groups_a_customers_pages_by_task(client, portal):
    client.force_login(portal.owner)
    page = client.get(reverse("admin:accounts_account_changelist"))
    sections = sidebar(page)
    assert list(sections) == SECTION_NAMES["en"]
    assert sections["Expenses and Costs"] == [
        "Accounts",
        "Ledger lines",
        "Movements",
        "Contracts",
    ]
    assert sections["Enterprise"] == [
        "Companies",
        "Financial relationships",
        "Resource directory",
        "Access requests",
        "Access exceptions",
    ]
    assert sections["Equity sharing"] == [
        "Assets",
        "Shares",
        "Automatic sharing rules",
        "Usage records",
        "Deduction log",
    ]
    assert sections["Coupon credit pools"] == ["Coupon credit pools", "Coupons"]
    # A customer opens only its notifications of the administration's pages.
    assert sections["Administration"] == ["Notifications"]


def test_the_operators_and_a_superusers_administration(client, portal):
    client.force_login(portal.operator)
    sections = sidebar(client.get(reverse("admin:index") + "accounts/account/"))
    assert sections["Expenses and Costs"] == [
        "Accounts",
        "Ledger lines",
        "Movements",
        "Charges",
        "Contracts",
        "Transfer pairs",
        "Overdue episodes",
    ]
    assert sections["Administration"] == ["Notifications", "Audit events"]
    superuser = get_user_model().objects.create_superuser("root", "", "pw-123456789")
    client.force_login(superuser)
    sections = sidebar(client.get(reverse("admin:accounts_account_changelist")))
    assert list(sections) == SECTION_NAMES["en"]
    assert sections["Administration"] == [
        "Notifications",
        "Audit events",
        "Users",
        "Groups",
        "Tokens",
        "Task Results",
        "Access attempts",
        "Access failures",
        "Access logs",
    ]


def test_a_section_page_lists_its_pages_and_others_answer_404(client, portal):
    client.force_login(portal.owner)
    page = client.get(reverse("admin:section", kwargs={"section": "enterprise"}))
    assert page.status_code == 200
    root = parse(page)
    assert root.find("h1").text == "Enterprise"
    assert pages(root.find("div", id="content-main")) == [
        "Companies",
        "Financial relationships",
        "Resource directory",
        "Access requests",
        "Access exceptions",
    ]
    for missing in ("other", "nothing-here"):
        url = reverse("admin:section", kwargs={"section": missing})
        assert client.get(url).status_code == 404


def test_the_per_app_pages_still_list_their_app(client, portal):
    client.force_login(portal.owner)
    page = client.get(reverse("admin:app_list", kwargs={"app_label": "accounts"}))
    assert page.status_code == 200
    main = parse(page).find("div", id="content-main")
    assert main.find("caption").text == "Unified account management"
    assert pages(main) == [
        "Access exceptions",
        "Access requests",
        "Accounts",
        "Companies",
        "Contracts",
        "Financial relationships",
        "Ledger lines",
        "Movements",
        "Resource directory",
    ]
    coupons = client.get(reverse("admin:app_list", kwargs={"app_label": "coupons"}))
    assert coupons.status_code == 200


def test_the_sections_in_chinese(client, portal):
    client.cookies["django_language"] = "zh-hans"
    client.force_login(portal.owner)
    page = client.get(reverse("admin:accounts_account_changelist"))
    assert list(sidebar(page)) == SECTION_NAMES["zh-hans"]
    html = page.content.decode()
    for english in SECTION_NAMES["en"]:
        assert english not in html


def breadcrumbs(response) -> list[tuple[str, str | None]]:
    crumbs = parse(response).find("div", class_="breadcrumbs")
    return [(a.text, a.attrs.get("href")) for a in crumbs.find_all("a")]


@pytest.mark.parametrize(
    ("page", "section", "slug"),
    [
        (lambda p: reverse("admin:accounts_account_changelist"), 0, "expenses"),
        (
            lambda p: reverse("admin:accounts_account_change", args=[p.a_main.pk]),
            0,
            "expenses",
        ),
        (lambda p: reverse("admin:accounts_contract_changelist"), 0, "expenses"),
        (lambda p: reverse("admin:accounts_folder_changelist"), 1, "enterprise"),
        (
            lambda p: reverse("admin:accounts_account_history", args=[p.a_main.pk]),
            0,
            "expenses",
        ),
        (lambda p: reverse("admin:sharing_asset_changelist"), 2, "equity-sharing"),
        (lambda p: reverse("admin:coupons_creditpool_changelist"), 3, "credit-pools"),
    ],
)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_breadcrumbs_name_the_task_section_as_the_menu_does(
    client, portal, page, section, slug, language
):
    """Not the app that defines the model ("Unified account management" for
    the directory): the section of the menu, linked to its page."""
    client.force_login(portal.owner)
    client.cookies["django_language"] = language
    response = client.get(page(portal))
    assert response.status_code == 200
    crumbs = breadcrumbs(response)
    assert crumbs[1] == (
        SECTION_NAMES[language][section],
        reverse("admin:section", kwargs={"section": slug}),
    )


@pytest.mark.parametrize(
    ("language", "title", "heading"),
    [("en", "Ledger lines", "By book"), ("zh-hans", "账本明细", "按账本")],
)
def test_a_list_is_titled_by_what_it_lists(client, portal, language, title, heading):
    """Not Django's "Select ledger line to view" (选择账本明细查看), and the
    filter headings read naturally in Chinese (按账本, not 以 账本)."""
    client.force_login(portal.owner)
    client.cookies["django_language"] = language
    page = parse(client.get(reverse("admin:accounts_posting_changelist")))
    assert page.find("h1").text == title
    assert heading in [s.text for s in page.find_all("summary")]
