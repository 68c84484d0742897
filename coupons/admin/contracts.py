"""The coupon credit pools' section of the Contracts view (SPEC §6), rendered by
``accounts``' ContractAdmin through ``settings.CONTRACTS_VIEW_SECTIONS``: a CBM
sees its pool requests and files new ones, an operator decides the requested
pools, and enterprise administrators see their management account's pools."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.selectors import can_manage
from billing_portal import roles
from billing_portal.actions import action

from .. import selectors
from ..models import CreditPool
from .pools import empty_state_context, issue_action

Status = CreditPool.Status
TEMPLATE = "admin/coupons/contracts_section.html"
#: Pools listed in the section; the pool list has the rest.
SECTION_ROWS = 20


def contracts_section(request) -> dict | None:
    """``{"template", "context"}`` of the section for this user."""
    user = request.user
    pools = selectors.list_visible_pools(user).select_related(
        "requested_by", "decided_by"
    )
    context = {
        "pools_url": reverse("admin:coupons_creditpool_changelist"),
        "request_url": reverse("admin:coupons_creditpool_request"),
    }
    if roles.is_operator(user):
        waiting = pools.filter(status=Status.REQUESTED).order_by("id")
        context.update(
            role="operator",
            waiting=waiting[:SECTION_ROWS],
            waiting_count=waiting.count(),
        )
    elif roles.is_cbm(user):
        context.update(
            role="cbm",
            requests=pools.order_by("-id")[:SECTION_ROWS],
            request_action=action(
                _("Request a coupon credit pool"),
                context["request_url"],
                selectors.pool_request_blocks(user),
            ),
        )
    else:
        rows = list(pools.order_by("-id")[:SECTION_ROWS])
        managed: dict[int, bool] = {}
        for pool in rows:
            account = pool.management_account
            if account.pk not in managed:
                managed[account.pk] = can_manage(user, account)
            pool.issue = (
                issue_action(pool)
                if managed[account.pk] and pool.status == Status.APPROVED
                else None
            )
        context.update(
            role="administrator",
            granted=[p for p in rows if p.status in (Status.APPROVED, Status.EXPIRED)],
            requested=[
                p for p in rows if p.status in (Status.REQUESTED, Status.REJECTED)
            ],
        )
    if not pools.exists():
        context.update(empty_state_context(user))
    return {"template": TEMPLATE, "context": context}
