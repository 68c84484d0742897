"""Panels that sharing adds to the accounts app's account page, through the
``ACCOUNT_PAGE_PANELS`` setting (accounts never imports sharing)."""

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import selectors
from .common import PANEL_ROWS


def benefits_panel(account, user) -> dict:
    """Benefits shared with the account, now and in the past (newest first)."""
    periods = list(
        selectors.list_benefits_of(account).select_related(
            "share", "share__folder", "asset__owner"
        )[: PANEL_ROWS + 1]
    )
    return {
        "id": "benefits",
        "title": _("Benefits shared with this account"),
        "template": "admin/sharing/includes/benefits_panel.html",
        "context": {
            "account": account,
            "periods": periods[:PANEL_ROWS],
            "more": len(periods) > PANEL_ROWS,
            "now": timezone.now(),
            "all_url": reverse("admin:sharing_asset_changelist")
            + f"?recipient={account.pk}",
            "owned_url": reverse("admin:sharing_asset_changelist")
            + f"?owner={account.pk}",
        },
    }
