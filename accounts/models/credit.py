"""Credit control: quotas, contracts, limit history, access exceptions (§3.4, §3.5)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing_portal.history import tracked
from billing_portal.money import Currency, MoneyField
from billing_portal.periods import Period


class CreditQuota(models.Model):
    """How much credit a company may allocate to its accounts, per currency."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, related_name="credit_quotas"
    )
    currency = models.CharField(max_length=3, choices=Currency.choices)
    amount = MoneyField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    history = tracked(excluded_fields=["updated_at"])

    class Meta:
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
        "accounts.Account", on_delete=models.PROTECT, related_name="contracts"
    )
    kind = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.CREDIT_CONTROL
    )
    limit = MoneyField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    terms_version = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    confirmed_from = models.GenericIPAddressField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    history = tracked()

    class Meta:
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
        return f"Contract #{self.pk} {self.limit} {self.currency} ({self.status})"


class CreditLimitChange(models.Model):
    """History of an account's credit limit: who asked for what, and its fate."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Took effect")
        PENDING_CONTRACT = "pending_contract", _("Waiting for the contract")
        WITHDRAWN = "withdrawn", _("Contract withdrawn")

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="limit_changes"
    )
    before = MoneyField()
    after = MoneyField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    contract = models.ForeignKey(
        Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
        "accounts.Account", on_delete=models.PROTECT, related_name="access_requests"
    )
    business_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    message = models.TextField(blank=True)
    conditions = models.JSONField(default=list, help_text="Why it was disabled.")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.REQUESTED
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    history = tracked()

    class Meta:
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
        "accounts.Account", on_delete=models.PROTECT, related_name="access_exceptions"
    )
    request = models.OneToOneField(
        AccessRequest, on_delete=models.PROTECT, related_name="exception"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    history = tracked()

    class Meta:
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
        return f"Exception for {self.account_id} from {self.start}"
