"""Form fields shared by the apps' admin forms."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .money import AmountError, parse_amount


class AmountFormField(forms.CharField):
    """A money amount typed by a person: the same parsing as the API."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Amount"))
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.00"}),
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            return parse_amount(value.strip() if value else value)
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from exc
