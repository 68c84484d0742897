"""Background tasks (Django Tasks, database backend): the worker runs them.

- ``send_notification``: send one outbox row, with bounded retries and backoff.
- ``periodic_sweep``: re-send rows still queued, settle accounts, and schedule
  its own next run (django-tasks-db has no scheduler).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from .models import Notification
from .sms import get_sender

logger = logging.getLogger(__name__)

SWEEP_TASK_PATH = "billing_portal.tasks.periodic_sweep"
#: Advisory lock id serializing schedule_sweep (any constant unique to it).
SWEEP_LOCK_KEY = 7_301_001


def backoff(attempt: int) -> timedelta:
    """Exponential backoff: 10 s, 20 s, 40 s, … capped at 10 minutes."""
    return timedelta(
        seconds=min(600, settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    )


@task()
def send_notification(notification_id: int) -> str:
    """Send one queued notification; reschedule itself on failure (bounded)."""

    with transaction.atomic():
        row = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=Notification.Status.QUEUED)
            .first()
        )
        if row is None:
            return "skipped"
        row.attempts += 1
        try:
            if row.channel == Notification.Channel.SMS:
                row.provider_message_id = get_sender().send(
                    to=row.to, template=row.template, params=row.params
                )
            # A portal notice is delivered by being in the table: the portal
            # shows the user's notices; sending marks it delivered.
        except Exception as exc:  # any sender failure is retried, then recorded
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
                row.status = Notification.Status.FAILED
                logger.warning(
                    "notification %s failed for good: %s", row.pk, row.last_error
                )
            else:
                run_after = timezone.now() + backoff(row.attempts)
                transaction.on_commit(
                    lambda: send_notification.using(run_after=run_after).enqueue(
                        notification_id
                    )
                )
            row.save(update_fields=["attempts", "last_error", "status"])
            return "retry" if row.status == Notification.Status.QUEUED else "failed"
        row.status = Notification.Status.SENT
        row.sent_at = timezone.now()
        row.last_error = ""
        row.save(
            update_fields=[
                "attempts",
                "status",
                "sent_at",
                "last_error",
                "provider_message_id",
            ]
        )
        return "sent"


def resend_stale(*, older_than: timedelta) -> int:
    """Enqueue rows still queued after ``older_than`` (lost enqueue or crash)."""
    cutoff = timezone.now() - older_than
    ids = list(
        Notification.objects.filter(
            status=Notification.Status.QUEUED, created_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for pk in ids:
        send_notification.enqueue(pk)
    return len(ids)


@task()
def periodic_sweep() -> dict:
    """Re-send stale notifications, run the periodic jobs, schedule the next run."""
    result = {
        "resent": resend_stale(
            older_than=timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS)
        )
    }
    # The apps' periodic jobs are settings (dotted paths), so this module
    # imports no app: e.g. accounts' settlement of every account.
    for name, path in settings.PERIODIC_JOBS.items():
        result[name] = import_string(path)()
    schedule_sweep()
    return result


def schedule_sweep() -> bool:
    """Enqueue the next sweep unless one is already waiting (no duplicates).

    A transaction-scoped advisory lock makes check-then-enqueue atomic across
    processes (the worker finishing a sweep, ``make run`` starting up).
    """

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SWEEP_LOCK_KEY])
        waiting = DBTaskResult.objects.filter(
            task_path=SWEEP_TASK_PATH, status__in=["READY"]
        ).exists()
        if waiting:
            return False
        run_after = timezone.now() + timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS)
        periodic_sweep.using(run_after=run_after).enqueue()
        return True
