"""Enterprise structure: financial relationships and the resource directory."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from billing_portal.history import tracked
from billing_portal.periods import Period
from billing_portal.text import validate_display_name

#: Levels allowed below a company's root folder (SPEC §3.7).
MAX_FOLDER_DEPTH = 5


class RelationshipPermission(models.TextChoices):
    """The provider's permission codes on a financial relationship.

    Two have effects in this product (see docs/decisions.md); the others are
    recorded and shown: invoices and withdrawals are outside this product.
    """

    SYNCHRONIZE_FINANCE_IDENTITY = (
        "SYNCHRONIZE_FINANCE_IDENTITY",
        _(
            "Synchronize finance identity (only the management account sets the "
            "member's credit limit)"
        ),
    )
    SYNCHRONIZE_FINANCE_DISCOUNT_POLICY_TO_TARGET = (
        "SYNCHRONIZE_FINANCE_DISCOUNT_POLICY_TO_TARGET",
        _("Synchronize discount policy to the member (recorded only)"),
    )
    FORBID_WITHDRAW_CASH = (
        "FORBID_WITHDRAW_CASH",
        _(
            "Forbid cash withdrawal (recorded only: withdrawals are outside this "
            "product)"
        ),
    )
    FORBID_MANAGE_INVOICE = (
        "FORBID_MANAGE_INVOICE",
        _(
            "Forbid managing invoices (recorded only: invoices are outside this "
            "product)"
        ),
    )
    CHECK_FINANCE_INFO = "CHECK_FINANCE_INFO", _("Check finance info (recorded only)")
    MANAGE_TARGET_INVOICE = (
        "MANAGE_TARGET_INVOICE",
        _(
            "Manage the member's invoices (recorded only: invoices are outside this "
            "product)"
        ),
    )
    CHECK_TARGET_CONSUMPTION = (
        "CHECK_TARGET_CONSUMPTION",
        _(
            "Check the member's consumption (the management account's administrators "
            "see its balances, ledger and usage)"
        ),
    )


class FinancialRelationship(Period):
    """One period of a financial relationship between a management account and a
    member of the same verified company.

    ``start`` is the instant the member confirmed (NULL while pending); ``end`` the
    instant it was terminated. Re-establishing a pair creates a new row, so every
    period is kept and ``active_at(t)`` answers "was it active at t".
    """

    class Type(models.TextChoices):
        FINANCIAL_MANAGEMENT = "financial_management", _("Financial management")
        TRUSTEESHIP = "trusteeship", _("Trusteeship (pay on behalf)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACTIVE = "active", _("Active")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")
        TERMINATED = "terminated", _("Terminated")

    management_account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="member_relationships",
        verbose_name=_("management account"),
    )
    member_account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="relationships_as_member",
        verbose_name=_("member account"),
    )
    type = models.CharField(max_length=24, choices=Type.choices, verbose_name=_("type"))
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        verbose_name=_("status"),
    )
    permissions = ArrayField(
        models.CharField(max_length=64, choices=RelationshipPermission.choices),
        default=list,
        blank=True,
        verbose_name=_("permissions"),
    )
    start = models.DateTimeField(null=True, blank=True, verbose_name=_("start"))
    invited_at = models.DateTimeField(auto_now_add=True, verbose_name=_("invited at"))
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("invited by"),
    )
    responded_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("responded at")
    )
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("responded by"),
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ended by"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("financial relationship")
        verbose_name_plural = _("financial relationships")
        ordering = ["-invited_at", "-id"]
        indexes = [models.Index(fields=["member_account", "start"])]
        constraints = [
            Period.end_after_start("relationship"),
            models.CheckConstraint(
                condition=~Q(management_account=F("member_account")),
                name="relationship_distinct_accounts",
            ),
            # A member has at most one pending or active relationship.
            models.UniqueConstraint(
                fields=["member_account"],
                condition=Q(status__in=["pending", "active"]),
                name="relationship_one_open_per_member",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="pending", start__isnull=True, end__isnull=True)
                    | Q(status__in=["rejected", "cancelled"], start__isnull=True)
                    | Q(status="active", start__isnull=False, end__isnull=True)
                    | Q(status="terminated", start__isnull=False, end__isnull=False)
                ),
                name="relationship_status_matches_period",
            ),
        ]

    def __str__(self):
        return (
            f"{self.get_type_display()}: {self.management_account} → "
            f"{self.member_account} ({self.get_status_display().lower()})"
        )

    def has_permission(self, code: str) -> bool:
        return code in self.permissions


class Folder(models.Model):
    """A folder of a company's resource directory; the root has no parent."""

    company = models.ForeignKey(
        "accounts.Company",
        on_delete=models.PROTECT,
        related_name="folders",
        verbose_name=_("company"),
    )
    name = models.CharField(
        max_length=100, validators=[validate_display_name], verbose_name=_("name")
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent"),
    )
    depth = models.PositiveSmallIntegerField(
        default=0,
        editable=False,
        help_text=_("0 for the root, 1..5 below it."),
        verbose_name=_("depth"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    history = tracked()

    class Meta:
        verbose_name = _("folder")
        verbose_name_plural = _("resource directory")
        ordering = ["depth", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=Q(parent__isnull=True),
                name="folder_one_root_per_company",
            ),
            models.UniqueConstraint(
                fields=["parent", "name"], name="folder_unique_sibling_name"
            ),
            models.CheckConstraint(
                condition=Q(depth__lte=MAX_FOLDER_DEPTH), name="folder_depth_limit"
            ),
            models.CheckConstraint(
                condition=(
                    Q(parent__isnull=True, depth=0)
                    | Q(parent__isnull=False, depth__gt=0)
                ),
                name="folder_root_iff_depth_0",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_root(self) -> bool:
        return self.parent_id is None
