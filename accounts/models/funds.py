"""Companies, cloud accounts and their fund ledger.

Balances are cached on the holder rows (``Account``, ``TransferPair``) and are
written only by ``accounts.ledger.post``, inside a service's transaction, with
the rows locked. Every change to them is a ``Posting`` (leg) of an immutable
``Movement`` (header); ``check_ledger`` recomputes the caches from the legs.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from billing_portal.history import tracked
from billing_portal.money import ZERO, Currency, MoneyField
from billing_portal.periods import Period
from billing_portal.text import validate_display_name


class Company(models.Model):
    """An enterprise entity. Only a verified company counts as "the same company"."""

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", _("Unverified")
        VERIFIED = "verified", _("Verified")

    name = models.CharField(
        max_length=200, validators=[validate_display_name], verbose_name=_("name")
    )
    registration_number = models.CharField(
        max_length=64, unique=True, verbose_name=_("registration number")
    )
    verification_status = models.CharField(
        max_length=16,
        choices=Verification.choices,
        default=Verification.UNVERIFIED,
        verbose_name=_("verification status"),
    )
    verified_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("verified at")
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("verified by"),
    )
    business_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_companies",
        help_text=_("The customer business manager (CBM) of this company."),
        verbose_name=_("business manager"),
    )
    management_account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "The enterprise management account: invites members, pays for "
            "trusteeship members, receives coupon credit pools."
        ),
        verbose_name=_("management account"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    history = tracked()

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verification_status == self.Verification.VERIFIED


class AccountQuerySet(models.QuerySet):
    def with_cash(self):
        return self.annotate(cash=F("own_cash") + F("transferred_in_balance"))


class Account(models.Model):
    """A cloud account and its fund account.

    Cash is held in two books: ``own_cash`` (top-ups and revoked-back funds) and
    ``transferred_in_balance`` (arrived by transfer, not yet spent or revoked).
    ``cash_balance`` is their sum, so ``0 <= transferred_in <= cash`` is exactly
    ``own_cash >= 0 and transferred_in >= 0``, both database constraints.
    """

    class Status(models.TextChoices):
        VALID = "valid", _("Valid")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    class PartnerMode(models.TextChoices):
        NONE = "", _("None")
        PAY_ON_BEHALF = "pay_on_behalf", _("Pay on behalf")
        SELF_PAY = "self_pay", _("Self pay")

    uid = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^\d{16}$", _("A uid is exactly 16 digits."))],
        verbose_name=_("uid"),
    )
    name = models.CharField(
        max_length=200, validators=[validate_display_name], verbose_name=_("name")
    )
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("company"),
    )
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    mobile = models.CharField(
        max_length=16,
        blank=True,
        validators=[
            RegexValidator(
                r"^\+[1-9]\d{6,14}$",
                _("Enter the mobile number in E.164 form, e.g. +8613800138000."),
            )
        ],
        verbose_name=_("mobile"),
    )
    status = models.CharField(
        max_length=8,
        choices=Status.choices,
        default=Status.VALID,
        verbose_name=_("status"),
    )
    partner_name = models.CharField(
        max_length=200, blank=True, verbose_name=_("partner name")
    )
    partner_mode = models.CharField(
        max_length=16,
        choices=PartnerMode.choices,
        blank=True,
        default=PartnerMode.NONE,
        verbose_name=_("partner mode"),
    )
    folder = models.ForeignKey(
        "accounts.Folder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        help_text=_("Where the account sits in its company's resource directory."),
        verbose_name=_("folder"),
    )

    # Cached balances: written only by accounts.ledger.post.
    own_cash = MoneyField(default=ZERO, editable=False, verbose_name=_("own cash"))
    transferred_in_balance = MoneyField(
        default=ZERO, editable=False, verbose_name=_("transferred in balance")
    )
    uncleared_amount = MoneyField(
        default=ZERO, editable=False, verbose_name=_("uncleared amount")
    )
    # The active credit control limit (0 when none is active).
    credit_limit = MoneyField(
        default=ZERO, editable=False, verbose_name=_("credit limit")
    )

    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = AccountQuerySet.as_manager()

    # Cached ledger balances are not history: the ledger has every change.
    history = tracked(
        excluded_fields=["own_cash", "transferred_in_balance", "uncleared_amount"]
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["uid"]
        constraints = [
            models.CheckConstraint(
                condition=Q(own_cash__gte=0), name="account_own_cash_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(transferred_in_balance__gte=0),
                name="account_transferred_in_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(uncleared_amount__gte=0), name="account_uncleared_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__gte=0), name="account_credit_limit_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(uid__regex=r"^\d{16}$"), name="account_uid_16_digits"
            ),
            models.CheckConstraint(
                condition=Q(currency__in=Currency.values), name="account_currency_known"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.uid})"

    @property
    def cash_balance(self) -> Decimal:
        return self.own_cash + self.transferred_in_balance

    @property
    def available_balance(self) -> Decimal:
        return self.cash_balance + self.credit_limit - self.uncleared_amount

    @property
    def has_overdue(self) -> bool:
        return self.available_balance < 0

    @property
    def unspent_transferred_in(self) -> Decimal:
        """Transferred-in funds not yet spent; billed charges count as spent."""
        return max(ZERO, self.transferred_in_balance - self.uncleared_amount)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.VALID


class AccountAccess(models.Model):
    """A customer user's right on one account."""

    class Permission(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGE = "manage", _("Manage")
        USE = "use", _("Use")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="account_access",
        verbose_name=_("user"),
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="access",
        verbose_name=_("account"),
    )
    permission = models.CharField(
        max_length=8, choices=Permission.choices, verbose_name=_("permission")
    )
    granted_at = models.DateTimeField(auto_now_add=True, verbose_name=_("granted at"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("granted by"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("account access")
        verbose_name_plural = _("account access")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="access_user_account"
            )
        ]

    def __str__(self):
        return _("%(user)s: %(permission)s on %(account)s") % {
            "user": self.user,
            "permission": self.get_permission_display(),
            "account": self.account,
        }


class TransferPair(models.Model):
    """What ``source`` transferred to ``destination`` and has not taken back."""

    source = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    destination = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("destination"),
    )
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    remaining_revocable = MoneyField(
        default=ZERO, editable=False, verbose_name=_("remaining revocable")
    )

    class Meta:
        verbose_name = _("transfer pair")
        verbose_name_plural = _("transfer pairs")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "destination"], name="pair_source_destination"
            ),
            models.CheckConstraint(
                condition=~Q(source=F("destination")), name="pair_distinct_accounts"
            ),
            models.CheckConstraint(
                condition=Q(remaining_revocable__gte=0), name="pair_remaining_gte_0"
            ),
        ]

    def __str__(self):
        return _("Transfers from %(source)s to %(destination)s") % {
            "source": self.source,
            "destination": self.destination,
        }


class MovementQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("ledger rows are immutable")

    def delete(self):
        raise TypeError("ledger rows are immutable")


class ImmutableModel(models.Model):
    """A row that is written once. Corrections are new rows (reversals)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are immutable")


class Movement(ImmutableModel):
    """The header of one balanced ledger transaction.

    Two times: ``effective_at`` (when it counts, e.g. the usage start of a
    charge) and ``posted_at`` (when it was written). ``account`` is the account
    the movement is about (the source of a transfer or revocation's original
    sender); ``counterparty`` the other account, if any.
    """

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        USAGE_CHARGE = "usage_charge", _("Usage charge")
        SETTLEMENT = "settlement", _("Settlement")
        TRANSFER = "transfer", _("Transfer")
        REVOCATION = "revocation", _("Revocation")
        REVERSAL = "reversal", _("Reversal")
        ASSET_PROVISION = "asset_provision", _("Asset provisioned")
        POOL_APPROVAL = "pool_approval", _("Coupon credit pool approved")
        COUPON_ISSUE = "coupon_issue", _("Coupons issued")
        COUPON_REVOKE = "coupon_revoke", _("Coupon revoked")

    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="movements",
        verbose_name=_("account"),
    )
    counterparty = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("counterparty"),
    )
    amount = MoneyField(verbose_name=_("amount"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    effective_at = models.DateTimeField(verbose_name=_("effective at"))
    posted_at = models.DateTimeField(verbose_name=_("posted at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("actor"),
    )
    memo = models.CharField(max_length=255, blank=True, verbose_name=_("memo"))
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )

    objects = MovementQuerySet.as_manager()

    class Meta:
        verbose_name = _("movement")
        verbose_name_plural = _("movements")
        ordering = ["-posted_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "account", "-posted_at"]),
            models.Index(fields=["kind", "counterparty", "-posted_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="movement_amount_gt_0"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} {self.amount} {self.currency}"


class Posting(ImmutableModel):
    """One leg of a movement on one book of one holder.

    ``amount`` is signed, debit positive; the legs of a movement sum to zero.
    ``balance_after`` is the book's natural balance after this leg (NULL on the
    provider's own books, which are not cached: see docs/decisions.md).
    """

    class HolderType(models.TextChoices):
        ACCOUNT = "account", _("Account")
        PAIR = "pair", _("Transfer pair")
        PROVIDER = "provider", _("Provider")

    movement = models.ForeignKey(
        Movement,
        on_delete=models.PROTECT,
        related_name="postings",
        verbose_name=_("movement"),
    )
    holder_type = models.CharField(
        max_length=16, choices=HolderType.choices, verbose_name=_("holder type")
    )
    holder_id = models.BigIntegerField(verbose_name=_("holder id"))
    book = models.CharField(max_length=32, verbose_name=_("book"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    amount = MoneyField(verbose_name=_("amount"))
    balance_after = MoneyField(null=True, blank=True, verbose_name=_("balance after"))

    objects = MovementQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("ledger lines")
        verbose_name = _("ledger line")
        ordering = ["-id"]
        indexes = [models.Index(fields=["holder_type", "holder_id", "book", "-id"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="posting_amount_nonzero"
            ),
        ]

    def __str__(self):
        return f"{self.holder_type}#{self.holder_id}.{self.book} {self.amount}"


class Charge(models.Model):
    """A usage charge: billed to ``payer_account``, paid by settlements.

    ``usage_account`` is whose usage it was (whose assets deduct); ``payer``
    whose uncleared amount rose. ``amount`` is what remained for the payer after
    benefits and coupons deducted (0 when they covered it all; the movement's
    amount is the gross usage). ``outstanding`` is what settlements have not
    paid yet (cached; recomputable from the allocations).
    """

    movement = models.OneToOneField(
        Movement,
        on_delete=models.PROTECT,
        related_name="charge",
        verbose_name=_("movement"),
    )
    usage_account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("usage account"),
    )
    payer_account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="charges",
        verbose_name=_("payer account"),
    )
    amount = MoneyField(verbose_name=_("amount"))
    currency = models.CharField(
        max_length=3, choices=Currency.choices, verbose_name=_("currency")
    )
    effective_at = models.DateTimeField(verbose_name=_("effective at"))
    outstanding = MoneyField(editable=False, verbose_name=_("outstanding"))

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        indexes = [
            models.Index(
                fields=["payer_account", "effective_at", "id"],
                condition=Q(outstanding__gt=0),
                name="charge_outstanding_idx",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="charge_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(outstanding__gte=0) & Q(outstanding__lte=F("amount")),
                name="charge_outstanding_within_amount",
            ),
        ]

    def __str__(self):
        return f"Charge #{self.pk} {self.amount} {self.currency}"


class SettlementAllocation(ImmutableModel):
    """Which charge a settlement paid, and from which funds."""

    movement = models.ForeignKey(
        Movement,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("movement"),
    )
    charge = models.ForeignKey(
        Charge,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("charge"),
    )
    from_transferred_in = MoneyField(verbose_name=_("from transferred in"))
    from_own = MoneyField(verbose_name=_("from own"))

    objects = MovementQuerySet.as_manager()

    class Meta:
        verbose_name = _("settlement allocation")
        verbose_name_plural = _("settlement allocations")
        constraints = [
            models.CheckConstraint(
                condition=Q(from_transferred_in__gte=0)
                & Q(from_own__gte=0)
                & (Q(from_transferred_in__gt=0) | Q(from_own__gt=0)),
                name="allocation_positive",
            )
        ]

    def __str__(self):
        return f"Settlement {self.movement_id} paid charge {self.charge_id}"

    @property
    def amount(self) -> Decimal:
        return self.from_transferred_in + self.from_own


class OverdueEpisode(Period):
    """A period during which the account's available balance was below zero."""

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="overdue_episodes",
        verbose_name=_("account"),
    )

    class Meta:
        verbose_name = _("overdue episode")
        verbose_name_plural = _("overdue episodes")
        ordering = ["-start"]
        constraints = [
            Period.end_after_start("overdue"),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(end__isnull=True),
                name="overdue_one_open_episode",
            ),
        ]

    def __str__(self):
        return f"{self.account_id} overdue from {self.start}"
