"""Django's admin with the portal's site as ``admin.site`` (in INSTALLED_APPS
instead of ``django.contrib.admin``), Django's documented way to replace the
default site: every ``admin.register`` and ``admin:…`` URL name is unchanged.

Its own module: ``billing_portal/apps.py`` must hold one AppConfig only."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "billing_portal.admin_site.PortalAdminSite"
