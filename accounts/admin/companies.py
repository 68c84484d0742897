"""Companies and account access. Operators verify companies and grant access."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
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
from billing_portal.text import DisplayNameField

from .. import selectors, services
from ..forms import AccessForm
from ..models import Account, AccountAccess, Company, CreditQuota
from ..selectors import get_company_allocation
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
        field_classes = {"name": DisplayNameField}

    def clean_management_account(self):
        account = self.cleaned_data.get("management_account")
        # The service designates one; there is no service that removes it.
        if account is None and self.instance.management_account_id:
            raise forms.ValidationError(
                _("The management account can be replaced, not removed.")
            )
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
        "management_account",
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
        "management_account",
    ]
    readonly_fields = [
        "verification_status",
        "verified_at",
        "verified_by",
        "business_manager",
        "management_account_name",
    ]
    actions = ["verify_selected"]

    def history_related(self):
        return [(CreditQuota, "company")]

    def scope(self, user):
        return selectors.list_visible_companies(user)

    def has_add_permission(self, request):
        return roles.is_operator(request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.is_operator(request.user):
            actions.pop("verify_selected", None)
        return actions

    def get_fields(self, request, obj=None):
        # Only an operator on an existing company picks the management account;
        # everyone else reads its name and uid (nothing else of it, and no link
        # to an account page the user may not reach).
        if obj is not None and roles.is_operator(request.user):
            return self.fields
        return [
            "management_account_name" if name == "management_account" else name
            for name in self.fields
        ]

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
        return self.get_fields(request, obj)

    @admin.display(description=_("Management account"))
    def management_account_name(self, obj):
        account = obj.management_account if obj else None
        return str(account) if account else "—"

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

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A refusal from a service while saving (the management account's
        ``management_account_refusals``) is shown as messages, never a 500; the
        admin's transaction rolls back everything that save did."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as err:
            self.message_user(request, _("The company was not saved."), messages.ERROR)
            for refusal in err.reasons:
                self.message_user(request, refusal.message, messages.ERROR)
            return redirect(request.path)

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

    actions = ["revoke_selected"]
    change_form_template = "admin/accounts/accountaccess/change_form.html"

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

    # --- revoking (the delete_selected flow, through services.revoke_access) ---

    def get_urls(self):
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="accounts_accountaccess_revoke",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_revoke": roles.is_operator(request.user),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Revoke the selected access"))
    def revoke_selected(self, request, queryset):
        rows = list(
            queryset.select_related("user", "account", "granted_by").order_by(
                "account__uid", "user__username"
            )
        )
        if request.POST.get("post") == "yes":
            self._revoke(request, rows)
            return None
        return self._revoke_confirmation(request, rows, from_changelist=True)

    def revoke_view(self, request, object_id):
        # Permission before the lookup: every id gets the same answer.
        if not roles.is_operator(request.user):
            raise PermissionDenied
        access = self.get_object(request, object_id)
        if access is None:
            return self.does_not_exist(request, object_id)
        if request.method == "POST":
            self._revoke(request, [access])
            return redirect("admin:accounts_accountaccess_changelist")
        return self._revoke_confirmation(request, [access], from_changelist=False)

    def _revoke_confirmation(self, request, rows, *, from_changelist):
        return TemplateResponse(
            request,
            "admin/accounts/accountaccess/revoke_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Revoke account access"),
                "opts": self.opts,
                "rows": rows,
                "ownerless": selectors.list_accounts_left_without_owner(rows),
                "from_changelist": from_changelist,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _revoke(self, request, rows):
        revoked = 0
        for access in rows:
            try:
                services.revoke_access(
                    account=access.account, user=access.user, actor=request.user
                )
            except DomainError as err:
                for refusal in err.reasons:
                    self.message_user(request, refusal.message, messages.WARNING)
                continue
            # Logged on the account: the access row itself no longer exists.
            self.log_change(
                request,
                access.account,
                f"Revoked {access.permission} access of {access.user}.",
            )
            revoked += 1
        if revoked:
            self.message_user(
                request,
                ngettext(
                    "Revoked %d access grant.", "Revoked %d access grants.", revoked
                )
                % revoked,
                messages.SUCCESS,
            )
