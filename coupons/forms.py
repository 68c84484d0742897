"""Admin forms of coupon credit pools. They validate shape only; the rules live
in the selectors and services (SPEC §5)."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing_portal.forms import AmountFormField
from billing_portal.timezones import zone_label
from sharing.models import UsageRecord

from .models import CreditPool, Product
from .services import MAX_COUPONS_PER_ISSUE

#: How a person types an instant (in the zone the portal shows them).
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


#: Radio buttons and checkbox lists laid out as the admin's own (forms.css).
LIST_ATTRS = {"class": "radiolist"}


class InstantField(forms.DateTimeField):
    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
    )

    def __init__(self, **kwargs):
        super().__init__(input_formats=DATETIME_FORMATS, **kwargs)


class PoolRequestForm(forms.Form):
    """A CBM's pool request (SPEC §5): the company, the one distribution
    target, and the scope only the CBM sets."""

    ALL_PRODUCTS, SOME_PRODUCTS = "all", "some"

    company = forms.ModelChoiceField(
        label=_("Company"),
        queryset=None,
        empty_label=None,
        help_text=_(
            "Your companies that are verified and have an enterprise management "
            "account. The pool goes to that account, in its currency."
        ),
    )
    # Any posted value passes the form: the service decides (its sentence says
    # which target a pool must choose), so a forged or stale value is refused
    # with the same reason as through the API.
    distribution_target = forms.CharField(
        label=_("Distribution target"),
        initial=CreditPool.DISTRIBUTION_TARGET,
        widget=forms.RadioSelect(
            attrs=LIST_ATTRS,
            choices=[
                (
                    CreditPool.DISTRIBUTION_TARGET,
                    _("Specify Enterprise Management Account"),
                )
            ],
        ),
        help_text=_(
            "The only valid target: a coupon credit pool is distributed to the "
            "company's enterprise management account, whose administrators "
            "issue its coupons to the management account and its members."
        ),
    )
    product_scope = forms.ChoiceField(
        label=_("Products"),
        choices=[
            (ALL_PRODUCTS, _("All products")),
            (SOME_PRODUCTS, _("Only the products ticked below")),
        ],
        initial=ALL_PRODUCTS,
        widget=forms.RadioSelect(attrs=LIST_ATTRS),
    )
    products = forms.ModelMultipleChoiceField(
        label=_("Products in scope"),
        queryset=Product.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=LIST_ATTRS),
    )
    bill_types = forms.MultipleChoiceField(
        label=_("Bill types"),
        choices=UsageRecord.BillType.choices,
        initial=[choice for choice, _label in UsageRecord.BillType.choices],
        widget=forms.CheckboxSelectMultiple(attrs=LIST_ATTRS),
    )
    # Typed in the person's own zone (the active one); the label names it.
    valid_from = InstantField(label=_("Valid from"))
    valid_until = InstantField(label=_("Valid until"))
    amount = AmountFormField(label=_("Total amount"))

    def __init__(self, *args, companies, products, **kwargs):
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        kwargs.setdefault(
            "initial", {"valid_from": today, "valid_until": today + timedelta(days=90)}
        )
        super().__init__(*args, **kwargs)
        for name in ("valid_from", "valid_until"):
            field = self.fields[name]
            field.label = f"{field.label} ({zone_label()})"
        company = self.fields["company"]
        company.queryset = companies.select_related("management_account")
        company.label_from_instance = _company_label
        self.fields["products"].queryset = products
        currencies = sorted(
            {
                c.management_account.currency
                for c in company.queryset
                if c.management_account
            }
        )
        self.fields["amount"].help_text = (
            _("In %(currency)s, the currency of the management account.")
            % {"currency": currencies[0]}
            if len(currencies) == 1
            else _("In the currency of the chosen company's management account.")
        )

    def clean(self):
        data = super().clean()
        if data.get("product_scope") == self.SOME_PRODUCTS:
            if not data.get("products"):
                self.add_error(
                    "products",
                    _("Tick at least one product, or choose all products."),
                )
        else:
            data["products"] = Product.objects.none()
        valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
        if valid_from and valid_until:
            if valid_until <= valid_from:
                self.add_error(
                    "valid_until", _("The validity must end after it starts.")
                )
            elif valid_until <= timezone.now():
                self.add_error("valid_until", _("The validity must end in the future."))
        return data

    def service_arguments(self) -> dict:
        """The validated request as ``request_pool`` takes it."""
        data = self.cleaned_data
        company = data["company"]
        return {
            "company": company,
            "distribution_target": data["distribution_target"],
            "management_account": company.management_account,
            "products": [p.code for p in data["products"]],
            "bill_types": list(data["bill_types"]),
            "valid_from": data["valid_from"],
            "valid_until": data["valid_until"],
            "amount": data["amount"],
        }


def _company_label(company) -> str:
    account = company.management_account
    return _("%(company)s — management account %(name)s (%(uid)s, %(currency)s)") % {
        "company": company.name,
        "name": account.name,
        "uid": account.uid,
        "currency": account.currency,
    }


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required. It is kept and shown to the business manager."),
        error_messages={"required": _("Say why the pool is rejected.")},
    )


class IssueCouponsForm(forms.Form):
    """What an enterprise administrator sets (SPEC §5): the applicable accounts,
    the number of coupons and the face value of each. The scope is the pool's."""

    accounts = forms.ModelMultipleChoiceField(
        label=_("Applicable accounts"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple(attrs=LIST_ATTRS),
        help_text=_("Each coupon applies to every account ticked."),
    )
    count = forms.IntegerField(
        label=_("Number of coupons"),
        min_value=1,
        max_value=MAX_COUPONS_PER_ISSUE,
        initial=1,
    )
    face_value = AmountFormField(label=_("Face value per coupon"))

    def __init__(self, *args, offered, named, management_account, **kwargs):
        """``offered``: the accounts shown (eligible now); ``named``: those a
        POST may name (the service refuses the ineligible ones with a reason)."""
        super().__init__(*args, **kwargs)
        field = self.fields["accounts"]
        field.queryset = named
        field.choices = [
            (
                a.pk,
                _("%(name)s (%(uid)s) — the enterprise management account")
                % {"name": a.name, "uid": a.uid}
                if a.pk == management_account.pk
                else f"{a.name} ({a.uid})",
            )
            for a in offered
        ]
        field.label_from_instance = lambda a: f"{a.name} ({a.uid})"


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["code", "name"]
