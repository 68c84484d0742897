"""Credit control: quotas, contracts, limit history, access exceptions (§3.4, §3.5)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from billing_portal.history import tracked
from billing_portal.money import Currency, MoneyField
from billing_portal.periods import Period


class CreditQuota(models.Model):
    """How much credit a company may allocate to its accounts, per currency."""

    company = models.ForeignKey(
        "accounts.Company",
        on_delete=models.PROTECT,
        related_name="credit_quotas",
        verbose_name=_("company"),
    )
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    amount = MoneyField(verbose_name=_("amount"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("updated by"),
    )

    history = tracked(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("credit quota")
        verbose_name_plural = _("credit quotas")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "currency"], name="quota_company_currency"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="quota_gte_0"),
        ]

    def __str__(self):
        return f"{self.company_id} {self.amount} {self.currency}"


class Contract(models.Model):
    """A credit control contract: the first limit of an account waits for it."""

    class Kind(models.TextChoices):
        CREDIT_CONTROL = "credit_control", _("Credit control")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CONFIRMED = "confirmed", _("Confirmed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="contracts",
        verbose_name=_("account"),
    )
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.CREDIT_CONTROL,
        verbose_name=_("kind"),
    )
    limit = MoneyField(verbose_name=_("limit"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    terms_version = models.CharField(max_length=32, verbose_name=_("terms version"))
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        verbose_name=_("status"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    confirmed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("confirmed at")
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    confirmed_from = models.GenericIPAddressField(
        null=True, blank=True, verbose_name=_("confirmed from")
    )
    withdrawn_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("withdrawn at")
    )
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("withdrawn by"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="pending"),
                name="contract_one_pending_per_account",
            ),
            models.CheckConstraint(
                condition=Q(limit__gte=0), name="contract_limit_gte_0"
            ),
        ]

    def __str__(self):
        return _("Contract #%(id)s: limit %(limit)s %(currency)s (%(status)s)") % {
            "id": self.pk,
            "limit": self.limit,
            "currency": self.currency,
            "status": self.get_status_display(),
        }


class CreditLimitChange(models.Model):
    """History of an account's credit limit: who asked for what, and its fate."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Took effect")
        PENDING_CONTRACT = "pending_contract", _("Waiting for the contract")
        WITHDRAWN = "withdrawn", _("Contract withdrawn")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="limit_changes",
        verbose_name=_("account"),
    )
    before = MoneyField(verbose_name=_("before"))
    after = MoneyField(verbose_name=_("after"))
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, verbose_name=_("outcome")
    )
    contract = models.ForeignKey(
        Contract,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("contract"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(auto_now_add=True, verbose_name=_("at"))

    class Meta:
        verbose_name = _("credit limit change")
        verbose_name_plural = _("credit limit changes")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.account_id}: {self.before} → {self.after} ({self.outcome})"


class AccessRequest(models.Model):
    """A request to the company's business manager to lift the §3.5 blocks."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        GRANTED = "granted", _("Granted")
        DECLINED = "declined", _("Declined")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="access_requests",
        verbose_name=_("account"),
    )
    business_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("business manager"),
    )
    message = models.TextField(blank=True, verbose_name=_("message"))
    conditions = models.JSONField(
        default=list, help_text=_("Why it was disabled."), verbose_name=_("conditions")
    )
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.REQUESTED,
        verbose_name=_("status"),
    )
    requested_at = models.DateTimeField(
        auto_now_add=True, verbose_name=_("requested at")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    decided_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("decided at")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="requested"),
                name="access_request_one_open_per_account",
            ),
        ]

    def __str__(self):
        return f"Access request #{self.pk} ({self.get_status_display().lower()})"


class AccessException(Period):
    """A granted exception: transfer and credit control allowed despite §3.5,
    from ``start`` until revoked (``end``)."""

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="access_exceptions",
        verbose_name=_("account"),
    )
    request = models.OneToOneField(
        AccessRequest,
        on_delete=models.PROTECT,
        related_name="exception",
        verbose_name=_("request"),
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("granted by"),
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("access exception")
        verbose_name_plural = _("access exceptions")
        ordering = ["-start"]
        constraints = [
            Period.end_after_start("access_exception"),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(end__isnull=True),
                name="access_exception_one_open_per_account",
            ),
        ]

    def __str__(self):
        return _("Access exception #%(id)s from %(start)s") % {
            "id": self.pk,
            "start": formats.date_format(
                timezone.localtime(self.start), "DATETIME_FORMAT"
            ),
        }
