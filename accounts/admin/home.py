"""The accounts app's part of the home page (``billing_portal.admin_site``,
through ``ADMIN_HOME_ATTENTION`` and ``ADMIN_HOME_PANELS``): what waits in
credit control and the enterprise structure, and the balances per currency of
the accounts the user sees, with their last 30 days."""

from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.admin_site import (
    BUSINESS,
    CUSTOMER,
    OPERATIONS,
    Attention,
    url_with,
)
from billing_portal.money import ZERO, format_amount

from .. import selectors
from .panels import CHART_TEMPLATE, balance_chart

#: Above this many visible accounts the home page leaves the transferable sum to
#: the overview (it is the overview's column added up, account by account).
TRANSFERABLE_SUM_MAX_ACCOUNTS = 1000
CHART_HEIGHT = 140


def attention(user) -> list[Attention]:
    if roles.is_operator(user):
        return [
            Attention(
                OPERATIONS,
                _("Companies waiting for verification"),
                selectors.list_companies_to_verify(user).count(),
                url_with(
                    "admin:accounts_company_changelist",
                    verification_status__exact="unverified",
                ),
            )
        ]
    if roles.is_cbm(user):
        return [
            Attention(
                BUSINESS,
                _("Access requests waiting for your decision"),
                selectors.list_access_requests_to_decide(user).count(),
                url_with(
                    "admin:accounts_accessrequest_changelist",
                    status__exact="requested",
                    business_manager__id__exact=user.pk,
                ),
            )
        ]
    if not selectors.administers_accounts(user):
        return []  # read-only access: nothing here waits for this user
    contracts = "admin:accounts_contract_changelist"
    return [
        Attention(
            CUSTOMER,
            _("Contracts waiting for your confirmation"),
            selectors.list_contracts_to_confirm(user).count(),
            url_with(contracts, status__exact="pending", confirmer="me"),
        ),
        Attention(
            CUSTOMER,
            _("Contracts waiting for an owner's confirmation"),
            selectors.list_contracts_awaiting_owner(user).count(),
            url_with(contracts, status__exact="pending", confirmer="owner"),
            note=_("Only an owner of the account can confirm a contract."),
        ),
        Attention(
            CUSTOMER,
            _("Invitations waiting for an answer"),
            selectors.list_pending_invitations(user).count(),
            url_with(
                "admin:accounts_financialrelationship_changelist",
                status__exact="pending",
            ),
        ),
        Attention(
            CUSTOMER,
            _("Your access requests waiting for the business manager"),
            selectors.list_own_open_access_requests(user).count(),
            url_with(
                "admin:accounts_accessrequest_changelist",
                status__exact="requested",
                requested_by__id__exact=user.pk,
            ),
        ),
    ]


def balances_panel(request) -> dict | None:
    """Balances per currency of the accounts the user sees (the overview's
    totals, and its Transferable column added up) and their last 30 days."""
    accounts = selectors.list_visible_accounts(request.user)
    totals = selectors.list_currency_totals(accounts)
    if not totals:
        return None
    count = sum(t.accounts for t in totals)
    transferable = (
        selectors.sum_transferable(accounts)
        if count <= TRANSFERABLE_SUM_MAX_ACCOUNTS
        else None
    )
    history = selectors.list_balance_history(accounts)
    rows = [
        {
            "currency": t.currency,
            "accounts": t.accounts,
            "cash": format_amount(t.cash),
            "uncleared": format_amount(t.uncleared),
            "limit": format_amount(t.credit_limit),
            "available": format_amount(t.available),
            "transferable": format_amount(transferable.get(t.currency, ZERO))
            if transferable is not None
            else None,
            "url": url_with(
                "admin:accounts_account_changelist", currency__exact=t.currency
            ),
            "chart": balance_chart(
                history[t.currency],
                limit=t.credit_limit,
                currency=t.currency,
                height=CHART_HEIGHT,
            ),
        }
        for t in totals
    ]
    return {
        "id": "balances",
        "title": _("Balances"),
        "template": "admin/accounts/includes/home_balances.html",
        "context": {
            "rows": rows,
            "chart_template": CHART_TEMPLATE,
            "transferable_limit": TRANSFERABLE_SUM_MAX_ACCOUNTS,
        },
    }
