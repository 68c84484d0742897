"""Exactly-once requests: the API's Idempotency-Key and the portal's
confirmation tokens (SPEC §8) share one core, ``run_once``.

The key's row is inserted in the same transaction as the movement. A second
request with the same key blocks on the unique index until the first commits
(then replays its response) or rolls back (then proceeds itself); if it waits
longer than ``LOCK_TIMEOUT`` it gets 409 ``idempotency_request_in_progress``.
A 409 refusal is stored and replayed too; an unexpected error stores nothing.
"""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .db import run_in_transaction
from .errors import DomainError, IdempotencyConflict, Reason, reason
from .models import IdempotencyRecord

LOCK_TIMEOUT = "10s"
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _canonical(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, QuerySet):
        return sorted(value.values_list("pk", flat=True))
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def fingerprint(request, validated: dict) -> str:
    payload = json.dumps(
        [request.method, request.path, _canonical(validated)],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def idempotent(request, validated: dict, action) -> Response:
    """Run ``action() -> (status, body)`` at most once per (user, key, request)."""
    key = request.headers.get(HEADER)
    if key is None:
        return _respond(*run_in_transaction(_run_action, action))
    if not key.strip():
        # A blank key is a client bug, not "no key": never run it unkeyed.
        raise ValidationError({HEADER: ["Enter a key; it cannot be blank."]})
    if len(key) > MAX_KEY_LENGTH:
        # Never truncate: two long keys sharing a prefix must not collide.
        raise ValidationError({HEADER: [f"Use at most {MAX_KEY_LENGTH} characters."]})
    return _respond(
        *run_once(
            user=request.user,
            key=key,
            fingerprint=fingerprint(request, validated),
            action=action,
        )
    )


def run_once(*, user, key: str, fingerprint: str, action, wording=None):
    """Run ``action() -> (status, body)`` at most once per (user, key).

    The same key with the same ``fingerprint`` gets the stored (status, body);
    with another fingerprint, 409 ``idempotency_key_reused``; while the first
    is still running (after ``LOCK_TIMEOUT``), 409
    ``idempotency_request_in_progress``. A ``DomainError`` raised by ``action``
    is stored and replayed as its (status, body). ``wording`` may give other
    sentences for those two codes (the portal does not speak of keys).
    """
    try:
        return run_in_transaction(_run_keyed, user, key, fingerprint, action, wording)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return _conflict("idempotency_request_in_progress", wording)


def _conflict(code: str, wording) -> tuple[int, dict]:
    sentence = (wording or {}).get(code)
    why = reason(code) if sentence is None else Reason(code, str(sentence))
    err = IdempotencyConflict([why])
    return err.status, err.as_body()


def _run_action(action):
    try:
        with transaction.atomic():
            return action()
    except DomainError as err:
        return err.status, err.as_body()


def _run_keyed(user, key, print_, action, wording):
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    expired_before = timezone.now() - timedelta(
        hours=settings.IDEMPOTENCY_KEY_TTL_HOURS
    )
    IdempotencyRecord.objects.filter(
        user=user, key=key, created_at__lt=expired_before
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user, key=key, fingerprint=print_
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(user=user, key=key)
        if record.fingerprint != print_:
            return _conflict("idempotency_key_reused", wording)
        return record.response_status, record.response_body
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = 0")
    status, body = _run_action(action)
    record.response_status = status
    record.response_body = body
    record.save(update_fields=["response_status", "response_body"])
    return status, body


def _respond(status, body) -> Response:
    return Response(body, status=status)
