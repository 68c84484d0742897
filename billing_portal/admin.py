from django.contrib import admin

from .admin_base import ReadOnlyAdmin
from .models import AuditEvent

admin.site.site_header = "Billing portal — account sharing"
admin.site.site_title = "Billing portal"
admin.site.index_title = "Unified account management"
admin.site.site_url = None  # the portal is the admin; no separate "site" to view


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action"]
    list_select_related = ["actor"]
