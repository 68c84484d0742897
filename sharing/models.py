"""Usage records, assets, their shares and the deduction log (SPEC §4)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Charge, Folder
from billing_portal.history import tracked
from billing_portal.money import Currency, MoneyField


class UsageRecord(models.Model):
    """One bill line from a metering source; unique per (source, external_id)."""

    class BillType(models.TextChoices):
        SUBSCRIPTION = "subscription", _("Subscription")
        PAY_AS_YOU_GO = "pay_as_you_go", _("Pay as you go")

    source = models.CharField(max_length=64, default="api", verbose_name=_("source"))
    external_id = models.CharField(max_length=128, verbose_name=_("external id"))
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="usage",
        verbose_name=_("account"),
    )
    product = models.CharField(max_length=64, verbose_name=_("product"))
    bill_type = models.CharField(
        max_length=16, choices=BillType.choices, verbose_name=_("bill type")
    )
    usage_start = models.DateTimeField(verbose_name=_("usage start"))
    usage_end = models.DateTimeField(verbose_name=_("usage end"))
    amount = MoneyField(verbose_name=_("amount"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    billed_at = models.DateTimeField(verbose_name=_("billed at"))
    instance_type = models.CharField(
        max_length=64, blank=True, verbose_name=_("instance type")
    )
    region = models.CharField(max_length=64, blank=True, verbose_name=_("region"))
    quantity = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        verbose_name=_("quantity"),
    )
    charged_amount = MoneyField(verbose_name=_("charged amount"))
    charge = models.OneToOneField(
        Charge,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_record",
        verbose_name=_("charge"),
    )
    payer = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("payer")
    )
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    #: Assets that could have deducted but did not, each with why (SPEC §4.4):
    #: [{"asset": id, "reason": code}], decided when the record was priced.
    skipped = models.JSONField(default=list, blank=True, verbose_name=_("skipped"))

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering = ["-usage_start", "-id"]
        indexes = [
            # Lists newest first (GET /usage/, the admin), all or per account.
            models.Index(fields=["-usage_start", "-id"], name="usage_newest_first"),
            models.Index(
                fields=["account", "-usage_start", "-id"], name="usage_account_newest"
            ),
        ]
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


#: SPEC §4.2: an asset is shared with at most this many accounts at a time.
RECIPIENT_LIMIT = 100


def active_at_q(at, prefix: str = "") -> Q:
    """Periods ``[start, end)`` that cover the instant ``at`` (SPEC §9)."""
    return Q(**{f"{prefix}start__lte": at}) & (
        Q(**{f"{prefix}end__isnull": True}) | Q(**{f"{prefix}end__gt": at})
    )


class Asset(models.Model):
    """A benefit that deducts usage (SPEC §4.1); a ledger holder: its
    ``remaining`` capacity (SCU packages, coupons) is a book, and the hourly
    capacity of savings plans and reserved instances is drawn through
    ``AssetHour`` holders."""

    class Type(models.TextChoices):
        SAVINGS_PLAN = "savings_plan", _("Savings plan")
        RESERVED_INSTANCE = "reserved_instance", _("Reserved instance")
        SCU_PACKAGE = "scu_package", _("Storage capacity unit package")
        COUPON = "coupon", _("Coupon")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXHAUSTED = "exhausted", _("Used up")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    type = models.CharField(_("type"), max_length=24, choices=Type.choices)
    owner = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="assets",
        verbose_name=_("owner"),
    )
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    #: Product codes it deducts; empty means every product.
    products = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        verbose_name=_("products"),
    )
    #: Bill types it deducts (coupons); empty means both.
    bill_types = ArrayField(
        models.CharField(max_length=16, choices=UsageRecord.BillType.choices),
        default=list,
        blank=True,
        verbose_name=_("bill types"),
    )
    commitment_per_hour = MoneyField(
        _("commitment per hour"),
        null=True,
        blank=True,
    )
    instance_type = models.CharField(_("instance type"), max_length=64, blank=True)
    region = models.CharField(_("region"), max_length=64, blank=True)
    count = models.PositiveIntegerField(_("instances"), null=True, blank=True)
    #: The capacity provisioned (SCU packages; a coupon's face value).
    capacity = MoneyField(_("capacity"), null=True, blank=True)
    #: Cached ledger book ``remaining`` (SCU packages and coupons).
    remaining = MoneyField(_("remaining"), default=0)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.ACTIVE,
    )
    provisioned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("provisioned by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    # Cached ledger balances are not history: the ledger has every change.
    # ``instance_type`` (set when provisioned, never changed) would shadow the
    # historical model's own ``instance_type`` (django-simple-history's).
    history = tracked(excluded_fields=["remaining", "instance_type"])

    class Meta:
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0), name="asset_remaining_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")),
                name="asset_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=~Q(type="savings_plan") | Q(commitment_per_hour__gt=0),
                name="asset_savings_plan_commitment",
            ),
            models.CheckConstraint(
                condition=~Q(type="reserved_instance")
                | (Q(count__gt=0) & ~Q(instance_type="") & ~Q(region="")),
                name="asset_reserved_instance_shape",
            ),
            models.CheckConstraint(
                condition=~Q(type__in=["scu_package", "coupon"])
                | (Q(capacity__gt=0) & Q(remaining__lte=F("capacity"))),
                name="asset_capacity_shape",
            ),
        ]

    def __str__(self):
        return f"{self.get_type_display()} #{self.pk}"

    @property
    def has_capacity_book(self) -> bool:
        return self.type in (self.Type.SCU_PACKAGE, self.Type.COUPON)

    @property
    def face_value(self):
        return self.capacity if self.type == self.Type.COUPON else None


class AssetHour(models.Model):
    """One clock hour of a savings plan or reserved instance: a ledger holder
    whose ``drawn`` book is what usage of that hour deducted, up to ``cap``
    (the hourly commitment); ``units_used`` counts a reserved instance's
    instance-hours, up to ``unit_cap`` (its count)."""

    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="hours", verbose_name=_("asset")
    )
    hour = models.DateTimeField(verbose_name=_("hour"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    drawn = MoneyField(default=0, verbose_name=_("drawn"))
    cap = MoneyField(null=True, blank=True, verbose_name=_("cap"))
    units_used = models.DecimalField(
        max_digits=18, decimal_places=6, default=0, verbose_name=_("units used")
    )
    unit_cap = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        verbose_name=_("unit cap"),
    )

    class Meta:
        verbose_name = _("asset hour")
        verbose_name_plural = _("asset hours")
        constraints = [
            models.UniqueConstraint(fields=["asset", "hour"], name="asset_hour_unique"),
            models.CheckConstraint(
                condition=Q(drawn__gte=0)
                & (Q(cap__isnull=True) | Q(drawn__lte=F("cap"))),
                name="asset_hour_drawn_within_cap",
            ),
            models.CheckConstraint(
                condition=Q(units_used__gte=0)
                & (Q(unit_cap__isnull=True) | Q(units_used__lte=F("unit_cap"))),
                name="asset_hour_units_within_cap",
            ),
        ]

    def __str__(self):
        return f"{self.asset} {self.hour:%Y-%m-%d %H:00}"


class SharingRule(models.Model):
    """An automatic sharing rule (SPEC §4.3): new assets of ``asset_types``
    owned by ``owner`` are shared with ``accounts`` or ``folder`` by the worker
    about a minute after they are provisioned."""

    owner = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="sharing_rules",
        verbose_name=_("owner"),
    )
    asset_types = ArrayField(
        models.CharField(max_length=24, choices=Asset.Type.choices),
        verbose_name=_("asset types"),
    )
    accounts = models.ManyToManyField(
        Account, blank=True, related_name="+", verbose_name=_("accounts")
    )
    folder = models.ForeignKey(
        Folder,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("folder"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    history = tracked()

    class Meta:
        verbose_name = _("automatic sharing rule")
        verbose_name_plural = _("automatic sharing rules")
        ordering = ["-id"]

    def __str__(self):
        return _("Rule #%(id)s of %(owner)s") % {"id": self.pk, "owner": self.owner}


class Share(models.Model):
    """One act of sharing an asset: with one account, or with a folder (whose
    members the worker resolves into recipients)."""

    class Target(models.TextChoices):
        ACCOUNT = "account", _("Account")
        FOLDER = "folder", _("Folder")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACTIVE = "active", _("Active")
        FAILED = "failed", _("Failed")
        STOPPED = "stopped", _("Stopped")

    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="shares", verbose_name=_("asset")
    )
    target = models.CharField(
        max_length=8, choices=Target.choices, verbose_name=_("target")
    )
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("account"),
    )
    folder = models.ForeignKey(
        Folder,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("folder"),
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, verbose_name=_("status")
    )
    detail = models.CharField(max_length=500, blank=True, verbose_name=_("detail"))
    #: When the worker is expected to resolve it (folder shares, rule shares).
    due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("due at"))
    active_since = models.DateTimeField(
        null=True, blank=True, verbose_name=_("active since")
    )
    resolved_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("resolved at")
    )
    stopped_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("stopped at")
    )
    rule = models.ForeignKey(
        SharingRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shares",
        verbose_name=_("rule"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    history = tracked()

    class Meta:
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(target="account", account__isnull=False, folder__isnull=True)
                    | Q(target="folder", folder__isnull=False, account__isnull=True)
                ),
                name="share_target_shape",
            ),
        ]

    def __str__(self):
        return f"{self.asset} → {self.account or self.folder}"


class SharePeriod(models.Model):
    """A recipient's ``[start, end)`` with a shared asset; history is kept."""

    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="periods", verbose_name=_("asset")
    )
    recipient = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="shared_asset_periods",
        verbose_name=_("recipient"),
    )
    share = models.ForeignKey(
        Share, on_delete=models.PROTECT, related_name="periods", verbose_name=_("share")
    )
    start = models.DateTimeField(verbose_name=_("start"))
    end = models.DateTimeField(null=True, blank=True, verbose_name=_("end"))

    history = tracked()

    class Meta:
        verbose_name = _("share period")
        verbose_name_plural = _("share periods")
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "recipient"],
                condition=Q(end__isnull=True),
                name="share_period_one_open_per_recipient",
            ),
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="share_period_end_after_start",
            ),
        ]
        indexes = [models.Index(fields=["recipient", "asset"])]

    def __str__(self):
        return f"{self.recipient} [{self.start:%Y-%m-%d %H:%M}, {self.end or '…'})"


class RecipientRule(models.Model):
    """A recipient's own deduct rule for a shared asset: products it skips."""

    asset = models.ForeignKey(
        Asset,
        on_delete=models.PROTECT,
        related_name="recipient_rules",
        verbose_name=_("asset"),
    )
    recipient = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("recipient")
    )
    excluded_products = ArrayField(
        models.CharField(max_length=64),
        default=list,
        verbose_name=_("excluded products"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    history = tracked(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("recipient rule")
        verbose_name_plural = _("recipient rules")
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "recipient"], name="recipient_rule_unique"
            )
        ]

    def __str__(self):
        return f"{self.recipient} skips {', '.join(self.excluded_products)}"


class Deduction(models.Model):
    """The deduction log (SPEC §4.4, §9): a sub-ledger of what each asset
    deducted from each usage record, with the capacity before and after
    (for hourly assets, the capacity of that hour)."""

    usage = models.ForeignKey(
        UsageRecord,
        on_delete=models.PROTECT,
        related_name="deductions",
        verbose_name=_("usage"),
    )
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    asset = models.ForeignKey(
        Asset,
        on_delete=models.PROTECT,
        related_name="deductions",
        verbose_name=_("asset"),
    )
    owner = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    beneficiary = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("beneficiary"),
    )
    amount = MoneyField(verbose_name=_("amount"))
    #: Money capacity before and after (remaining, or the hour's commitment
    #: left); None for reserved instances, whose hour is counted in ``units``.
    capacity_before = MoneyField(
        null=True, blank=True, verbose_name=_("capacity before")
    )
    capacity_after = MoneyField(null=True, blank=True, verbose_name=_("capacity after"))
    hour = models.ForeignKey(
        AssetHour,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("hour"),
    )
    units = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True, verbose_name=_("units")
    )
    usage_start = models.DateTimeField(verbose_name=_("usage start"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("deduction")
        verbose_name_plural = _("deduction log")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["usage", "position"], name="deduction_usage_position"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="deduction_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(capacity_after=F("capacity_before") - F("amount")),
                name="deduction_capacity_arithmetic",
            ),
        ]
        indexes = [
            models.Index(fields=["asset", "usage_start"]),
            models.Index(fields=["beneficiary", "usage_start"]),
        ]

    def __str__(self):
        return f"{self.asset} → {self.usage}: {self.amount}"
