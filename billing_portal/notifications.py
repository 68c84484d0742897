"""The outbox (SPEC §7): notices are rows written in the caller's transaction;
after commit a task sends each one; a periodic sweep re-sends rows still queued,
so a crash between commit and enqueue loses nothing."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .models import Notification
from .tasks import send_notification

Channel = Notification.Channel

#: What the person reads for each template (the SMS provider has its own
#: templates with the same parameters; these are the portal's words).
MESSAGES = {
    "credit_limit_changed": _(
        "The credit limit of account {name} ({account}) is now {limit} {currency}."
    ),
    "credit_contract_pending": _(
        "A credit control contract for account {name} ({account}), limit {limit} "
        "{currency}, is waiting for an owner's confirmation in Contracts."
    ),
    "credit_contract_withdrawn": _(
        "The credit control contract for account {name} ({account}), limit {limit} "
        "{currency}, was withdrawn."
    ),
    "access_requested": _(
        "Account {account} asks for transfer and credit control to be enabled; "
        "answer in Access requests."
    ),
    "access_granted": _(
        "Transfer and credit control were enabled for account {account}."
    ),
    "access_declined": _(
        "The request to enable transfer and credit control for account {account} "
        "was declined."
    ),
}


#: Short names of the templates, for filters.
KINDS = {
    "credit_limit_changed": _("Credit limit changed"),
    "credit_contract_pending": _("Contract waiting for confirmation"),
    "credit_contract_withdrawn": _("Contract withdrawn"),
    "access_requested": _("Access requested"),
    "access_granted": _("Access granted"),
    "access_declined": _("Access declined"),
}


def message_of(notification: Notification) -> str:
    """The sentence the person received (the template id if it has none)."""
    sentence = MESSAGES.get(notification.template)
    if sentence is None:
        return notification.template
    try:
        return str(sentence).format(**notification.params)
    except (KeyError, IndexError, ValueError):
        return str(sentence)


def queue_sms(*, account, template: str, params: dict) -> Notification | None:
    """Queue one SMS to the account's mobile number (none if it has no number)."""
    if not account.mobile:
        return None
    return _queue(
        Notification(
            channel=Channel.SMS,
            to=account.mobile,
            template=template,
            params=params,
            account=account,
        )
    )


def queue_portal_notice(*, users, account, template: str, params: dict) -> list:
    """Queue an in-portal notice to each user."""
    return [
        _queue(
            Notification(
                channel=Channel.PORTAL,
                to=user.get_username(),
                user=user,
                template=template,
                params=params,
                account=account,
            )
        )
        for user in users
    ]


def _queue(notification: Notification) -> Notification:
    notification.save()

    pk = notification.pk
    transaction.on_commit(lambda: send_notification.enqueue(pk))
    return notification
