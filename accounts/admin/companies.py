"""Companies and account access. Operators verify companies and grant access."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing_portal import roles
from billing_portal.admin_base import (
    ScopedAdmin,
    confirmation_token,
    new_confirmation_token,
)
from billing_portal.errors import DomainError

from .. import selectors, services
from ..forms import AccessForm
from ..models import Account, AccountAccess, Company
from ..selectors import get_company_allocation, management_account_refusals
from ..services import set_credit_quota, set_management_account
from .credit import QuotaForm


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = [
            "name",
            "registration_number",
            "business_manager",
            "management_account",
        ]

    def clean_management_account(self):
        account = self.cleaned_data.get("management_account")
        if account is not None and self.instance.pk:
            reasons = management_account_refusals(self.instance, account)
            if reasons:
                raise forms.ValidationError([r.message for r in reasons])
        return account


@admin.register(Company)
class CompanyAdmin(ScopedAdmin):
    form = CompanyForm
    list_display = [
        "name",
        "registration_number",
        "verification_status",
        "verified_at",
        "verified_by",
        "business_manager",
    ]
    list_filter = ["verification_status"]
    list_select_related = ["verified_by", "business_manager", "management_account"]
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

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and roles.is_operator(request.user):
            return [
                "registration_number",
                "verification_status",
                "verified_at",
                "verified_by",
            ]
        if obj is None:
            return self.readonly_fields
        return self.fields

    def has_change_permission(self, request, obj=None):
        return roles.is_operator(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        company_id = request.resolver_match.kwargs.get("object_id")
        if db_field.name == "management_account":
            kwargs["queryset"] = Account.objects.filter(company_id=company_id)
        elif db_field.name == "business_manager":
            kwargs["queryset"] = get_user_model().objects.filter(groups__name=roles.CBM)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            data = form.cleaned_data
            if "business_manager" in form.changed_data:
                services.set_business_manager(
                    company=obj, user=data["business_manager"], actor=request.user
                )
            if "management_account" in form.changed_data and data["management_account"]:
                set_management_account(
                    company=obj, account=data["management_account"], actor=request.user
                )
            if "name" in form.changed_data:
                services.rename_company(
                    company=obj, name=data["name"], actor=request.user
                )
            return
        created = services.create_company(
            name=form.cleaned_data["name"],
            registration_number=form.cleaned_data["registration_number"],
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False

    change_form_template = "admin/accounts/company/change_form.html"

    def get_urls(self):

        return [
            path(
                "<path:object_id>/credit-quota/",
                self.admin_site.admin_view(self.credit_quota_view),
                name="accounts_company_credit_quota",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):

        company = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if company is not None:
            extra_context["allocations"] = [
                get_company_allocation(company, currency) for currency in ("CNY", "USD")
            ]
            extra_context["is_operator"] = roles.is_operator(request.user)
        return super().change_view(request, object_id, form_url, extra_context)

    def credit_quota_view(self, request, object_id):
        company = self.get_object(request, object_id)
        if company is None:
            return self.does_not_exist(request, object_id)
        if not roles.is_operator(request.user):
            raise PermissionDenied

        def review(data):
            allocation = get_company_allocation(company, data["currency"])
            return {
                "currency": data["currency"],
                "amount": data["amount"],
                "allocation": allocation,
                "over_allocated": data["amount"] < allocation["allocated"],
            }

        return self.confirmation_view(
            request,
            obj=company,
            form=QuotaForm(request.POST or None),
            review=review,
            act=lambda d: set_credit_quota(company=company, actor=request.user, **d),
            done=lambda _quota, d: _("Credit quota saved."),
            log=lambda _quota, message: self.log_change(
                request, company, "Set credit quota."
            ),
            redirect_to=reverse("admin:accounts_company_change", args=[company.pk]),
            title=_("Credit quota of %(company)s") % {"company": company},
            review_title=_("Confirm credit quota"),
            form_template="admin/accounts/folder/form.html",
            review_template="admin/accounts/company/credit_quota_confirm.html",
            context={
                "company": company,
                "submit": _("Review quota"),
                "cancel_url": reverse(
                    "admin:accounts_company_change", args=[company.pk]
                ),
                "question": _(
                    "Lowering a quota below what is allocated keeps existing "
                    "limits; increases are then refused until within quota."
                ),
            },
        )

    @admin.action(description=_("Verify the identity of the selected companies"))
    def verify_selected(self, request, queryset):
        token = confirmation_token(request, flag="post")
        if token is not None:
            data = {"action": "verify_selected", "companies": queryset}
            try:
                return self.run_confirmed(
                    request,
                    token=token,
                    data=data,
                    act=lambda: self._verify(request, queryset),
                )
            except DomainError as err:
                for why in err.reasons:
                    self.message_user(request, why.message, messages.ERROR)
                return None
        return TemplateResponse(
            request,
            "admin/accounts/company/verify_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Verify company identity"),
                "opts": self.opts,
                "queryset": queryset,
                "pending": queryset.filter(
                    verification_status=Company.Verification.UNVERIFIED
                ),
                "confirmation_token": new_confirmation_token(),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _verify(self, request, queryset):
        count = 0
        for company in queryset.filter(
            verification_status=Company.Verification.UNVERIFIED
        ):
            services.verify_company(company=company, actor=request.user)
            self.log_change(request, company, "Verified identity.")
            count += 1
        message = (
            ngettext("Verified %d company.", "Verified %d companies.", count) % count
        )
        return message, request.get_full_path()


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
