"""The portal's admin site: navigation by task and a home page per role.

It is Django's default site (``admin.site``, through ``PortalAdminConfig``), so
every ``@admin.register`` and every ``admin:…`` URL name stays as it was; it
changes three things:

- ``get_app_list`` without an app (the sidebar, the home page) groups the pages
  by task, from the table in ``billing_portal.navigation``; with an app (the
  per-app pages such as /admin/accounts/) it answers as Django does.
- ``section/<slug>/`` lists one section's pages (``admin:section``).
- The index is a home page: what waits for this user (``Attention`` items that
  each app contributes through ``settings.ADMIN_HOME_ATTENTION``), then the
  panels of ``settings.ADMIN_HOME_PANELS`` (the balances), then every section.
  This module imports none of the apps: they build on it, not the reverse.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from . import navigation
from .admin_base import render_panels

#: The home page's groups of attention items, in page order: (title, what it
#: says when nothing waits). Each app files its items under one of them.
OPERATIONS = "operations"
BUSINESS = "business"
CUSTOMER = "customer"
GROUPS = {
    OPERATIONS: (
        _("Provider operations"),
        _("Nothing is waiting for the billing operators."),
    ),
    BUSINESS: (
        _("Your customers"),
        _("Nothing is waiting for you as business manager."),
    ),
    CUSTOMER: (
        _("What needs your attention"),
        _("Nothing needs your attention right now."),
    ),
}


@dataclass(frozen=True)
class Attention:
    """One line of the home page: how many things wait in one state for this
    user, and the list where they are handled, filtered to exactly those."""

    group: str
    label: str
    count: int
    url: str
    note: str = ""


def url_with(name: str, **query) -> str:
    """An admin URL with its list filter (``url_with("admin:…", status__exact=…)``)."""
    return reverse(name) + ("?" + urlencode(query) if query else "")


def group_models(app_list, *, site_name: str = "admin") -> list[dict]:
    """Django's app list (per app) regrouped into the sections of
    ``navigation.SECTIONS``; models missing from the table go to "Other".
    Sections without a model this user may open are left out."""
    entries = {
        navigation.model_key(entry["model"]): entry
        for app in app_list
        for entry in app["models"]
    }
    placed: set[str] = set()
    sections = []
    for slug, title, keys in navigation.SECTIONS:
        placed.update(keys)
        sections.append((slug, title, [entries[k] for k in keys if k in entries]))
    rest = [entry for key, entry in entries.items() if key not in placed]
    sections.append((*navigation.OTHER, sorted(rest, key=lambda e: str(e["name"]))))
    return [
        {
            "name": title,
            "app_label": slug,
            "app_url": reverse(
                "admin:section", kwargs={"section": slug}, current_app=site_name
            ),
            "has_module_perms": True,
            "models": models,
        }
        for slug, title, models in sections
        if models
    ]


def home_attention(user) -> list[dict]:
    """The home page's groups for this user: each group some app filed items
    under, with the items that count something (the others are left out), or
    the group's empty sentence. Someone no app has items for sees the
    customer group's empty state."""
    items: list[Attention] = []
    for dotted_path in settings.ADMIN_HOME_ATTENTION:
        items += import_string(dotted_path)(user)
    present = {item.group for item in items} or {CUSTOMER}
    return [
        {
            "key": key,
            "title": title,
            "empty": empty,
            "items": [i for i in items if i.group == key and i.count],
        }
        for key, (title, empty) in GROUPS.items()
        if key in present
    ]


def home_panels(request) -> list[dict]:
    """The panels of ``settings.ADMIN_HOME_PANELS``: callables ``(request)``."""
    return render_panels(settings.ADMIN_HOME_PANELS, request, request)


class PortalAdminSite(admin.AdminSite):
    index_template = "admin/portal/home.html"

    def get_app_list(self, request, app_label=None):
        if app_label is not None:
            # The per-app pages (/admin/accounts/) list their app as Django does.
            return super().get_app_list(request, app_label)
        return group_models(super().get_app_list(request), site_name=self.name)

    def get_urls(self):
        return [
            path(
                "section/<slug:section>/",
                self.admin_view(self.section_view),
                name="section",
            ),
            *super().get_urls(),
        ]

    def section_view(self, request, section):
        """One section's pages (the sidebar's section titles link here)."""
        context = self.each_context(request)
        app_list = [s for s in context["available_apps"] if s["app_label"] == section]
        if not app_list:
            raise Http404("The requested admin page does not exist.")
        request.current_app = self.name
        return TemplateResponse(
            request,
            "admin/app_index.html",
            {
                **context,
                "title": app_list[0]["name"],
                "subtitle": None,
                "app_list": app_list,
                "app_label": section,
            },
        )

    def index(self, request, extra_context=None):
        context = {
            "attention": home_attention(request.user),
            "home_panels": home_panels(request),
            **(extra_context or {}),
        }
        return super().index(request, context)
