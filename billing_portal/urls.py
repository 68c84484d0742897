from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from billing_portal.api import NotFoundApi
from billing_portal.api_root import ApiRootApi
from billing_portal.views import api_token_view, preferences_view, switch_language

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path(
        "admin/api-token/",
        admin.site.admin_view(api_token_view),
        name="admin-api-token",
    ),
    path(
        "admin/preferences/",
        admin.site.admin_view(preferences_view),
        name="admin-preferences",
    ),
    path("admin/", admin.site.urls),
    # The language switch in the portal's header: Django's set_language (at its
    # usual address and name), the choice also kept with the person's preferences.
    path("i18n/setlang/", switch_language, name="set_language"),
    path("api/v1/", ApiRootApi.as_view(), name="api-root"),
    path("api/v1/", include("billing_portal.api_urls")),
    # Last under api/v1/: unknown paths answer 401 before 404 (SPEC §8).
    re_path(r"^api/v1/", NotFoundApi.as_view()),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Interactive docs; their scripts come from drf-spectacular-sidecar (no CDN).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="api-docs",
    ),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

# A refusal is a page of the portal, with why and a way back (not a bare
# "403 Forbidden").
handler403 = "billing_portal.views.permission_denied_view"
# An address that leads nowhere: the same frame, what happened, a way back.
handler404 = "billing_portal.views.page_not_found_view"
