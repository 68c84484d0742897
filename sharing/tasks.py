"""Background jobs of sharing, run by the worker (django-tasks-db)."""

from django.utils import timezone
from django_tasks import task

from . import services
from .models import Share


@task()
def resolve_share(share_id: int) -> str:
    """Apply a folder or automatic share when it falls due (SPEC §4.2, §4.3)."""
    return services.resolve_share(share_id)


def resolve_due_shares() -> int:
    """The periodic sweep's safety net: shares past due whose job was lost
    (a crash between commit and enqueue) are resolved now."""
    due = Share.objects.filter(
        due_at__lte=timezone.now(),
        status__in=[Share.Status.PENDING, Share.Status.ACTIVE, Share.Status.FAILED],
    ).values_list("pk", flat=True)[:1000]
    return sum(services.resolve_share(pk) != "not_due" for pk in list(due))
