"""Coupon credit pools (SPEC §5): a CBM's request, an operator's decision,
and the coupons an enterprise administrator issues from it.

A pool is a ledger holder: its ``unissued`` book (cached in ``remaining``)
receives the approved amount and gives what coupons are issued; a coupon is a
``sharing`` coupon asset (its ``remaining`` book is its value) with the pool
it came from and the accounts it applies to.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Company
from billing_portal.history import tracked
from billing_portal.money import Currency, MoneyField
from sharing.models import Asset, UsageRecord


class Product(models.Model):
    """The product catalogue operators maintain (the codes a scope may name)."""

    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)

    history = tracked()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("product catalogue")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class CreditPool(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    #: The only distribution target a pool may have (SPEC §5).
    DISTRIBUTION_TARGET = "enterprise_management_account"

    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        related_name="credit_pools",
        verbose_name=_("company"),
    )
    management_account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="credit_pools",
        verbose_name=_("management account"),
    )
    distribution_target = models.CharField(
        max_length=40,
        default=DISTRIBUTION_TARGET,
        verbose_name=_("distribution target"),
    )
    #: Product codes in scope; empty means every product.
    products = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        verbose_name=_("products"),
    )
    bill_types = ArrayField(
        models.CharField(max_length=16, choices=UsageRecord.BillType.choices),
        verbose_name=_("bill types"),
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    amount = MoneyField(_("total amount"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    #: Cached ledger book ``unissued``: what coupons can still be issued from.
    remaining = MoneyField(_("remaining"), default=0)
    issued_amount = MoneyField(_("issued"), default=0)
    revoked_amount = MoneyField(_("revoked back"), default=0)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.REQUESTED,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(
        auto_now_add=True, verbose_name=_("requested at")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("decided at")
    )
    rejection_reason = models.CharField(
        max_length=500, blank=True, verbose_name=_("rejection reason")
    )

    # Cached ledger balances are not history: the ledger has every change.
    history = tracked(excluded_fields=["remaining", "issued_amount", "revoked_amount"])

    class Meta:
        verbose_name = _("coupon credit pool")
        verbose_name_plural = _("coupon credit pools")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="pool_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")),
                name="pool_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(remaining__gte=0), name="pool_remaining_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(distribution_target="enterprise_management_account"),
                name="pool_distribution_target",
            ),
        ]

    def __str__(self):
        return _("Pool #%(id)s of %(company)s") % {
            "id": self.pk,
            "company": self.company.name,
        }

    def is_valid_at(self, at) -> bool:
        return self.valid_from <= at < self.valid_until


class Coupon(models.Model):
    """A coupon issued from a pool: the coupon asset, the accounts it applies
    to, and what was revoked of it."""

    asset = models.OneToOneField(
        Asset,
        on_delete=models.PROTECT,
        related_name="pool_coupon",
        verbose_name=_("asset"),
    )
    pool = models.ForeignKey(
        CreditPool,
        on_delete=models.PROTECT,
        related_name="coupons",
        verbose_name=_("pool"),
    )
    accounts = models.ManyToManyField(
        Account, related_name="+", verbose_name=_("accounts")
    )
    face_value = MoneyField(_("face value"))
    revoked_amount = MoneyField(_("revoked"), default=0)
    revoked_to_pool = models.BooleanField(
        null=True, blank=True, verbose_name=_("revoked to pool")
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("revoked at")
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("issued by"),
    )
    issued_at = models.DateTimeField(auto_now_add=True, verbose_name=_("issued at"))

    history = tracked()

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(face_value__gt=0), name="coupon_face_value_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(revoked_amount__gte=0), name="coupon_revoked_gte_0"
            ),
        ]

    def __str__(self):
        return _("Coupon #%(id)s") % {"id": self.pk}
