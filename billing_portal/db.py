"""Transactions for services: one outermost transaction, retried on conflicts.

Services lock rows in one global order, so deadlocks should not happen; if the
database still reports a serialization failure (40001) or a deadlock (40P01),
the *outermost* transaction is retried a bounded number of times with a short
backoff. A nested call joins the caller's transaction and never retries on its
own: only the outermost block can safely start over.
"""

import functools
import random
import time

from django.conf import settings
from django.db import OperationalError, connection, transaction

from .history import acting_as

RETRYABLE_SQLSTATES = {"40001", "40P01"}


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def run_in_transaction(fn, *args, **kwargs):
    """Run ``fn`` in a transaction; retry the whole of it on serialization failure."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return fn(*args, **kwargs)
    attempts = settings.SERVICE_TRANSACTION_RETRIES
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return fn(*args, **kwargs)
        except OperationalError as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def service(fn):
    """Mark a module-level function as a service: one retried transaction,
    whose change history names its ``actor`` (billing_portal.history)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "actor" not in kwargs:
            return run_in_transaction(fn, *args, **kwargs)
        with acting_as(kwargs["actor"]):
            return run_in_transaction(fn, *args, **kwargs)

    return wrapper
