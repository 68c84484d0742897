"""Admin base classes shared by the apps."""

from django.contrib import admin

from accounts import roles


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to operators, never editable here: ledger, deductions, audit.

    Corrections are new ledger movements made by services, never edits.
    """

    show_full_result_count = False

    def has_module_permission(self, request):
        return roles.is_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return roles.is_operator(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
