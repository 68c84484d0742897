"""Accounts: the overview, the account page, and the money views.

Money operations are custom views (``get_urls``) wrapped in ``admin_view``,
each with a confirmation page: show the numbers and the effect first, act on
POST through the same service as the API, ``log_change``, message, redirect.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing_portal import roles
from billing_portal.admin_base import ScopedAdmin
from billing_portal.errors import DomainError
from billing_portal.money import ZERO, format_amount

from .. import selectors, services
from ..forms import (
    AccountAddForm,
    AccountChangeForm,
    RevokeForm,
    TopUpForm,
    TransferForm,
)
from ..models import Account, TransferPair
from ..services import request_access, set_credit_limit
from .credit import CreditLimitForm

BALANCE_FIELDS = [
    "cash",
    "transferred_in",
    "uncleared",
    "limit",
    "available",
    "overdue",
    "transferable",
]


@admin.register(Account)
class AccountAdmin(ScopedAdmin):
    list_display = ["uid", "name", "company", "currency", "status", *BALANCE_FIELDS]
    list_display_links = ["uid", "name"]
    list_filter = ["currency", "status", ("company", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["company"]
    search_fields = ["uid", "name"]
    ordering = ["uid"]
    change_form_template = "admin/accounts/account/change_form.html"
    change_list_template = "admin/accounts/account/change_list.html"
    actions = ["settle_selected"]

    def scope(self, user):
        return selectors.list_visible_accounts(user)

    def get_queryset(self, request):
        # The Transferable column reads the §3.5 state: annotated, not per row.
        return selectors.with_disabled_state(super().get_queryset(request))

    # --- permissions: operators edit descriptive fields; money via views ----

    def has_add_permission(self, request):
        return roles.is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return roles.is_operator(request.user)

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = AccountAddForm if obj is None else AccountChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(AccountAddForm.Meta.fields)
        if roles.is_operator(request.user):
            return ["uid", "company", "currency", *AccountChangeForm.Meta.fields]
        return ["uid", "name", "company", "currency", "status", "mobile"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if roles.is_operator(request.user):
            return ["uid", "company", "currency"]
        return self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {k: data[k] for k in form.changed_data}
            if changes:
                services.update_account(account=obj, actor=request.user, **changes)
            return
        created = services.create_account(actor=request.user, **data)
        obj.pk = created.pk
        obj._state.adding = False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.is_operator(request.user):
            actions.pop("settle_selected", None)
        return actions

    # --- overview columns ---------------------------------------------------

    @admin.display(description=_("Cash"))
    def cash(self, obj):
        return format_amount(obj.cash_balance)

    @admin.display(description=_("Transferred in"))
    def transferred_in(self, obj):
        return format_amount(obj.transferred_in_balance)

    @admin.display(description=_("Uncleared"))
    def uncleared(self, obj):
        return format_amount(obj.uncleared_amount)

    @admin.display(description=_("Credit limit"))
    def limit(self, obj):
        return format_amount(obj.credit_limit)

    @admin.display(description=_("Available"))
    def available(self, obj):
        return format_amount(obj.available_balance)

    @admin.display(description=_("Overdue"), boolean=True)
    def overdue(self, obj):
        return obj.has_overdue

    @admin.display(description=_("Transferable"))
    def transferable(self, obj):
        return format_amount(selectors.get_transferable(obj).transferable_amount)

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Accounts overview"), **(extra_context or {})}
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["currency_totals"] = _currency_totals(context["cl"].queryset)
        return response

    # --- the account page -----------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if account is not None:
            extra_context.update(self._account_page_context(request, account))
        return super().change_view(request, object_id, form_url, extra_context)

    def _account_page_context(self, request, account):
        pairs = selectors.list_transfer_pairs(account)
        return {
            "account": account,
            "transferable": selectors.get_transferable(account),
            "outgoing": pairs.outgoing,
            "incoming": pairs.incoming,
            "ledger_lines": selectors.list_account_postings(account)[:20],
            "ledger_url": reverse("admin:accounts_posting_changelist")
            + f"?account={account.pk}",
            "can_manage": selectors.can_manage(request.user, account),
            "is_operator": roles.is_operator(request.user),
            "relationship": selectors.get_open_relationship(account),
            "member_count": account.member_relationships.filter(
                status="active"
            ).count(),
            **self._credit_context(request, account),
        }

    def _credit_context(self, request, account):
        can_set_limit = selectors.can_set_limit(request.user, account)
        state = selectors.get_disabled_state(account)
        open_request = account.access_requests.filter(status="requested").first()
        return {
            "credit_bounds": selectors.get_credit_bounds(account),
            "pending_contract": selectors.get_pending_contract(account),
            "limit_history": account.limit_changes.select_related("actor")[:10],
            "can_set_limit": can_set_limit,
            "disabled_state": state,
            "open_access_request": open_request,
            "business_manager": account.company.business_manager
            if account.company
            else None,
        }

    # --- money views ------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transfer/",
                view(self.transfer_view),
                name="accounts_account_transfer",
            ),
            path(
                "<path:object_id>/transfer/targets/",
                view(self.targets_view),
                name="accounts_account_targets",
            ),
            path(
                "<path:object_id>/revoke/",
                view(self.revoke_view),
                name="accounts_account_revoke",
            ),
            path(
                "<path:object_id>/top-up/",
                view(self.top_up_view),
                name="accounts_account_top_up",
            ),
            path(
                "<path:object_id>/credit-limit/",
                view(self.credit_limit_view),
                name="accounts_account_credit_limit",
            ),
            path(
                "<path:object_id>/request-access/",
                view(self.request_access_view),
                name="accounts_account_request_access",
            ),
            *super().get_urls(),
        ]

    def _managed_account(self, request, object_id):
        """The account, if visible (else None), after the manage check (403)."""
        account = self.get_object(request, object_id)
        if account is not None and not selectors.can_manage(request.user, account):
            raise PermissionDenied
        return account

    def _page(self, request, template, account, title, **context):
        return TemplateResponse(
            request,
            f"admin/accounts/account/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": account,
                "account": account,
                "title": title,
                **context,
            },
        )

    def _done(self, request, account, message):
        self.log_change(request, account, message)
        self.message_user(request, message, messages.SUCCESS)
        return redirect("admin:accounts_account_change", account.pk)

    def _sees(self, request, account) -> bool:
        """Whether the user may see the account's balances (not only uid/name)."""
        return self.get_queryset(request).filter(pk=account.pk).exists()

    def targets_view(self, request, object_id):
        """Select2 results: accounts the user may name as transfer destination."""
        account = self._managed_account(request, object_id)
        if account is None:
            return JsonResponse({"results": [], "pagination": {"more": False}})
        term = request.GET.get("term", "").strip()
        qs = selectors.list_transfer_targets(request.user, account)
        if term:
            qs = qs.filter(name__icontains=term) | qs.filter(uid__startswith=term)
        page = max(1, _int(request.GET.get("page")) or 1)
        rows = list(qs.order_by("uid")[(page - 1) * 20 : page * 20 + 1])
        return JsonResponse(
            {
                "results": [
                    {"id": str(a.pk), "text": f"{a.name} ({a.uid})"} for a in rows[:20]
                ],
                "pagination": {"more": len(rows) > 20},
            }
        )

    def transfer_view(self, request, object_id):
        source = self._managed_account(request, object_id)
        if source is None:
            return self.does_not_exist(request, object_id)
        targets = selectors.list_transfer_targets(request.user, source)
        form = TransferForm(
            request.POST or None,
            source=source,
            targets=targets,
            admin_site=self.admin_site,
        )
        context = {
            "form": form,
            "transferable": selectors.get_transferable(source),
            "media": self.media + form.media,
        }
        if request.method == "POST" and form.is_valid():
            response = self._review_or_act(
                request,
                context,
                source=source,
                **form.cleaned_data,
                preview=selectors.preview_transfer,
                act=services.transfer_balance,
                confirm_template="transfer_confirm.html",
                title=_("Confirm transfer"),
                done=_("Transferred %(amount)s %(currency)s to %(destination)s."),
            )
            if response is not None:
                return response
        return self._page(
            request, "transfer_form.html", source, _("Transfer funds"), **context
        )

    def _review_or_act(
        self,
        request,
        context,
        *,
        source,
        destination,
        amount,
        preview,
        act,
        confirm_template,
        title,
        done,
    ):
        """The two steps of a movement between accounts: without ``confirm`` show
        the preview (or its refusal reasons); with it, call the service. Returns
        the response to send, or None to show the form again with ``context``."""
        if request.POST.get("confirm") == "yes":
            try:
                act(
                    source=source,
                    destination=destination,
                    amount=amount,
                    actor=request.user,
                )
            except DomainError as err:
                context["refusal"] = err
                return None
            return self._done(
                request,
                source,
                done
                % {
                    "amount": format_amount(amount),
                    "currency": source.currency,
                    "destination": f"{destination.name} ({destination.uid})",
                },
            )
        result = preview(source, destination, amount)
        if result.reasons:
            context["refusal_reasons"] = result.reasons
            return None
        return self._page(
            request,
            confirm_template,
            source,
            title,
            form=context["form"],
            preview=result,
            show_destination_balances=self._sees(request, destination),
        )

    def revoke_view(self, request, object_id):
        source = self._managed_account(request, object_id)
        if source is None:
            return self.does_not_exist(request, object_id)
        destinations = Account.objects.filter(
            pk__in=TransferPair.objects.filter(source=source).values("destination")
        )
        data = request.POST or None
        initial = {"destination": request.GET.get("destination")}
        form = RevokeForm(data, initial=initial, destinations=destinations)
        destination = None
        if form.is_bound and form.is_valid():
            destination = form.cleaned_data["destination"]
        elif not form.is_bound:
            destination = destinations.filter(pk=_int(initial["destination"])).first()
        if destination is None and not form.is_bound:
            if not initial["destination"]:
                self.message_user(
                    request,
                    _(
                        "Choose the account to take funds back "
                        "from in “Transferred to”."
                    ),
                    messages.INFO,
                )
                return redirect("admin:accounts_account_change", source.pk)
            return self.does_not_exist(request, initial["destination"])
        revocable = (
            selectors.get_revocable(source, destination) if destination else None
        )
        context = {"form": form, "revocable": revocable, "destination": destination}
        if form.is_bound and form.is_valid():
            response = self._review_or_act(
                request,
                context,
                source=source,
                **form.cleaned_data,
                preview=selectors.preview_revocation,
                act=services.revoke_transfer,
                confirm_template="revoke_confirm.html",
                title=_("Confirm revocation"),
                done=_("Took back %(amount)s %(currency)s from %(destination)s."),
            )
            if response is not None:
                return response
        return self._page(
            request, "revoke_form.html", source, _("Revoke funds"), **context
        )

    def top_up_view(self, request, object_id):
        account = self.get_object(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        if not roles.is_operator(request.user):
            raise PermissionDenied
        form = TopUpForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            amount = form.cleaned_data["amount"]
            if request.POST.get("confirm") == "yes":
                services.top_up(account=account, amount=amount, actor=request.user)
                return self._done(
                    request,
                    account,
                    _("Topped up %(amount)s %(currency)s.")
                    % {"amount": format_amount(amount), "currency": account.currency},
                )
            preview = selectors.preview_top_up(account, amount)
            return self._page(
                request,
                "top_up_confirm.html",
                account,
                _("Confirm top-up"),
                form=form,
                amount=amount,
                cash_after=preview.cash_after,
                uncleared_after=preview.uncleared_after,
                settles=preview.settles,
            )
        return self._page(request, "top_up_form.html", account, _("Top up"), form=form)

    def credit_limit_view(self, request, object_id):

        account = self.get_object(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        if not selectors.can_set_limit(request.user, account):
            raise PermissionDenied
        form = CreditLimitForm(request.POST or None)
        bounds = selectors.get_credit_bounds(account)
        context = {
            "form": form,
            "bounds": bounds,
            "pending_contract": selectors.get_pending_contract(account),
            "first_time": not selectors.has_confirmed_contract(account),
            "disabled_state": selectors.get_disabled_state(account),
        }
        if request.method == "POST" and form.is_valid():
            amount = form.cleaned_data["amount"]
            if request.POST.get("confirm") == "yes":
                try:
                    state, contract = set_credit_limit(
                        account=account, amount=amount, actor=request.user
                    )
                except DomainError as err:
                    context["refusal"] = err
                else:
                    if state == "pending_contract":
                        message = _(
                            "The limit of %(amount)s %(currency)s is pending: it takes "
                            "effect when an owner confirms contract #%(contract)s in "
                            "Contracts."
                        ) % {
                            "amount": format_amount(amount),
                            "currency": account.currency,
                            "contract": contract.pk,
                        }
                    else:
                        message = _(
                            "The credit limit is now %(amount)s %(currency)s."
                        ) % {
                            "amount": format_amount(amount),
                            "currency": account.currency,
                        }
                    return self._done(request, account, message)
            else:
                return self._page(
                    request,
                    "credit_limit_confirm.html",
                    account,
                    _("Confirm credit limit"),
                    amount=amount,
                    available_after=selectors.available_with_limit(account, amount),
                    **context,
                )
        return self._page(
            request, "credit_limit_form.html", account, _("Set credit limit"), **context
        )

    def request_access_view(self, request, object_id):

        account = self._managed_account(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        state = selectors.get_disabled_state(account)
        context = {
            "disabled_state": state,
            "business_manager": account.company.business_manager
            if account.company
            else None,
        }
        if request.method == "POST":
            try:
                request_access(
                    account=account,
                    actor=request.user,
                    message=request.POST.get("message", "")[:2000],
                )
            except DomainError as err:
                context["refusal"] = err
            else:
                return self._done(
                    request,
                    account,
                    _("Your request was sent to the business manager."),
                )
        return self._page(
            request, "request_access.html", account, _("Request access"), **context
        )

    @admin.action(description=_("Settle the selected accounts now"))
    def settle_selected(self, request, queryset):
        owing = [a for a in queryset if selectors.get_settleable_amount(a) > 0]
        if request.POST.get("post") == "yes":
            settled = 0
            for account in owing:
                if services.settle_account(account=account, actor=request.user):
                    self.log_change(request, account, "Settled uncleared charges.")
                    settled += 1
            self.message_user(
                request,
                ngettext("Settled %d account.", "Settled %d accounts.", settled)
                % settled,
                messages.SUCCESS,
            )
            return None
        rows = [(a, selectors.get_settleable_amount(a)) for a in owing]
        return TemplateResponse(
            request,
            "admin/accounts/account/settle_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Settle accounts"),
                "opts": self.opts,
                "queryset": queryset,
                "rows": rows,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _currency_totals(queryset):
    """Totals per currency of what the overview's filters show."""
    rows = (
        queryset.order_by()
        .values("currency")
        .annotate(
            own=Sum("own_cash"),
            transferred_in=Sum("transferred_in_balance"),
            uncleared=Sum("uncleared_amount"),
            limit=Sum("credit_limit"),
        )
        .order_by("currency")
    )
    totals = []
    for row in rows:
        cash = (row["own"] or ZERO) + (row["transferred_in"] or ZERO)
        available = cash + (row["limit"] or ZERO) - (row["uncleared"] or ZERO)
        totals.append(
            {
                "currency": row["currency"],
                "cash": format_amount(cash),
                "transferred_in": format_amount(row["transferred_in"] or ZERO),
                "uncleared": format_amount(row["uncleared"] or ZERO),
                "limit": format_amount(row["limit"] or ZERO),
                "available": format_amount(available),
            }
        )
    return totals
