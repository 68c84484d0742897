"""Coupon credit pools' part of the home page (``ADMIN_HOME_ATTENTION``):
requests for the operators to decide, the CBM's requests still waiting, and
approved pools whose value the enterprise administrators can still issue."""

from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.admin_site import (
    BUSINESS,
    CUSTOMER,
    OPERATIONS,
    Attention,
    url_with,
)

from .. import selectors

POOLS = "admin:coupons_creditpool_changelist"


def attention(user) -> list[Attention]:
    if roles.is_operator(user):
        return [
            Attention(
                OPERATIONS,
                _("Pool requests waiting for your approval"),
                selectors.list_pool_requests(user).count(),
                url_with(POOLS, status__exact="requested"),
            )
        ]
    if roles.is_cbm(user):
        return [
            Attention(
                BUSINESS,
                _("Your pool requests waiting for an operator's approval"),
                selectors.list_pool_requests(user).count(),
                url_with(POOLS, status__exact="requested"),
            )
        ]
    return [
        Attention(
            CUSTOMER,
            _("Approved pools with value left to issue as coupons"),
            selectors.list_pools_to_issue(user).count(),
            url_with(POOLS, issuable="yes"),
        )
    ]
