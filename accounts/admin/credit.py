"""Credit control in the admin: the Contracts view, access requests, exceptions."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.urls import path, re_path, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.actions import action
from billing_portal.admin_base import ScopedAdmin
from billing_portal.forms import AmountFormField
from billing_portal.models import Notification
from billing_portal.money import AmountError, parse_amount
from billing_portal.notifications import KINDS, message_of

from .. import selectors, services
from ..models import AccessException, AccessRequest, Contract


def contracts_view_sections(request) -> list[dict]:
    """The sections other apps add below the contracts (SPEC §6): each callable
    named in ``settings.CONTRACTS_VIEW_SECTIONS`` answers ``{"template": …,
    "context": …}`` for this request, or None (nothing for this user). The
    accounts app imports none of them (apps build on accounts, not the reverse).
    """
    sections = []
    for dotted_path in settings.CONTRACTS_VIEW_SECTIONS:
        section = import_string(dotted_path)(request)
        if section is not None:
            sections.append(section)
    return sections


class ConfirmerFilter(admin.SimpleListFilter):
    """Pending contracts by who confirms them (the home page links here): only
    an owner of the account holding the credit authority does."""

    title = _("confirmation")
    parameter_name = "confirmer"

    def lookups(self, request, model_admin):
        if roles.is_operator(request.user) or roles.is_cbm(request.user):
            return []
        return [
            ("me", _("Yours to confirm")),
            ("owner", _("Waiting for an owner")),
        ]

    def queryset(self, request, queryset):
        yours = selectors.list_contracts_to_confirm(request.user).values("pk")
        if self.value() == "me":
            return queryset.filter(pk__in=yours)
        if self.value() == "owner":
            pending = queryset.filter(status=Contract.Status.PENDING)
            return pending.exclude(pk__in=yours)
        return queryset


@admin.register(Contract)
class ContractAdmin(ScopedAdmin):
    """Expenses and Costs > Contracts (SPEC §6)."""

    list_display = [
        "id",
        "account",
        "kind",
        "limit",
        "currency",
        "status",
        "created_at",
        "confirmed_at",
        "confirmed_by",
    ]
    list_filter = ["status", ConfirmerFilter]
    list_select_related = ["account", "confirmed_by"]
    ordering = ["-created_at", "-id"]
    fields = [
        "account",
        "kind",
        "limit",
        "currency",
        "status",
        "terms_version",
        "created_at",
        "created_by",
        "confirmed_at",
        "confirmed_by",
        "confirmed_from",
        "withdrawn_at",
        "withdrawn_by",
    ]
    readonly_fields = fields
    change_list_template = "admin/accounts/contract/change_list.html"
    change_form_template = "admin/accounts/contract/change_form.html"

    def scope(self, user):
        return selectors.list_visible_contracts(user)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/confirm/",
                view(self.confirm_view),
                name="accounts_contract_confirm",
            ),
            path(
                "<path:object_id>/withdraw/",
                view(self.withdraw_view),
                name="accounts_contract_withdraw",
            ),
            *super().get_urls(),
        ]

    def get_list_display(self, request):
        """The contracts, and for a pending one its "Confirm contract" button:
        an owner's link, or greyed with why for anyone else who reads it (a
        manage administrator sees that only owners confirm). Operators never
        confirm (a note above the list says so)."""
        if roles.is_operator(request.user):
            return self.list_display

        @admin.display(description=_("Confirmation"))
        def confirmation(contract):
            if contract.status != Contract.Status.PENDING:
                return "—"
            return render_to_string(
                "admin/portal/action.html",
                {"action": confirm_action(request.user, contract), "compact": True},
            )

        # Beside the status, where it is read (the dates follow).
        at = self.list_display.index("status") + 1
        return [*self.list_display[:at], confirmation, *self.list_display[at:]]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": _("Contracts"),
            "sections": contracts_view_sections(request),
            "is_operator": roles.is_operator(request.user),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contract = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if contract is not None and contract.status == Contract.Status.PENDING:
            user = request.user
            if not roles.is_operator(user):
                extra_context["confirm_action"] = confirm_action(user, contract)
            extra_context["can_withdraw"] = selectors.can_withdraw_contract(
                user, contract
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def confirm_view(self, request, object_id):
        contract = self.get_object(request, object_id)
        if contract is None:
            return self.does_not_exist(request, object_id)
        if not selectors.can_confirm_contract(request.user, contract):
            raise PermissionDenied
        account = contract.account
        return self.confirmation_view(
            request,
            obj=contract,
            refusals=lambda d: selectors.contract_confirmation_refusals(contract),
            act=lambda d: services.confirm_contract(
                contract=contract,
                actor=request.user,
                ip=request.META.get("REMOTE_ADDR"),
            ),
            done=lambda _contract, d: (
                _(
                    "Contract confirmed: the credit limit of %(limit)s "
                    "%(currency)s is in effect. An SMS goes to %(mobile)s."
                )
                % {
                    "limit": contract.limit,
                    "currency": contract.currency,
                    "mobile": account.mobile or "—",
                }
            ),
            log=lambda _contract, message: self.log_change(
                request, contract, "Confirmed the contract."
            ),
            redirect_to=reverse("admin:accounts_contract_changelist"),
            title=_("Confirm contract"),
            review_template="admin/accounts/contract/confirm.html",
            context={
                "contract": contract,
                "account": account,
                "available_after": selectors.available_with_limit(
                    account, contract.limit
                ),
                "bounds": selectors.get_credit_bounds(account),
            },
        )

    def withdraw_view(self, request, object_id):
        contract = self.get_object(request, object_id)
        if contract is None:
            return self.does_not_exist(request, object_id)
        if not selectors.can_withdraw_contract(request.user, contract):
            raise PermissionDenied
        return self.confirmation_view(
            request,
            obj=contract,
            refusals=lambda d: selectors.contract_state_refusals(contract, "withdraw"),
            act=lambda d: services.withdraw_contract(
                contract=contract, actor=request.user
            ),
            done=lambda _contract, d: _("Contract withdrawn; its limit is dropped."),
            log=lambda _contract, message: self.log_change(
                request, contract, "Withdrew the contract."
            ),
            redirect_to=reverse("admin:accounts_contract_changelist"),
            title=_("Withdraw contract"),
            review_template="admin/accounts/contract/withdraw.html",
            context={"contract": contract},
        )


def confirm_action(user, contract):
    """ "Confirm contract" of a pending contract: the service's 403 sentence
    for whoever may not (only owners confirm), then the rules that would
    refuse it now (the limit's bounds re-checked as at confirmation)."""
    reasons = selectors.contract_confirmer_refusals(user, contract)
    if not reasons:
        reasons = selectors.contract_confirmation_refusals(contract)
    return action(
        _("Confirm contract"),
        reverse("admin:accounts_contract_confirm", args=[contract.pk]),
        reasons,
    )


@admin.register(AccessRequest)
class AccessRequestAdmin(ScopedAdmin):
    list_display = [
        "id",
        "account",
        "status",
        "requested_by",
        "requested_at",
        "business_manager",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status"]
    list_select_related = ["account", "requested_by", "business_manager", "decided_by"]
    ordering = ["-requested_at", "-id"]
    fields = [
        "account",
        "status",
        "message",
        "why_disabled",
        "requested_by",
        "requested_at",
        "business_manager",
        "decided_by",
        "decided_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/accounts/accessrequest/change_form.html"

    def scope(self, user):
        return selectors.list_visible_access_requests(user)

    @admin.display(description=_("Why it was disabled"))
    def why_disabled(self, obj):
        return " ".join(c["message"] for c in obj.conditions) or "—"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            re_path(
                r"^(?P<object_id>\d+)/(?P<decision>grant|decline)/$",
                view(self.decide_view),
                name="accounts_accessrequest_decide",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context["can_decide"] = (
                obj.status == AccessRequest.Status.REQUESTED
                and selectors.can_decide_access_request(request.user, obj)
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request, object_id, decision):
        obj = self.get_object(request, object_id)
        if obj is None or decision not in ("grant", "decline"):
            return self.does_not_exist(request, object_id)
        if not selectors.can_decide_access_request(request.user, obj):
            raise PermissionDenied
        grant = decision == "grant"
        service = (
            services.grant_access_request if grant else services.decline_access_request
        )
        return self.confirmation_view(
            request,
            obj=obj,
            act=lambda d: service(request=obj, actor=request.user),
            done=lambda _result, d: (
                _(
                    "Access granted: transfer and credit "
                    "control are allowed until revoked."
                )
                if grant
                else _("Request declined.")
            ),
            log=lambda _result, message: self.log_change(
                request, obj, f"{decision.title()}ed the request."
            ),
            redirect_to=reverse("admin:accounts_accessrequest_change", args=[obj.pk]),
            title=_("Grant access") if grant else _("Decline request"),
            review_template="admin/accounts/accessrequest/decide.html",
            context={"access_request": obj, "decision": decision},
        )


@admin.register(AccessException)
class AccessExceptionAdmin(ScopedAdmin):
    list_display = ["id", "account", "start", "end", "granted_by", "revoked_by"]
    list_select_related = ["account", "granted_by", "revoked_by"]
    ordering = ["-start"]
    fields = ["account", "request", "start", "end", "granted_by", "revoked_by"]
    readonly_fields = fields
    change_form_template = "admin/accounts/accessexception/change_form.html"

    def scope(self, user):
        return selectors.list_visible_access_exceptions(user)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/revoke/",
                view(self.revoke_view),
                name="accounts_accessexception_revoke",
            ),
            *super().get_urls(),
        ]

    def _may_revoke(self, user, obj) -> bool:
        return obj.end is None and selectors.can_revoke_access_exception(user, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context["can_revoke"] = self._may_revoke(request.user, obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def revoke_view(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            return self.does_not_exist(request, object_id)
        if not self._may_revoke(request.user, obj):
            raise PermissionDenied
        return self.confirmation_view(
            request,
            obj=obj,
            act=lambda d: services.revoke_access_exception(
                exception=obj, actor=request.user
            ),
            done=lambda _result, d: _("Exception revoked."),
            log=lambda _result, message: self.log_change(
                request, obj, "Revoked the exception."
            ),
            redirect_to=reverse("admin:accounts_accessexception_change", args=[obj.pk]),
            title=_("Revoke exception"),
            review_template="admin/accounts/accessexception/revoke.html",
            context={"exception": obj},
        )


class NotificationKindFilter(admin.SimpleListFilter):
    title = _("what it says")
    parameter_name = "template"

    def lookups(self, request, model_admin):
        return list(KINDS.items())

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(template=self.value())
        return queryset


@admin.register(Notification)
class NotificationAdmin(ScopedAdmin):
    """The outbox: SMS and portal notices with their delivery status."""

    list_display = [
        "created_at",
        "channel",
        "to",
        "message",
        "account",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["channel", "status", NotificationKindFilter]
    list_select_related = ["account"]
    ordering = ["-created_at", "-id"]
    readonly_fields = [
        "channel",
        "to",
        "message",
        "account",
        "user",
        "status",
        "attempts",
        "last_error",
        "provider_message_id",
        "created_at",
        "sent_at",
    ]
    fields = readonly_fields

    def scope(self, user):
        return selectors.list_visible_notifications(user)

    @admin.display(description=_("Message"))
    def message(self, obj):
        return message_of(obj)


class CreditLimitForm(forms.Form):
    amount = AmountFormField(label=_("New credit limit"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].clean = self._clean_amount

    @staticmethod
    def _clean_amount(value):

        try:
            amount = parse_amount((value or "").strip(), positive=False)
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if amount < 0:
            raise forms.ValidationError(_("A credit limit cannot be negative."))
        return amount


class QuotaForm(forms.Form):
    currency = forms.ChoiceField(choices=[("CNY", "CNY"), ("USD", "USD")])
    amount = forms.CharField(label=_("Quota"))

    def clean_amount(self):

        try:
            amount = parse_amount(self.cleaned_data["amount"].strip(), positive=False)
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if amount < 0:
            raise forms.ValidationError(_("A quota cannot be negative."))
        return amount
