"""Shapes of the accounts API: input serializers validate, output serializers render."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from billing_portal import roles
from billing_portal.api import AmountField, StrictSerializer, VisibleRelatedField
from billing_portal.money import Currency
from billing_portal.schema import ReasonOut
from billing_portal.text import validate_display_name

from ..ledger import natural_change
from ..models import Account, AccountAccess, Company, Movement, Posting
from ..selectors import (
    REVOCABLE_TERMS,
    get_pending_limit,
    get_transferable,
    list_target_accounts,
    list_visible_accounts,
    list_visible_companies,
)

# --- input --------------------------------------------------------------------


def _may_probe(serializer) -> bool:
    """Uniqueness is reported only to operators: anyone else gets the 403 of an
    operator-only endpoint, so a 400 must not reveal that a value exists."""
    request = serializer.context.get("request")
    return request is not None and roles.is_operator(request.user)


def _visible_users(user):
    """Users a request may name: any (operator), else only the requester itself."""
    users = get_user_model().objects.all()
    return users if roles.is_operator(user) else users.filter(pk=user.pk)


class TokenIn(StrictSerializer, AuthTokenSerializer):
    """``username, password``; unknown fields are refused like everywhere else."""


class CompanyCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=200, validators=[validate_display_name])
    registration_number = serializers.CharField(max_length=64)

    def validate_registration_number(self, value):
        if (
            _may_probe(self)
            and Company.objects.filter(registration_number=value).exists()
        ):
            raise serializers.ValidationError(
                _("A company with this registration number exists.")
            )
        return value


class UserCreateIn(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    role = serializers.ChoiceField(choices=["customer", "cbm", "operator"])

    def validate_username(self, value):
        if (
            _may_probe(self)
            and get_user_model().objects.filter(username=value).exists()
        ):
            raise serializers.ValidationError(
                _("A user with that username already exists.")
            )
        return value


class AccountCreateIn(StrictSerializer):
    uid = serializers.RegexField(
        r"^\d{16}$", error_messages={"invalid": _("A uid is exactly 16 digits.")}
    )
    name = serializers.CharField(max_length=200, validators=[validate_display_name])
    # Required, null allowed: an account without a company is asked for with
    # ``"company": null``; a forgotten field must not create one (the company
    # cannot be changed later). See docs/decisions.md.
    company = VisibleRelatedField(queryset_for=list_visible_companies, allow_null=True)
    currency = serializers.ChoiceField(choices=Currency.choices)
    mobile = serializers.RegexField(
        r"^\+[1-9]\d{6,14}$",
        required=False,
        allow_blank=True,
        error_messages={
            "invalid": _("Enter the mobile number in E.164 form, e.g. +8613800138000.")
        },
    )

    def validate_uid(self, value):
        if _may_probe(self) and Account.objects.filter(uid=value).exists():
            raise serializers.ValidationError(_("An account with this uid exists."))
        return value


class AccountUpdateIn(StrictSerializer):
    name = serializers.CharField(
        max_length=200, required=False, validators=[validate_display_name]
    )
    mobile = serializers.RegexField(
        r"^\+[1-9]\d{6,14}$",
        required=False,
        allow_blank=True,
        error_messages={
            "invalid": _("Enter the mobile number in E.164 form, e.g. +8613800138000.")
        },
    )
    status = serializers.ChoiceField(choices=Account.Status.choices, required=False)
    partner_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )
    partner_mode = serializers.ChoiceField(
        choices=Account.PartnerMode.choices, required=False, allow_blank=True
    )


class AccessGrantIn(StrictSerializer):
    user = VisibleRelatedField(queryset_for=_visible_users)
    permission = serializers.ChoiceField(choices=AccountAccess.Permission.choices)


class AmountIn(StrictSerializer):
    amount = AmountField()


class MovementIn(StrictSerializer):
    """Body of a transfer or a revocation."""

    source = VisibleRelatedField(queryset_for=list_visible_accounts)
    destination = VisibleRelatedField(queryset_for=list_target_accounts)
    amount = AmountField()


class RevocableQueryIn(StrictSerializer):
    destination = VisibleRelatedField(queryset_for=list_target_accounts)


# --- output -------------------------------------------------------------------


class CompanyOut(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = [
            "id",
            "name",
            "registration_number",
            "verification_status",
            "verified_at",
            "verified_by",
            "business_manager",
            "management_account",
            "created_at",
        ]


class AccountOut(serializers.ModelSerializer):
    cash_balance = AmountField(read_only=True)
    transferred_in_balance = AmountField(read_only=True)
    uncleared_amount = AmountField(read_only=True)
    credit_limit = AmountField(read_only=True)
    pending_credit_limit = serializers.SerializerMethodField()
    available_balance = AmountField(read_only=True)
    has_overdue = serializers.BooleanField(read_only=True)
    transferable_amount = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "uid",
            "name",
            "company",
            "currency",
            "status",
            "mobile",
            "partner_name",
            "partner_mode",
            "cash_balance",
            "transferred_in_balance",
            "uncleared_amount",
            "credit_limit",
            "pending_credit_limit",
            "available_balance",
            "has_overdue",
            "transferable_amount",
        ]

    def get_pending_credit_limit(self, account) -> str | None:
        """The limit of the contract waiting for the owner (null when none)."""
        limit = get_pending_limit(account)
        return None if limit is None else AmountField().to_representation(limit)

    def get_transferable_amount(self, account) -> str:
        return AmountField().to_representation(
            get_transferable(account).transferable_amount
        )


class AccessOut(serializers.ModelSerializer):
    class Meta:
        model = AccountAccess
        fields = ["id", "user", "account", "permission", "granted_at"]


class TransferableOut(serializers.Serializer):
    account = serializers.IntegerField(source="account.pk")
    cash_balance = AmountField()
    transferred_in_balance = AmountField()
    own_funds = AmountField()
    uncleared_amount = AmountField()
    credit_limit = AmountField()
    available_balance = AmountField()
    transferable_amount = AmountField()
    reasons = ReasonOut(many=True)


#: The revocable terms that are the destination's balances (SPEC §1, §8).
DESTINATION_BALANCES = ("unspent_transferred_in", "available_balance")


class RevocableOut(serializers.Serializer):
    """What ``source`` can take back from ``destination`` and the binding term.

    For a destination the user may not see (only name as a target), its
    balances are left out: context ``destination_visible=False``.
    """

    source = serializers.IntegerField(source="source.pk")
    destination = serializers.IntegerField(source="destination.pk")
    unspent_transferred_in = AmountField(
        required=False, help_text="Absent when the user cannot see the destination."
    )
    remaining_revocable = AmountField()
    available_balance = AmountField(
        required=False, help_text="Absent when the user cannot see the destination."
    )
    revocable_amount = AmountField()
    binding = serializers.ChoiceField(choices=REVOCABLE_TERMS)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("destination_visible", True):
            for name in DESTINATION_BALANCES:
                data.pop(name)
        return data


class MovementOut(serializers.ModelSerializer):
    amount = AmountField()
    created_at = serializers.DateTimeField(source="posted_at")

    class Meta:
        model = Movement
        fields = [
            "id",
            "kind",
            "account",
            "counterparty",
            "amount",
            "currency",
            "effective_at",
            "created_at",
            "actor",
            "memo",
        ]


class TransferOut(serializers.ModelSerializer):
    source = serializers.IntegerField(source="account_id")
    destination = serializers.IntegerField(source="counterparty_id")
    amount = AmountField()
    created_at = serializers.DateTimeField(source="posted_at")

    class Meta:
        model = Movement
        fields = [
            "id",
            "source",
            "destination",
            "amount",
            "currency",
            "created_at",
            "actor",
        ]


class TransferCreatedOut(TransferOut):
    """A transfer with what its source can take back now and the binding term's
    name (never the destination's balances: SPEC §1)."""

    revocable_amount = AmountField(source="revocable.revocable_amount")
    revocable_binding = serializers.ChoiceField(
        choices=REVOCABLE_TERMS, source="revocable.binding"
    )

    class Meta(TransferOut.Meta):
        fields = [*TransferOut.Meta.fields, "revocable_amount", "revocable_binding"]


class PostingOut(serializers.ModelSerializer):
    kind = serializers.CharField(source="movement.kind")
    counterparty = serializers.SerializerMethodField()
    change = serializers.SerializerMethodField()
    amount = AmountField(help_text="Signed, debit positive (double entry).")
    balance_after = AmountField()
    effective_at = serializers.DateTimeField(source="movement.effective_at")
    posted_at = serializers.DateTimeField(source="movement.posted_at")

    class Meta:
        model = Posting
        fields = [
            "id",
            "movement",
            "kind",
            "book",
            "change",
            "amount",
            "balance_after",
            "currency",
            "counterparty",
            "effective_at",
            "posted_at",
        ]

    def get_counterparty(self, posting) -> int | None:
        """The other account of the movement, seen from this line's account."""
        movement = posting.movement
        if posting.holder_id == movement.account_id:
            return movement.counterparty_id
        return movement.account_id

    def get_change(self, posting) -> str:
        """The change of the book's balance as the customer reads it (+ adds)."""
        return AmountField().to_representation(natural_change(posting))
