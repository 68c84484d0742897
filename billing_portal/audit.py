"""Record an audit event (called by services, inside their transaction)."""

from .models import AuditEvent


def record(
    *, actor, action: str, target, before: dict | None = None, after: dict | None = None
) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        before=before or {},
        after=after or {},
    )
