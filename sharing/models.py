"""Usage records (and, with the sharing issue, assets and their deductions)."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Charge
from billing_portal.money import Currency, MoneyField


class UsageRecord(models.Model):
    """One bill line from a metering source; unique per (source, external_id)."""

    class BillType(models.TextChoices):
        SUBSCRIPTION = "subscription", _("Subscription")
        PAY_AS_YOU_GO = "pay_as_you_go", _("Pay as you go")

    source = models.CharField(max_length=64, default="api")
    external_id = models.CharField(max_length=128)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="usage")
    product = models.CharField(max_length=64)
    bill_type = models.CharField(max_length=16, choices=BillType.choices)
    usage_start = models.DateTimeField()
    usage_end = models.DateTimeField()
    amount = MoneyField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    billed_at = models.DateTimeField()
    instance_type = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True
    )
    charged_amount = MoneyField()
    charge = models.OneToOneField(
        Charge,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_record",
    )
    payer = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-usage_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="usage_source_external_id"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="usage_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(usage_end__gte=F("usage_start")),
                name="usage_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(charged_amount__gte=0) & Q(charged_amount__lte=F("amount")),
                name="usage_charged_within_amount",
            ),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id}"
