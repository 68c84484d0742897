from django.db import models

from billing_portal.money import ZERO, Currency, MoneyField


class Voucher(models.Model):
    """A prepaid book that deducts usage: like a benefit, unknown to accounts."""

    currency = models.CharField(max_length=3, choices=Currency.choices)
    remaining = MoneyField(default=ZERO)
    # A field with its own conversion from the database (read back by lock()).
    terms = models.JSONField(default=dict)

    class Meta:
        app_label = "ledger_test_app"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0), name="voucher_remaining_gte_0"
            )
        ]

    def __str__(self):
        return f"voucher {self.pk}"
