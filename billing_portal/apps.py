from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingPortalConfig(AppConfig):
    name = "billing_portal"
    verbose_name = _("Billing portal")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from billing_portal.views import remember_time_zone

        user_logged_in.connect(remember_time_zone, dispatch_uid="portal_time_zone")
