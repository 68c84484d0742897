"""Admin forms. They validate shape only; rules live in selectors and services."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing_portal.forms import AmountFormField
from billing_portal.text import DisplayNameField

from .models import Account, AccountAccess, Movement


class TargetAutocomplete(AutocompleteSelect):
    """Select2 autocomplete fed by the transfer-target view of one source account."""

    def __init__(self, source: Account, admin_site):
        super().__init__(Movement._meta.get_field("counterparty"), admin_site)
        self.source = source

    def get_url(self):
        return reverse(
            f"{self.admin_site.name}:accounts_account_targets", args=[self.source.pk]
        )


class TransferForm(forms.Form):
    destination = forms.ModelChoiceField(
        queryset=Account.objects.none(), label=_("Destination account")
    )
    amount = AmountFormField()

    def __init__(self, *args, source: Account, targets, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["destination"]
        field.queryset = targets
        field.widget = TargetAutocomplete(source, admin_site)
        field.widget.choices = field.choices
        field.label_from_instance = lambda a: f"{a.name} ({a.uid})"


class RevokeForm(forms.Form):
    destination = forms.ModelChoiceField(
        queryset=Account.objects.none(), widget=forms.HiddenInput
    )
    amount = AmountFormField()

    def __init__(self, *args, destinations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].queryset = destinations


class TopUpForm(forms.Form):
    amount = AmountFormField()


class RequestAccessForm(forms.Form):
    message = forms.CharField(
        label=_("Message (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class AccountAddForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["uid", "name", "company", "currency", "mobile"]
        field_classes = {"name": DisplayNameField}


class AccountChangeForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "mobile", "status", "partner_name", "partner_mode"]
        field_classes = {"name": DisplayNameField}


class AccessForm(forms.ModelForm):
    class Meta:
        model = AccountAccess
        fields = ["user", "account", "permission"]
