from django.contrib import admin

from billing_portal.admin_base import ReadOnlyAdmin

from .models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
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
