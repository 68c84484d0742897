"""Background jobs of sharing, run by the worker (django-tasks-db)."""

from django_tasks import task


@task()
def resolve_share(share_id: int) -> str:
    """Apply a folder or automatic share when it falls due (SPEC §4.2, §4.3)."""
    from .services import resolve_share as resolve

    return resolve(share_id)


def resolve_due_shares() -> int:
    """The periodic sweep's safety net: shares past due whose job was lost
    (a crash between commit and enqueue) are resolved now."""
    from django.utils import timezone

    from .models import Share
    from .services import resolve_share as resolve

    due = Share.objects.filter(
        due_at__lte=timezone.now(),
        status__in=[Share.Status.PENDING, Share.Status.ACTIVE, Share.Status.FAILED],
    ).values_list("pk", flat=True)[:1000]
    return sum(resolve(pk) != "not_due" for pk in list(due))
