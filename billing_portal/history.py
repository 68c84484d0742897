"""Change history of the mutable models (django-simple-history), in one place.

Every model whose rows people change (limits, quotas, companies, accounts,
access, relationships, folders, assets, shares, rules, pools, coupons,
products) declares ``history = tracked(...)``: each save writes a historical
row with who, when and the values after it, so the admin's History page shows
"field: before → after" per change. Money is not here: it lives in the ledger
(``Movement``/``Posting``, with its actor), and the balances cached on holders
(``own_cash``, ``remaining``, …) are excluded from history — ``ledger.post``
writes them with raw SQL, which sends no signal, so the money paths (transfer,
usage) gain no statement.

Who: the service's ``actor`` (``@service`` sets it for the duration of the
call, so the worker and management commands record it too), else the user of
the request (``HistoryRequestMiddleware``; DRF's token authentication sets the
user on the Django request as well), else nobody (a system change: expiry).
"""

import contextlib
import contextvars
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from simple_history.models import HistoricalRecords

_actor: contextvars.ContextVar = contextvars.ContextVar("history_actor", default=None)


@contextlib.contextmanager
def acting_as(user):
    """Record ``user`` as the author of history rows written inside the block."""
    token = _actor.set(user if getattr(user, "is_authenticated", False) else None)
    try:
        yield
    finally:
        _actor.reset(token)


def history_user(*, instance=None, request=None, **kwargs):
    """The author of a historical row: the service's actor, else the request's."""
    actor = _actor.get()
    if actor is not None:
        return actor
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def tracked(*, excluded_fields=(), **kwargs) -> HistoricalRecords:
    """The portal's ``HistoricalRecords``, authored by ``history_user``; a
    deletion is a row of its own (the history outlives its object)."""
    return HistoricalRecords(
        get_user=history_user,
        excluded_fields=list(excluded_fields),
        **kwargs,
    )


def record_changes(objs) -> None:
    """History rows for rows changed by ``QuerySet.update()`` (which sends no
    signal): call it with the changed objects, re-read after the update."""
    objs = list(objs)
    if objs:
        type(objs[0]).history.bulk_history_create(objs, update=True)


def record_created(objs) -> None:
    """History rows for rows made by ``bulk_create`` (no signal either)."""
    objs = list(objs)
    if objs:
        type(objs[0]).history.bulk_history_create(objs)


# --- reading: the History page -------------------------------------------------

#: How many historical rows of one source a History page reads at most (the
#: newest); an object's own history is short, this bounds the exceptions.
MAX_ROWS = 1000

#: Fields a change entry never lists: the key, and creation times (the entry's
#: own time says when).
SKIPPED_FIELDS = {"id", "created_at", "invited_at", "requested_at", "issued_at"}


def has_history(model) -> bool:
    return hasattr(model, "history") and hasattr(model.history, "model")


@dataclass
class Change:
    field: str
    before: str
    after: str


@dataclass
class Entry:
    """One historical row as the History page shows it."""

    at: datetime
    user: object
    kind: str  # "created", "changed", "deleted"
    subject: str  # what changed: "" for the object itself, else "Share #12"
    changes: list[Change] = field(default_factory=list)


_KINDS = {"+": "created", "~": "changed", "-": "deleted"}


def list_changes(obj, *, related=()) -> list[Entry]:
    """The change history of ``obj`` and of the rows of ``related`` models
    ((model, foreign key name) pairs) that point at it, newest first.

    The caller has checked that the user may see ``obj``; related rows are
    those that named ``obj`` in the history row itself.
    """
    sources = [(type(obj), {"id": obj.pk}, "")]
    for model, fk in related:
        sources.append((model, {f"{fk}_id": obj.pk}, str(model._meta.verbose_name)))
    entries: list[Entry] = []
    rows_by_source = []
    for model, lookup, subject in sources:
        rows = list(
            model.history.filter(**lookup)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")[:MAX_ROWS]
        )
        rows.reverse()
        rows_by_source.append((model, rows, subject))
    labels = _related_labels(rows_by_source)
    for model, rows, subject in rows_by_source:
        fields = [
            f
            for f in model.history.model.tracked_fields
            if f.name not in SKIPPED_FIELDS
        ]
        previous: dict[int, object] = {}
        for row in rows:
            before = previous.get(row.id)
            previous[row.id] = row
            kind = _KINDS[row.history_type]
            changes = []
            if kind != "deleted":
                for f in fields:
                    new = getattr(row, f.attname)
                    old = getattr(before, f.attname) if before is not None else None
                    if before is None and new in (None, "", []):
                        continue
                    if before is not None and old == new:
                        continue
                    changes.append(
                        Change(
                            str(f.verbose_name),
                            _show(f, old, labels) if before is not None else "—",
                            _show(f, new, labels),
                        )
                    )
                if kind == "changed" and not changes:
                    continue
            entries.append(
                Entry(
                    at=row.history_date,
                    user=row.history_user,
                    kind=kind,
                    subject=f"{subject} #{row.id}" if subject else "",
                    changes=changes,
                )
            )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def _related_labels(rows_by_source) -> dict:
    """The names of the objects the rows' foreign keys point to, one query per
    related model: {(model, pk): name}."""
    wanted: dict = {}
    for model, rows, _subject in rows_by_source:
        for f in model.history.model.tracked_fields:
            if f.is_relation and f.many_to_one:
                target = f.related_model
                ids = {getattr(r, f.attname) for r in rows} - {None}
                wanted.setdefault(target, set()).update(ids)
    labels = {}
    for target, ids in wanted.items():
        if ids:
            for pk, instance in target._base_manager.in_bulk(list(ids)).items():
                labels[(target, pk)] = (
                    instance.get_username()
                    if hasattr(instance, "get_username")
                    else str(instance)
                )
    return labels


def _show(f, value, labels) -> str:
    """A field's value as a person reads it."""
    if value is None or value == "":
        return "—"
    if f.is_relation and f.many_to_one:
        return labels.get((f.related_model, value), f"#{value}")
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list):
        base = getattr(f, "base_field", None)
        choices = dict(base.flatchoices) if base is not None else {}
        return ", ".join(str(choices.get(v, v)) for v in value) or "—"
    if f.flatchoices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return formats.localize(timezone.localtime(value))
    return str(value)
