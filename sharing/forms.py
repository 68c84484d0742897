"""Admin forms of equity asset sharing. They validate shape only; the rules
live in the selectors and services."""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Folder
from accounts.selectors import get_folder_tree

from .models import Asset, SharingRule


def account_label(account: Account) -> str:
    return f"{account.name} ({account.uid})"


class RecipientAutocomplete(AutocompleteSelectMultiple):
    """Select2 fed by a view that offers only the accounts an asset (or a
    rule's owner) may be shared with."""

    def __init__(self, admin_site, url: str):
        super().__init__(
            SharingRule._meta.get_field("accounts"),
            admin_site,
            attrs={"data-width": "36em"},
        )
        self.url = url

    def get_url(self):
        return self.url


def folder_choices(account: Account) -> list[tuple]:
    """The owner's company directory as a tree (root = the whole organization)."""
    if account.company_id is None:
        return []
    choices: list[tuple] = [("", "---------")]
    for row in get_folder_tree(account.company):
        folder = row["folder"]
        if row["depth"] == 0:
            label = _("%(name)s (the whole organization)") % {"name": folder.name}
        else:
            label = "\u00a0\u00a0" * row["depth"] + "└ " + folder.name
        choices.append((folder.pk, f"{label} — {row['total']}"))
    return choices


class _TargetsForm(forms.Form):
    """Accounts or one folder of the owner's company."""

    TARGETS = [
        ("accounts", _("Specific accounts (effective at once)")),
        ("folder", _("A folder of the directory (applied about a minute later)")),
    ]
    target = forms.ChoiceField(
        label=_("Share with"),
        choices=TARGETS,
        initial="accounts",
        widget=forms.RadioSelect,
    )
    accounts = forms.ModelMultipleChoiceField(
        label=_("Accounts"), queryset=Account.objects.none(), required=False
    )
    folder = forms.ModelChoiceField(
        label=_("Folder"), queryset=Folder.objects.none(), required=False
    )

    def _setup_targets(self, owner: Account, accounts, url: str, admin_site):
        field = self.fields["accounts"]
        field.queryset = accounts
        field.widget = RecipientAutocomplete(admin_site, url)
        field.widget.choices = field.choices
        field.label_from_instance = account_label
        folder = self.fields["folder"]
        folder.queryset = Folder.objects.filter(company=owner.company_id)
        folder.choices = folder_choices(owner)

    def clean(self):
        data = super().clean()
        target = data.get("target")
        # (A choice already refused by its field keeps only that error.)
        for name, needed, message in (
            ("accounts", "accounts", _("Choose at least one account.")),
            ("folder", "folder", _("Choose a folder.")),
        ):
            if target == needed and not data.get(name) and name not in self.errors:
                self.add_error(name, message)
        # Only what the chosen target needs travels to the review and service.
        if target == "accounts":
            data["folder"] = None
        elif target == "folder":
            data["accounts"] = Account.objects.none()
        return data


class ShareForm(_TargetsForm):
    """Share one asset: accounts from its eligible recipients, or a folder."""

    def __init__(self, *args, asset: Asset, targets, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_targets(
            asset.owner,
            targets,
            reverse(f"{admin_site.name}:sharing_asset_share_targets", args=[asset.pk]),
            admin_site,
        )


class SharingRuleForm(_TargetsForm):
    """An automatic sharing rule of one owner account (SPEC §4.3)."""

    asset_types = forms.MultipleChoiceField(
        label=_("Asset types"),
        choices=Asset.Type.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    field_order = ["asset_types", "target", "accounts", "folder"]

    def __init__(self, *args, owner: Account, targets, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_targets(
            owner,
            targets,
            reverse(f"{admin_site.name}:sharing_sharingrule_targets")
            + f"?owner={owner.pk}",
            admin_site,
        )


class RuleOwnerForm(forms.Form):
    """Step one of a new rule: whose new assets it shares."""

    owner = forms.ModelChoiceField(
        label=_("Owner account"), queryset=Account.objects.none()
    )

    def __init__(self, *args, owners, admin_site, autocomplete: bool, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        field.queryset = owners
        field.label_from_instance = account_label
        if autocomplete:
            # Operators may pick any account: no select of every account.
            field.widget = AutocompleteSelect(
                SharingRule._meta.get_field("owner"), admin_site
            )


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class ChargebackForm(forms.Form):
    """The chargeback's period (whole UTC days, both ends included) and,
    optionally, one owner account."""

    owner = forms.ModelChoiceField(
        label=_("Owner account"),
        queryset=Account.objects.none(),
        required=False,
        empty_label=_("All owners"),
    )
    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To (included)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data, *, owners, **kwargs):
        today = timezone.now().date()
        data = data.copy() if data else {}
        data.setdefault("start", month_start(timezone.now()).date().isoformat())
        data.setdefault("end", today.isoformat())
        super().__init__(data, **kwargs)
        field = self.fields["owner"]
        field.queryset = owners
        field.label_from_instance = account_label

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The period cannot end before it starts."))
        return data

    @property
    def period(self) -> tuple[datetime, datetime]:
        """``[start 00:00, day after end 00:00)`` in UTC."""
        data = self.cleaned_data
        start = datetime.combine(data["start"], time.min, tzinfo=UTC)
        end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=UTC)
        return start, end
