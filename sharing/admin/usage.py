"""Usage records (what each one was charged and why a benefit did or did not
apply) and the deduction log: read-only for everyone, scoped."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Value
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.selectors import list_visible_accounts
from billing_portal import roles
from billing_portal.admin_base import (
    CappedCountPaginator,
    CsvExportMixin,
    ScopedAdmin,
    text_cell,
)
from billing_portal.money import format_amount
from billing_portal.timezones import format_instant

from .. import deduction as engine
from .. import selectors
from ..models import Asset, Deduction, SharePeriod, UsageRecord
from .common import AccountFilter, account_cell


@admin.register(UsageRecord)
class UsageRecordAdmin(ScopedAdmin):
    list_display = [
        "external_id",
        "account",
        "product",
        "bill_type",
        "usage_start",
        "amount",
        "charged_amount",
        "payer",
        "deducted",
    ]
    list_filter = ["bill_type"]
    list_select_related = ["account", "payer"]
    paginator = CappedCountPaginator
    search_fields = ["external_id"]
    ordering = ["-usage_start", "-id"]
    change_form_template = "admin/sharing/usagerecord/change_form.html"

    def scope(self, user):
        return selectors.list_visible_usage(user)

    @admin.display(description=_("Deducted by benefits"))
    def deducted(self, obj):
        return format_amount(obj.amount - obj.charged_amount)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if record is not None:
            extra_context.update(usage_page_context(request.user, record))
        return super().change_view(request, object_id, form_url, extra_context)


def usage_page_context(user, record: UsageRecord) -> dict:
    """The record's deductions in order and, for each asset that could have
    deducted but did not, the sentence that says why."""
    deductions = list(
        record.deductions.select_related("asset", "owner", "hour").order_by("position")
    )
    skipped = engine.explain(record)
    ids = {d.asset_id for d in deductions} | {s["asset"] for s in skipped}
    assets = {a.pk: a for a in Asset.objects.select_related("owner").filter(pk__in=ids)}
    visible = set(
        selectors.list_visible_assets(user)
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )
    periods: dict[int, list[SharePeriod]] = {}
    for period in SharePeriod.objects.filter(
        asset__in=[s["asset"] for s in skipped], recipient=record.account_id
    ).order_by("start"):
        periods.setdefault(period.asset_id, []).append(period)
    return {
        "record": record,
        "deductions": [
            {"line": d, "asset": d.asset, "linked": d.asset_id in visible}
            for d in deductions
        ],
        "deducted": record.amount - record.charged_amount,
        "skipped": [
            {
                **s,
                "asset_obj": assets.get(s["asset"]),
                "linked": s["asset"] in visible,
                "periods": periods.get(s["asset"], []),
            }
            for s in skipped
        ],
        # Only skips that cost money: "nothing left" means the bill was covered.
        "missed": [s for s in skipped if s["reason"] != "nothing_left"],
        "paid_by_other": record.payer_id != record.account_id,
    }


class AssetFilter(admin.SimpleListFilter):
    """Deductions of one asset (the asset page links here)."""

    title = _("asset")
    parameter_name = "asset"

    def lookups(self, request, model_admin):
        assets = list(selectors.list_visible_assets(request.user).order_by("-id")[:200])
        value = self.value()
        if value and value.isdigit() and all(a.pk != int(value) for a in assets):
            assets += list(
                selectors.list_visible_assets(request.user).filter(pk=int(value))
            )
        return [(a.pk, f"{a} — {a.owner.name}") for a in assets]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(asset_id=int(value))
        return queryset


class OwnerFilter(AccountFilter):
    title = _("owner")
    parameter_name = "owner"
    field = "owner_id"


class BeneficiaryFilter(AccountFilter):
    title = _("beneficiary")
    parameter_name = "beneficiary"
    field = "beneficiary_id"


def _capacity(d: Deduction) -> str:
    if d.capacity_before is None:
        return "—"
    return f"{format_amount(d.capacity_before)} → {format_amount(d.capacity_after)}"


@admin.register(Deduction)
class DeductionAdmin(CsvExportMixin, ScopedAdmin):
    """The deduction log: what each asset deducted from each usage record."""

    list_display = [
        "started",
        "usage_link",
        "beneficiary_cell",
        "asset",
        "owner_cell",
        "amount_text",
        "capacity",
    ]
    list_filter = [
        ("asset__type", admin.ChoicesFieldListFilter),
        AssetFilter,
        OwnerFilter,
        BeneficiaryFilter,
        ("usage_start", admin.DateFieldListFilter),
    ]
    list_select_related = ["asset", "owner", "beneficiary", "usage"]
    paginator = CappedCountPaginator
    ordering = ["-id"]
    change_list_template = "admin/sharing/deduction/change_list.html"
    fields = [
        "usage",
        "position",
        "asset",
        "owner",
        "beneficiary",
        "amount",
        "capacity_before",
        "capacity_after",
        "units",
        "usage_start",
        "created_at",
    ]
    readonly_fields = fields
    csv_bom = True
    csv_filename = "deductions.csv"
    csv_fields = [
        ("usage_start", lambda d: d.usage_start.isoformat()),
        ("usage_external_id", lambda d: d.usage.external_id),
        ("beneficiary_uid", lambda d: text_cell(d.beneficiary.uid)),
        ("beneficiary_name", lambda d: d.beneficiary.name),
        ("asset_id", lambda d: d.asset_id),
        ("asset_type", lambda d: d.asset.type),
        ("owner_uid", lambda d: text_cell(d.owner.uid)),
        ("owner_name", lambda d: d.owner.name),
        ("amount", lambda d: format_amount(d.amount)),
        ("capacity_before", lambda d: _money_or_blank(d.capacity_before)),
        ("capacity_after", lambda d: _money_or_blank(d.capacity_after)),
        ("instance_hours", lambda d: "" if d.units is None else d.units),
        ("currency", lambda d: d.asset.currency),
    ]

    def scope(self, user):
        deductions = selectors.list_visible_deductions(user)
        if roles.is_operator(user):
            return deductions.annotate(usage_visible=Value(True))
        # An owner sees its assets' deductions for other accounts too, but
        # opens a usage record only of an account it may see.
        return deductions.annotate(
            usage_visible=Exists(
                list_visible_accounts(user).filter(pk=OuterRef("beneficiary_id"))
            )
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Deduction log"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("Usage record"))
    def usage_link(self, obj):
        if not obj.usage_visible:
            return obj.usage.external_id
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:sharing_usagerecord_change", args=[obj.usage_id]),
            obj.usage.external_id,
        )

    @admin.display(description=_("Usage start"), ordering="usage_start")
    def started(self, obj):
        return format_instant(obj.usage_start)

    @admin.display(description=_("Beneficiary"))
    def beneficiary_cell(self, obj):
        return account_cell(obj.beneficiary)

    @admin.display(description=_("Owner"))
    def owner_cell(self, obj):
        return account_cell(obj.owner)

    @admin.display(description=_("Amount"))
    def amount_text(self, obj):
        return f"{format_amount(obj.amount)} {obj.asset.currency}"

    @admin.display(description=_("Capacity before → after"))
    def capacity(self, obj):
        if obj.units is not None and obj.capacity_before is None:
            return _("instance-hours: %(units)s") % {"units": units_text(obj.units)}
        return _capacity(obj)


def units_text(units) -> str:
    return format(units.normalize(), "f")


def _money_or_blank(value) -> str:
    return "" if value is None else format_amount(value)
