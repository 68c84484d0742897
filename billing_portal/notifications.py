"""The outbox (SPEC §7): notices are rows written in the caller's transaction;
after commit a task sends each one; a periodic sweep re-sends rows still queued,
so a crash between commit and enqueue loses nothing."""

from django.db import transaction

from .models import Notification
from .tasks import send_notification

Channel = Notification.Channel


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
