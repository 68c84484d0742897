"""Companies and account access. Operators verify companies and grant access."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing_portal.admin_base import ScopedAdmin

from .. import roles, selectors, services
from ..forms import AccessForm
from ..models import AccountAccess, Company


@admin.register(Company)
class CompanyAdmin(ScopedAdmin):
    list_display = [
        "name",
        "registration_number",
        "verification_status",
        "verified_at",
        "verified_by",
        "business_manager",
    ]
    list_filter = ["verification_status"]
    list_select_related = ["verified_by", "business_manager"]
    search_fields = ["name", "registration_number"]
    ordering = ["name", "id"]
    fields = [
        "name",
        "registration_number",
        "verification_status",
        "verified_at",
        "verified_by",
        "business_manager",
    ]
    readonly_fields = [
        "verification_status",
        "verified_at",
        "verified_by",
        "business_manager",
    ]
    actions = ["verify_selected"]

    def scope(self, user):
        return selectors.list_visible_companies(user)

    def has_add_permission(self, request):
        return roles.is_operator(request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.is_operator(request.user):
            actions.pop("verify_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        created = services.create_company(
            name=form.cleaned_data["name"],
            registration_number=form.cleaned_data["registration_number"],
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False

    @admin.action(description=_("Verify the identity of the selected companies"))
    def verify_selected(self, request, queryset):
        pending = queryset.filter(verification_status=Company.Verification.UNVERIFIED)
        if request.POST.get("post") == "yes":
            count = 0
            for company in pending:
                services.verify_company(company=company, actor=request.user)
                self.log_change(request, company, "Verified identity.")
                count += 1
            self.message_user(
                request,
                ngettext("Verified %d company.", "Verified %d companies.", count)
                % count,
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/accounts/company/verify_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Verify company identity"),
                "opts": self.opts,
                "queryset": queryset,
                "pending": pending,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(AccountAccess)
class AccountAccessAdmin(ScopedAdmin):
    form = AccessForm
    list_display = ["user", "account", "permission", "granted_at", "granted_by"]
    list_filter = ["permission"]
    list_select_related = ["user", "account", "granted_by"]
    search_fields = ["user__username", "account__uid", "account__name"]
    autocomplete_fields = ["account"]
    customer_visible = False

    def scope(self, user):
        return AccountAccess.objects.all()

    def has_add_permission(self, request):
        return roles.is_operator(request.user)

    def save_model(self, request, obj, form, change):
        access = services.grant_access(
            account=form.cleaned_data["account"],
            user=form.cleaned_data["user"],
            permission=form.cleaned_data["permission"],
            actor=request.user,
        )
        obj.pk = access.pk
        obj._state.adding = False
