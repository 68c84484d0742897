"""Periods ``[start, end)``: one helper answers "was it active at t" everywhere.

Relationships, share periods, access exceptions and overdue episodes are stored
as periods. ``end`` is NULL while a period is open. "Active at t" means
``start <= t < end``, compared exactly (SPEC §1).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PeriodQuerySet(models.QuerySet):
    def active_at(self, at):
        """Periods covering the instant ``at``: start <= at < end (or open)."""
        return self.filter(start__lte=at).filter(Q(end__isnull=True) | Q(end__gt=at))

    def open(self):
        return self.filter(end__isnull=True)


class Period(models.Model):
    """Abstract ``[start, end)`` period; ``end`` NULL means still open."""

    start = models.DateTimeField(verbose_name=_("start"))
    end = models.DateTimeField(null=True, blank=True, verbose_name=_("end"))

    objects = PeriodQuerySet.as_manager()

    class Meta:
        abstract = True
        constraints = []

    def is_active_at(self, at) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    @staticmethod
    def end_after_start(prefix: str) -> models.CheckConstraint:
        return models.CheckConstraint(
            condition=Q(end__isnull=True) | Q(end__gte=models.F("start")),
            name=f"{prefix}_end_after_start",
        )
