"""Cross-cutting records: idempotency keys and the audit trail."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyRecord(models.Model):
    """The first response to a money-moving request sent with an Idempotency-Key.

    The row is inserted in the same transaction as the movement it guards, so a
    concurrent request with the same key waits on the unique index and then sees
    the committed response (or inserts the key itself if the first rolled back).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("user")
    )
    key = models.CharField(max_length=255, verbose_name=_("key"))
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    response_status = models.PositiveSmallIntegerField(
        null=True, verbose_name=_("response status")
    )
    response_body = models.JSONField(null=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")
        ]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class AuditEvent(models.Model):
    """Who changed what, when, with the values before and after. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        verbose_name=_("actor"),
    )
    action = models.CharField(max_length=64, verbose_name=_("action"))
    target_type = models.CharField(max_length=64, verbose_name=_("target type"))
    target_id = models.CharField(max_length=64, verbose_name=_("target id"))
    before = models.JSONField(default=dict, blank=True, verbose_name=_("before"))
    after = models.JSONField(default=dict, blank=True, verbose_name=_("after"))
    at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("at"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.action} {self.target_type}#{self.target_id}"


class Notification(models.Model):
    """An outbox row: an SMS or in-portal notice, written in the same transaction
    as the change it reports, sent after commit by a task (SPEC §7)."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        PORTAL = "portal", _("Portal")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    channel = models.CharField(
        max_length=8, choices=Channel.choices, verbose_name=_("channel")
    )
    to = models.CharField(
        max_length=150, help_text=_("Mobile number or username."), verbose_name=_("to")
    )
    template = models.CharField(max_length=64, verbose_name=_("template"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
        verbose_name=_("account"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Recipient of a portal notice.",
        verbose_name=_("user"),
    )
    status = models.CharField(
        max_length=8,
        choices=Status.choices,
        default=Status.QUEUED,
        verbose_name=_("status"),
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    provider_message_id = models.CharField(
        max_length=128, blank=True, verbose_name=_("provider message id")
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status", "created_at"], name="notification_queue_idx"
            ),
            models.Index(fields=["account", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.channel} to {self.to}: {self.template} ({self.status})"


def _default_time_zone():
    return settings.DEFAULT_USER_TIME_ZONE


class UserPreference(models.Model):
    """How one person reads the portal: its time zone and its language.

    Absent means the default (``DEFAULT_USER_TIME_ZONE``); the API ignores it
    (instants there are always UTC).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="preference",
        verbose_name=_("user"),
    )
    time_zone = models.CharField(
        max_length=64,
        default=_default_time_zone,
        verbose_name=_("time zone"),
        help_text=_("Times in the portal are shown in this zone, labelled."),
    )
    #: Empty: the language the browser asks for (or the header's switch).
    language = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=settings.LANGUAGES,
        verbose_name=_("language"),
        help_text=_("The portal's language for this person, on any browser."),
    )

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self):
        return f"{self.user_id}: {self.time_zone}"
