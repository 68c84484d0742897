"""Money: Decimal only, two places, one rounding rule.

Every amount in the product is a ``Decimal`` with two decimal places. Input is
parsed here (``parse_amount``) and rounding happens here (``quantize``), nowhere
else. The rounding rule is ROUND_HALF_UP to the cent; it is applied only where a
share of an amount is computed (e.g. a proportional deduction), never to input,
which is refused instead when it has more than two places.
"""

import re
from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Amounts must stay below 10^13 (SPEC §2).
AMOUNT_LIMIT = Decimal(10) ** 13
MAX_DIGITS = 15
DECIMAL_PLACES = 2

# A plain decimal: optional minus, ASCII digits, optional fraction. No exponent,
# no sign "+", no spaces, no NaN/Infinity, no other scripts' digits (Python's
# ``\d`` and ``Decimal()`` accept full-width or Arabic-Indic digits; SPEC §2
# does not).
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# A comma in an amount, ASCII or full-width (U+FF0C, a Chinese keyboard's).
_COMMAS = re.compile(r"[,\uff0c]")
# Thousands grouped by commas ("1,000.00", "12,345,678"): unambiguous.
_GROUPED = re.compile(r"-?[0-9]{1,3}([,\uff0c][0-9]{3})+(\.[0-9]+)?")
# A decimal comma ("12,50", "0,5"): one comma followed by one or two digits.
_DECIMAL_COMMA = re.compile(r"-?[0-9]+[,\uff0c][0-9]{1,2}")


class Currency(models.TextChoices):
    CNY = "CNY", "CNY"
    USD = "USD", "USD"


class AmountError(ValueError):
    """An amount that cannot be accepted; the message is for the customer."""


class RawNumber(str):
    """A JSON number kept as the text it was written as (see ExactJSONParser)."""


class NonFiniteNumber:
    """A JSON ``NaN``/``Infinity``/``-Infinity`` constant (see ExactJSONParser).

    Deliberately neither a ``str`` nor a number, so that every field refuses it.
    """

    def __init__(self, name: str):
        self.name = name

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"NonFiniteNumber({self.name!r})"


def quantize(value: Decimal) -> Decimal:
    """Round to the cent with the product's single rounding rule."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value, *, positive: bool = True) -> Decimal:
    """Read an amount exactly as written, or raise AmountError.

    Accepts a decimal string, a JSON number kept as text, an int or a Decimal;
    refuses floats (binary), booleans, exponents, NaN/Infinity, more than two
    places by value ("1.500" is fine, "1.505" is not), values of 10^13 or more,
    and, when ``positive``, zero or negative values.
    """
    if isinstance(value, NonFiniteNumber):
        raise AmountError(_("NaN and Infinity are not amounts."))
    if isinstance(value, bool | float):
        raise AmountError(_('Enter the amount as a decimal string, e.g. "12.50".'))
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise AmountError(_("This field is required."))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise AmountError(_("Enter a valid amount."))
        number = value
    elif isinstance(value, str):
        number = _parse_plain_decimal(value)
    else:
        raise AmountError(_("Enter a valid amount."))
    # The range comes before rounding: quantizing a number of 27 or more digits
    # exceeds Decimal's precision (InvalidOperation) instead of answering.
    if abs(number) >= AMOUNT_LIMIT:
        raise AmountError(_("The amount must be less than 10000000000000."))
    if number != number.quantize(CENT, rounding=ROUND_HALF_UP):
        raise AmountError(_("An amount can have at most 2 decimal places."))
    if positive and number <= 0:
        raise AmountError(_("The amount must be greater than zero."))
    return quantize(number)


def _parse_plain_decimal(value: str) -> Decimal:
    if _PLAIN_DECIMAL.fullmatch(value):
        return Decimal(value)
    if _GROUPED.fullmatch(value):
        # "1,000.00" (or with a full-width comma, as a Chinese keyboard types
        # it): the reader meant the number without its separators.
        raise AmountError(
            _("Write amounts without thousands separators: %(amount)s, not %(typed)s.")
            % {"amount": _COMMAS.sub("", value), "typed": value}
        )
    if _DECIMAL_COMMA.fullmatch(value):
        raise AmountError(
            _("Write the cents after a dot, not a comma: %(amount)s, not %(typed)s.")
            % {"amount": _COMMAS.sub(".", value), "typed": value}
        )
    if _COMMAS.search(value):
        raise AmountError(
            _(
                "Write the amount without thousands separators and with a dot "
                'before the cents, e.g. "1000.00" (not "1,000.00").'
            )
        )
    if any(c.isdigit() and not c.isascii() for c in value):
        raise AmountError(_("Write the amount with the digits 0-9 only."))
    raise AmountError(_('Enter a plain decimal amount such as "12.50" (no exponent).'))


def format_amount(value: Decimal) -> str:
    """Render an amount as it travels on the wire: a plain string, two places."""
    return format(quantize(value), "f")


class MoneyField(models.DecimalField):
    """A two-place money column wide enough for any accepted amount."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "billing_portal.money.MoneyField", args, kwargs
