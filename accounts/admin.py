"""Admin for accounts: read-only views for operators (writes go through services).

The tenant-scoped customer portal with transfer/revoke confirmation pages is
built on top of this (issue 3).
"""

from django.contrib import admin

from billing_portal.admin_base import ReadOnlyAdmin

from .models import (
    Account,
    AccountAccess,
    Charge,
    Company,
    Movement,
    OverdueEpisode,
    Posting,
    TransferPair,
)


@admin.register(Company)
class CompanyAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "registration_number",
        "verification_status",
        "verified_at",
        "business_manager",
    ]
    list_filter = ["verification_status"]
    search_fields = ["name", "registration_number"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = [
        "uid",
        "name",
        "company",
        "currency",
        "status",
        "cash_balance",
        "transferred_in_balance",
        "uncleared_amount",
        "available_balance",
    ]
    list_filter = ["currency", "status"]
    list_select_related = ["company"]
    search_fields = ["uid", "name"]


@admin.register(AccountAccess)
class AccountAccessAdmin(ReadOnlyAdmin):
    list_display = ["user", "account", "permission", "granted_at"]
    list_select_related = ["user", "account"]


@admin.register(TransferPair)
class TransferPairAdmin(ReadOnlyAdmin):
    list_display = ["source", "destination", "remaining_revocable", "currency"]
    list_select_related = ["source", "destination"]


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["holder_type", "holder_id", "book", "amount", "balance_after", "currency"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "account",
        "counterparty",
        "amount",
        "currency",
        "effective_at",
        "posted_at",
        "actor",
    ]
    list_filter = ["kind", "currency"]
    list_select_related = ["account", "counterparty", "actor"]
    date_hierarchy = "posted_at"
    inlines = [PostingInline]


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "usage_account",
        "payer_account",
        "amount",
        "outstanding",
        "effective_at",
    ]
    list_select_related = ["usage_account", "payer_account"]


@admin.register(OverdueEpisode)
class OverdueEpisodeAdmin(ReadOnlyAdmin):
    list_display = ["account", "start", "end"]
    list_select_related = ["account"]
