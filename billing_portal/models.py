"""Cross-cutting records: idempotency keys and the audit trail."""

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a money-moving request sent with an Idempotency-Key.

    The row is inserted in the same transaction as the movement it guards, so a
    concurrent request with the same key waits on the unique index and then sees
    the committed response (or inserts the key itself if the first rolled back).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")
        ]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class AuditEvent(models.Model):
    """Who changed what, when, with the values before and after. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.action} {self.target_type}#{self.target_id}"


class Notification(models.Model):
    """An outbox row: an SMS or in-portal notice, written in the same transaction
    as the change it reports, sent after commit by a task (SPEC §7)."""

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        PORTAL = "portal", "Portal"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.CharField(max_length=8, choices=Channel.choices)
    to = models.CharField(max_length=150, help_text="Mobile number or username.")
    template = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Recipient of a portal notice.",
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status", "created_at"], name="notification_queue_idx"
            ),
            models.Index(fields=["account", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.channel} to {self.to}: {self.template} ({self.status})"
