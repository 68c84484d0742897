from django.contrib import admin

from accounts import selectors
from billing_portal.admin_base import ScopedAdmin

from .models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(ScopedAdmin):
    list_display = [
        "external_id",
        "account",
        "product",
        "bill_type",
        "usage_start",
        "amount",
        "charged_amount",
        "payer",
    ]
    list_filter = ["bill_type"]
    list_select_related = ["account", "payer"]
    search_fields = ["external_id"]
    ordering = ["-usage_start", "-id"]

    def scope(self, user):
        visible = selectors.list_visible_accounts(user).values("pk")
        return UsageRecord.objects.filter(account__in=visible)
