"""The account pages' buttons, each decided by the refusal selector its
service calls under lock (``billing_portal.actions``): enabled when the
action can succeed now, else disabled with the service's own sentences."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing_portal.actions import action

from .. import selectors


def transfer_action(account):
    """ "Transfer funds" for an administrator of ``account``: disabled while a
    rule blocks every transfer out of it or nothing is transferable."""
    return action(
        _("Transfer funds"),
        reverse("admin:accounts_account_transfer", args=[account.pk]),
        selectors.transfer_blocks(account),
        lead=_("Nothing can be transferred:"),
    )


def revoke_rows(account, revocables, can_manage: bool):
    """Each pair the account sent funds through, with its "Revoke" button for
    the account's administrators (None for the others): disabled while
    nothing can be taken back from that destination."""
    url = reverse("admin:accounts_account_revoke", args=[account.pk])
    return [
        (
            revocable,
            action(
                _("Revoke"),
                f"{url}?destination={revocable.destination.pk}",
                selectors.revocation_blocks(revocable),
            )
            if can_manage
            else None,
        )
        for revocable in revocables
    ]


def limit_action(account, blocks, pending_contract):
    """ "Set credit limit" for whoever sets it: disabled while a rule blocks
    every change (``credit_limit_blocks``), with a way to the pending
    contract that blocks it."""
    extra = {}
    if pending_contract is not None:
        extra = {
            "help_url": reverse(
                "admin:accounts_contract_change", args=[pending_contract.pk]
            ),
            "help_label": _("Open contract #%(pk)s") % {"pk": pending_contract.pk},
        }
    return action(
        _("Set credit limit"),
        reverse("admin:accounts_account_credit_limit", args=[account.pk]),
        blocks,
        lead=_("The credit limit cannot be changed now:"),
        **extra,
    )


def access_action(account):
    """ "Request access" while transfer and credit control are disabled:
    disabled when no request can be sent (``access_request_refusals``)."""
    return action(
        _("Request access"),
        reverse("admin:accounts_account_request_access", args=[account.pk]),
        selectors.access_request_refusals(account),
    )
