"""Sharing's part of the home page (``ADMIN_HOME_ATTENTION``): folder shares
that failed, for the administrators who share again or stop them."""

from django.utils.translation import gettext_lazy as _

from accounts.selectors import administers_accounts
from billing_portal import roles
from billing_portal.admin_site import CUSTOMER, Attention, url_with

from .. import selectors


def attention(user) -> list[Attention]:
    if roles.is_operator(user) or roles.is_cbm(user):
        return []
    if not administers_accounts(user):
        return []  # read-only access: a share is fixed by an administrator
    return [
        Attention(
            CUSTOMER,
            _("Folder shares that failed"),
            selectors.list_failed_folder_shares(user).count(),
            url_with(
                "admin:sharing_share_changelist",
                status__exact="failed",
                target__exact="folder",
            ),
            note=_(
                "Share with the folder again, or stop the share, on its asset's page."
            ),
        )
    ]
