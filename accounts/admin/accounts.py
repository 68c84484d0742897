"""Accounts: the overview, the account page, and the money views.

Money operations are custom views (``get_urls``) wrapped in ``admin_view``,
each with a confirmation page: show the numbers and the effect first, act on
POST through the same service as the API, ``log_change``, message, redirect.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing_portal import roles
from billing_portal.admin_base import (
    CappedCountPaginator,
    ScopedAdmin,
    confirmation_token,
    new_confirmation_token,
    render_panels,
)
from billing_portal.errors import DomainError
from billing_portal.money import format_amount

from .. import selectors, services
from ..forms import (
    AccountAddForm,
    AccountChangeForm,
    RequestAccessForm,
    RevokeForm,
    TopUpForm,
    TransferForm,
)
from ..ledger import book_label
from ..models import Account, AccountAccess, Contract
from ..services import request_access, set_credit_limit
from .actions import access_action, limit_action, revoke_rows, transfer_action
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


def _labelled(lines):
    """Ledger lines with their book's label for the screen (``line.book_name``)."""
    lines = list(lines)
    for line in lines:
        line.book_name = book_label(line.holder_type, line.book)
    return lines


@admin.register(Account)
class AccountAdmin(ScopedAdmin):
    list_display = ["uid", "name", "company", "currency", "status", *BALANCE_FIELDS]
    list_display_links = ["uid", "name"]
    list_filter = ["currency", "status", ("company", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["company"]
    paginator = CappedCountPaginator
    search_fields = ["uid", "name"]
    ordering = ["uid"]
    change_form_template = "admin/accounts/account/change_form.html"
    change_list_template = "admin/accounts/account/change_list.html"
    actions = ["settle_selected"]

    def history_related(self):
        return [(AccountAccess, "account"), (Contract, "account")]

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

    @admin.display(description=_("Overdue"))
    def overdue(self, obj):
        # Words, not Django's boolean icons: a red cross for "not overdue"
        # read as an alarm.
        if obj.has_overdue:
            return format_html('<span class="portal-warn">{}</span>', _("Yes"))
        return _("No")

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
        transferable = selectors.get_transferable(account)
        can_manage = selectors.can_manage(request.user, account)
        return {
            "account": account,
            "transferable": transferable,
            # Only for its administrators (the others read a read-only note);
            # disabled with the transfer rules that block every transfer now.
            "transfer_action": transfer_action(account) if can_manage else None,
            "outgoing": pairs.outgoing,
            "outgoing_rows": revoke_rows(account, pairs.outgoing, can_manage),
            "incoming": pairs.incoming,
            "more_outgoing": pairs.more_outgoing,
            "more_incoming": pairs.more_incoming,
            "ledger_lines": _labelled(selectors.list_account_postings(account)[:20]),
            "ledger_url": reverse("admin:accounts_posting_changelist")
            + f"?account={account.pk}",
            "can_manage": can_manage,
            "is_operator": roles.is_operator(request.user),
            "relationship": selectors.get_open_relationship(account),
            "member_count": selectors.count_active_members(account),
            "extra_panels": _extra_panels(request, account),
            **self._credit_context(request, account),
        }

    def _credit_context(self, request, account):
        user = request.user
        can_set_limit = selectors.can_set_limit(user, account)
        # Not the list's annotation (it carries the exception's id only): the
        # page names who granted the exception and when.
        state = selectors.get_disabled_state(account, at=timezone.now())
        credit_blocks = selectors.credit_limit_blocks(account)
        open_request = selectors.get_open_access_request(account)
        pending = selectors.get_pending_contract(account)
        can_manage = selectors.can_manage(user, account)
        return {
            "credit_bounds": selectors.get_credit_bounds(account),
            "pending_contract": pending,
            "limit_history": selectors.list_limit_changes(account)[:10],
            "can_set_limit": can_set_limit,
            "limit_action": limit_action(account, credit_blocks, pending)
            if can_set_limit
            else None,
            # An administrator of the account whose limit is set by its
            # management account's administrators: the service's 403 sentence.
            "limit_note": selectors.limit_permission_reason(account)
            if can_manage and not can_set_limit
            else None,
            "access_action": access_action(account)
            if can_manage and state.disabled and not open_request
            else None,
            "self_service_blocks": _unique(
                [*selectors.source_blocks(account), *credit_blocks],
                # The §3.5 conditions have their own block on the page.
                skip={"self_service_disabled", "credit_control_disabled"},
            ),
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
            re_path(
                r"^(?P<object_id>.+)/pairs/(?P<direction>out|in)/$",
                view(self.pairs_view),
                name="accounts_account_pairs",
            ),
            *super().get_urls(),
        ]

    def _managed_account(self, request, object_id):
        """The account, if visible (else None), after the manage check (403)."""
        account = self.get_object(request, object_id)
        if account is not None and not selectors.can_manage(request.user, account):
            raise PermissionDenied
        return account

    def _money_context(self, account, **context):
        """What every money page of one account shows (breadcrumbs, header)."""
        return {"original": account, "account": account, **context}

    def _sees(self, request, account) -> bool:
        """Whether the user may see the account's balances (not only uid/name)."""
        return self.get_queryset(request).filter(pk=account.pk).exists()

    def pairs_view(self, request, object_id, direction):
        """Every transfer pair of the account one way, 50 a page (the account
        page shows the first ones)."""
        account = self.get_object(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        page = Paginator(selectors.list_pairs(account, direction), 50).get_page(
            request.GET.get("page")
        )
        rows = selectors.revocable_rows(account, page.object_list)
        can_manage = selectors.can_manage(request.user, account)
        return TemplateResponse(
            request,
            f"{TEMPLATES}pairs.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": account,
                "account": account,
                "title": _("Transferred to (revocable by this account)")
                if direction == "out"
                else _("Received from (revocable by the sender)"),
                "direction": direction,
                "page": page,
                "rows": rows,
                "row_actions": revoke_rows(
                    account, rows, can_manage and direction == "out"
                ),
            },
        )

    def targets_view(self, request, object_id):
        """Select2 results: accounts the user may name as transfer destination."""
        account = self._managed_account(request, object_id)
        if account is None:
            return JsonResponse({"results": [], "pagination": {"more": False}})
        term = request.GET.get("term", "").strip()
        qs = selectors.list_transfer_destinations(request.user, account)
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

    def _movement_view(
        self,
        request,
        source,
        form,
        *,
        blocks,
        preview,
        refusals,
        act,
        done,
        kind,
        context,
    ):
        """Transfer and revocation: the same steps between two accounts."""

        def moved(_movement, data):
            destination = data["destination"]
            return done % {
                "amount": format_amount(data["amount"]),
                "currency": source.currency,
                "destination": f"{destination.name} ({destination.uid})",
            }

        return self.confirmation_view(
            request,
            obj=source,
            form=form,
            blocks=blocks,
            refusals=lambda d: refusals(d["destination"], d["amount"]),
            review=lambda d: {
                "preview": preview(source, d["destination"], d["amount"]),
                "show_destination_balances": self._sees(request, d["destination"]),
            },
            act=lambda d: act(source=source, actor=request.user, **d),
            done=moved,
            redirect_to=reverse("admin:accounts_account_change", args=[source.pk]),
            title=MOVEMENT_TITLES[kind][0],
            review_title=MOVEMENT_TITLES[kind][1],
            form_template=f"{TEMPLATES}{kind}_form.html",
            review_template=f"{TEMPLATES}{kind}_confirm.html",
            context=self._money_context(source, **context),
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
        return self._movement_view(
            request,
            source,
            form,
            blocks=lambda: selectors.transfer_blocks(source),
            preview=selectors.preview_transfer,
            refusals=lambda destination, amount: selectors.transfer_refusals(
                source, destination, amount
            ),
            act=services.transfer_balance,
            done=_("Transferred %(amount)s %(currency)s to %(destination)s."),
            kind="transfer",
            context={
                "transferable": selectors.get_transferable(source),
                "media": self.media + form.media,
            },
        )

    def revoke_view(self, request, object_id):
        source = self._managed_account(request, object_id)
        if source is None:
            return self.does_not_exist(request, object_id)
        # Any account the user may name, as in the API: one this account never
        # transferred to gets the service's own sentence (no_prior_transfer),
        # not "doesn't exist"; one it may not name answers like a missing id.
        destinations = selectors.list_target_accounts(request.user)
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
        return self._movement_view(
            request,
            source,
            form,
            blocks=lambda: selectors.revocation_blocks(revocable) if revocable else [],
            preview=selectors.preview_revocation,
            refusals=lambda destination, amount: selectors.revocation_refusals(
                selectors.get_revocable(source, destination), amount
            ),
            act=services.revoke_transfer,
            done=_("Took back %(amount)s %(currency)s from %(destination)s."),
            kind="revoke",
            context={"revocable": revocable, "destination": destination},
        )

    def top_up_view(self, request, object_id):
        account = self.get_object(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        if not roles.is_operator(request.user):
            raise PermissionDenied

        def review(data):
            preview = selectors.preview_top_up(account, data["amount"])
            return {
                "amount": data["amount"],
                "cash_after": preview.cash_after,
                "uncleared_after": preview.uncleared_after,
                "settles": preview.settles,
            }

        return self.confirmation_view(
            request,
            obj=account,
            form=TopUpForm(request.POST or None),
            review=review,
            act=lambda d: services.top_up(
                account=account, amount=d["amount"], actor=request.user
            ),
            done=lambda _movement, d: (
                _("Topped up %(amount)s %(currency)s.")
                % {"amount": format_amount(d["amount"]), "currency": account.currency}
            ),
            redirect_to=reverse("admin:accounts_account_change", args=[account.pk]),
            title=_("Top up"),
            review_title=_("Confirm top-up"),
            form_template=f"{TEMPLATES}top_up_form.html",
            review_template=f"{TEMPLATES}top_up_confirm.html",
            context=self._money_context(account),
        )

    def credit_limit_view(self, request, object_id):
        account = self.get_object(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        if not selectors.can_set_limit(request.user, account):
            raise PermissionDenied
        return self.confirmation_view(
            request,
            obj=account,
            form=CreditLimitForm(request.POST or None),
            # The service's own rules, checked before any review page.
            blocks=lambda: selectors.credit_limit_blocks(account),
            refusals=lambda d: selectors.credit_limit_refusals(account, d["amount"]),
            review=lambda d: {
                "amount": d["amount"],
                "available_after": selectors.available_with_limit(account, d["amount"]),
            },
            act=lambda d: set_credit_limit(
                account=account, amount=d["amount"], actor=request.user
            ),
            done=lambda result, d: _limit_message(account, d["amount"], *result),
            redirect_to=reverse("admin:accounts_account_change", args=[account.pk]),
            title=_("Set credit limit"),
            review_title=_("Confirm credit limit"),
            form_template=f"{TEMPLATES}credit_limit_form.html",
            review_template=f"{TEMPLATES}credit_limit_confirm.html",
            context=self._money_context(
                account,
                bounds=selectors.get_credit_bounds(account),
                pending_contract=selectors.get_pending_contract(account),
                first_time=not selectors.has_confirmed_contract(account),
                disabled_state=selectors.get_disabled_state(account),
            ),
        )

    def request_access_view(self, request, object_id):
        account = self._managed_account(request, object_id)
        if account is None:
            return self.does_not_exist(request, object_id)
        return self.confirmation_view(
            request,
            obj=account,
            form=RequestAccessForm(request.POST or None),
            blocks=lambda: selectors.access_request_refusals(account),
            act=lambda d: request_access(
                account=account, actor=request.user, message=d["message"]
            ),
            done=lambda _request, d: _(
                "Your request was sent to the business manager."
            ),
            redirect_to=reverse("admin:accounts_account_change", args=[account.pk]),
            title=_("Request access"),
            review_template=f"{TEMPLATES}request_access.html",
            context=self._money_context(
                account,
                disabled_state=selectors.get_disabled_state(account),
                business_manager=account.company.business_manager
                if account.company
                else None,
            ),
        )

    @admin.action(description=_("Settle the selected accounts now"))
    def settle_selected(self, request, queryset):
        token = confirmation_token(request, flag="post")
        if token is not None:
            # The selection, not what is owing now: a replay must match.
            data = {"action": "settle_selected", "accounts": queryset}
            try:
                return self.run_confirmed(
                    request,
                    token=token,
                    data=data,
                    act=lambda: self._settle(request, queryset),
                )
            except DomainError as err:
                for why in err.reasons:
                    self.message_user(request, why.message, messages.ERROR)
                return None
        accounts = list(queryset)
        rows = [(a, selectors.get_settleable_amount(a)) for a in accounts]
        return TemplateResponse(
            request,
            f"{TEMPLATES}settle_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Settle accounts"),
                "opts": self.opts,
                "queryset": queryset,
                "rows": [(a, paid) for a, paid in rows if paid > 0],
                "nothing_to_settle": [a for a, paid in rows if paid <= 0],
                "confirmation_token": new_confirmation_token(),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _settle(self, request, queryset):
        settled = 0
        for account in queryset:
            if services.settle_account(account=account, actor=request.user):
                self.log_change(request, account, "Settled uncleared charges.")
                settled += 1
        message = (
            ngettext("Settled %d account.", "Settled %d accounts.", settled) % settled
        )
        return message, request.get_full_path()


TEMPLATES = "admin/accounts/account/"
MOVEMENT_TITLES = {
    "transfer": (_("Transfer funds"), _("Confirm transfer")),
    "revoke": (_("Revoke funds"), _("Confirm revocation")),
}


def _limit_message(account, amount, state, contract):
    if state == "pending_contract":
        return _(
            "The limit of %(amount)s %(currency)s is pending: it takes "
            "effect when an owner confirms contract #%(contract)s in "
            "Contracts."
        ) % {
            "amount": format_amount(amount),
            "currency": account.currency,
            "contract": contract.pk,
        }
    return _("The credit limit is now %(amount)s %(currency)s.") % {
        "amount": format_amount(amount),
        "currency": account.currency,
    }


def _extra_panels(request, account):
    """Panels other apps add to the account page (``ACCOUNT_PAGE_PANELS``:
    ``callable(account, user)``), so that accounts imports none of them."""
    return render_panels(settings.ACCOUNT_PAGE_PANELS, request, account, request.user)


def _unique(reasons, *, skip=()):
    """Reasons without repeats (by code and sentence), leaving out ``skip`` codes."""
    seen, result = set(), []
    for why in reasons:
        if why.code in skip or (why.code, why.message) in seen:
            continue
        seen.add((why.code, why.message))
        result.append(why)
    return result


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _currency_totals(queryset):
    """Totals per currency of what the overview's filters show."""
    return [
        {
            "currency": t.currency,
            "cash": format_amount(t.cash),
            "transferred_in": format_amount(t.transferred_in),
            "uncleared": format_amount(t.uncleared),
            "limit": format_amount(t.credit_limit),
            "available": format_amount(t.available),
        }
        for t in selectors.list_currency_totals(queryset)
    ]
