"""Assets: the list, the asset page (capacity, shares, recipients timeline,
deductions), the share form with its review, and the owner's chargeback."""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Min, Sum
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing_portal.actions import action
from billing_portal.admin_base import (
    CappedCountPaginator,
    ScopedAdmin,
    stream_csv,
    text_cell,
)
from billing_portal.money import ZERO, format_amount
from billing_portal.timezones import format_instant

from .. import selectors, services
from ..forms import ChargebackForm, ShareForm
from ..models import Asset, RecipientRule, Share, SharePeriod
from .charts import asset_pictures
from .common import (
    NO_RESULTS,
    PANEL_ROWS,
    AccountFilter,
    account_cell,
    account_results,
    capacity_text,
    page,
    remaining_text,
    utilisation_text,
)

TEMPLATES = "admin/sharing/asset/"


class OwnerFilter(AccountFilter):
    title = _("owner")
    parameter_name = "owner"
    field = "owner_id"


class RecipientFilter(AccountFilter):
    """Assets shared (now or before) with one account."""

    title = _("shared with")
    parameter_name = "recipient"
    field = "periods__recipient_id"

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            received = SharePeriod.objects.filter(recipient_id=int(value))
            return queryset.filter(pk__in=received.values("asset"))
        return queryset


@admin.register(Asset)
class AssetAdmin(ScopedAdmin):
    list_display = [
        "id",
        "type",
        "owner_cell",
        "validity",
        "status",
        "offers",
        "remaining_now",
        "utilisation",
        "recipients",
    ]
    list_display_links = ["id", "type"]
    list_filter = ["type", "status", OwnerFilter, RecipientFilter]
    list_select_related = ["owner"]
    paginator = CappedCountPaginator
    search_fields = ["owner__uid", "owner__name"]
    ordering = ["-id"]
    change_form_template = f"{TEMPLATES}change_form.html"
    change_list_template = f"{TEMPLATES}change_list.html"

    def history_related(self):
        return [(Share, "asset"), (SharePeriod, "asset"), (RecipientRule, "asset")]

    def scope(self, user):
        return selectors.list_visible_assets(user)

    def get_queryset(self, request):
        assets = selectors.with_hour_totals(super().get_queryset(request))
        return selectors.with_recipient_count(assets)

    # --- list columns ---------------------------------------------------------

    @admin.display(description=_("Owner"), ordering="owner__uid")
    def owner_cell(self, obj):
        return account_cell(obj.owner)

    @admin.display(description=_("Validity"), ordering="valid_until")
    def validity(self, obj):
        return f"{obj.valid_from:%Y-%m-%d} → {obj.valid_until:%Y-%m-%d}"

    @admin.display(description=_("Capacity"))
    def offers(self, obj):
        return capacity_text(obj)

    @admin.display(description=_("Remaining"))
    def remaining_now(self, obj):
        return remaining_text(obj)

    @admin.display(description=_("Utilisation"))
    def utilisation(self, obj):
        return utilisation_text(selectors.get_utilisation(obj))

    @admin.display(description=_("Recipients now"))
    def recipients(self, obj):
        return f"{obj.recipient_count} / {services.RECIPIENT_LIMIT}"

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Assets"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    # --- the asset page ---------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        asset = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if asset is not None:
            extra_context.update(self._asset_page_context(request, asset))
        return super().change_view(request, object_id, form_url, extra_context)

    def _asset_page_context(self, request, asset):
        user = request.user
        now = timezone.now()
        owner_view = selectors.sees_owner(user, asset)
        periods = selectors.list_recipient_periods(user, asset)
        # Buttons only for the owner's administrators; anyone else reads why.
        forbidden = selectors.share_permission_refusals(user, asset)
        shares = Paginator(selectors.list_asset_shares(user, asset), 20).get_page(
            request.GET.get("shares")
        )
        deductions = selectors.list_visible_deductions(user).filter(asset=asset)
        recent = list(deductions.order_by("-id")[:PANEL_ROWS])
        # A usage record opens only for whoever may see its account.
        openable = set(
            selectors.list_visible_usage(user)
            .filter(pk__in=[d.usage_id for d in recent])
            .values_list("pk", flat=True)
        )
        return {
            "asset": asset,
            "now": now,
            "owner_view": owner_view,
            "capacity_text": capacity_text(asset),
            "utilisation": selectors.get_utilisation(asset, at=now),
            "current_hour": None
            if asset.has_capacity_book
            else selectors.get_current_hour(asset, at=now),
            "valid_now": asset.valid_from <= now < asset.valid_until,
            "not_yet_valid": now < asset.valid_from,
            "recipient_count": selectors.count_recipients(asset),
            "recipient_limit": services.RECIPIENT_LIMIT,
            "share_action": None
            if forbidden
            else action(
                _("Share"),
                reverse("admin:sharing_asset_share", args=[asset.pk]),
                selectors.share_blocks(user, asset),
                lead=_("This asset cannot be shared now:"),
            ),
            "share_note": forbidden,
            "shares_page": shares,
            "share_rows": _share_rows(user, asset, shares.object_list, forbidden),
            **_timeline_context(periods, now, request.GET.get("recipients")),
            **asset_pictures(asset, periods, now=now, owner_view=owner_view),
            "deductions": [(d, d.usage_id in openable) for d in recent],
            "deducted_total": deductions.aggregate(total=Sum("amount"))["total"],
            "deductions_url": reverse("admin:sharing_deduction_changelist")
            + f"?asset={asset.pk}",
        }

    # --- views ------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "chargeback/",
                view(self.chargeback_view),
                name="sharing_asset_chargeback",
            ),
            path(
                "chargeback/export/",
                view(self.chargeback_export_view),
                name="sharing_asset_chargeback_export",
            ),
            path(
                "<path:object_id>/share/",
                view(self.share_view),
                name="sharing_asset_share",
            ),
            path(
                "<path:object_id>/share/targets/",
                view(self.share_targets_view),
                name="sharing_asset_share_targets",
            ),
            *super().get_urls(),
        ]

    def _asset_url(self, asset):
        return reverse("admin:sharing_asset_change", args=[asset.pk])

    def share_targets_view(self, request, object_id):
        """Select2 results: the accounts the asset may be shared with."""
        asset = self.get_object(request, object_id)
        if asset is None or selectors.share_blocks(request.user, asset):
            return JsonResponse(NO_RESULTS)
        return account_results(request, selectors.list_share_targets(asset))

    def share_view(self, request, object_id):
        asset = self.get_object(request, object_id)
        if asset is None:
            return self.does_not_exist(request, object_id)
        user = request.user
        # The picker offers accounts not receiving the asset yet; the form
        # accepts any eligible one (sharing again changes nothing), so that
        # a replayed confirmation still validates and shows its first result.
        targets = selectors.list_share_targets(asset)
        form = ShareForm(
            request.POST or None,
            asset=asset,
            targets=selectors.list_eligible_recipients(asset),
            admin_site=self.admin_site,
        )

        def refusals(data):
            if data["target"] == "accounts":
                return selectors.share_refusals(asset, data["accounts"])
            return []

        def review(data):
            if data["target"] == "accounts":
                accounts = list(data["accounts"])
                return {
                    "chosen": accounts,
                    "after": selectors.count_after_share(asset, accounts),
                }
            preview = selectors.preview_folder_share(asset, data["folder"])
            return {
                "folder": data["folder"],
                "folder_preview": preview,
                "after": preview.total,
            }

        def act(data):
            if data["target"] == "accounts":
                return services.share_with_accounts(
                    asset=asset, accounts=list(data["accounts"]), actor=user
                )
            return services.share_with_folder(
                asset=asset, folder=data["folder"], actor=user
            )

        return self.confirmation_view(
            request,
            obj=asset,
            form=form,
            blocks=lambda: selectors.share_blocks(user, asset),
            refusals=refusals,
            review=review,
            act=act,
            done=_shared_message,
            redirect_to=self._asset_url(asset),
            title=_("Share %(asset)s") % {"asset": asset},
            review_title=_("Confirm sharing"),
            form_template=f"{TEMPLATES}share_form.html",
            review_template=f"{TEMPLATES}share_confirm.html",
            context={
                "asset": asset,
                "original": asset,
                "recipient_count": selectors.count_recipients(asset),
                "recipient_limit": services.RECIPIENT_LIMIT,
                "eligible_count": targets.count(),
                "company": asset.owner.company,
                "media": self.media + form.media,
            },
        )

    # --- chargeback ---------------------------------------------------------------

    def _chargeback(self, request):
        owners = selectors.list_visible_accounts_owning_shared_assets(request.user)
        form = ChargebackForm(request.GET or None, owners=owners)
        if not form.is_valid():
            return form, None, None
        assets = selectors.list_chargeback_assets(request.user)
        if form.cleaned_data["owner"] is not None:
            assets = assets.filter(owner=form.cleaned_data["owner"])
        return form, assets.order_by("id"), form.period

    def chargeback_view(self, request):
        """Savings each beneficiary drew from each shared asset the user's
        accounts own, over a period (usage start), with totals."""
        form, assets, period = self._chargeback(request)
        context = {"form": form, "assets_page": None, "groups": [], "totals": []}
        if assets is not None:
            start, end = period
            assets_page = Paginator(assets, 25).get_page(request.GET.get("page"))
            rows = selectors.chargeback(
                assets.filter(pk__in=[a.pk for a in assets_page.object_list]),
                start=start,
                end=end,
            )
            groups, totals = _chargeback_groups(assets_page.object_list, rows)
            query = request.GET.copy()
            query.pop("page", None)
            context.update(
                assets_page=assets_page,
                groups=groups,
                totals=totals,
                start=start,
                end=end,
                query=query.urlencode(),
            )
        return page(
            self,
            request,
            f"{TEMPLATES}chargeback.html",
            _("Chargeback of shared assets"),
            **context,
        )

    def chargeback_export_view(self, request):
        _form, assets, period = self._chargeback(request)
        if assets is None:
            return self.chargeback_view(request)
        start, end = period
        rows = selectors.chargeback(assets, start=start, end=end)
        header = [
            "period_start",
            "period_end",
            "asset_id",
            "asset_type",
            "owner_uid",
            "owner_name",
            "beneficiary_uid",
            "beneficiary_name",
            "usage_records",
            "savings",
            "currency",
        ]
        return stream_csv(
            header,
            (
                [
                    start.isoformat(),
                    end.isoformat(),
                    row["asset"],
                    row["asset__type"],
                    text_cell(row["owner__uid"]),
                    row["owner__name"],
                    text_cell(row["beneficiary__uid"]),
                    row["beneficiary__name"],
                    row["records"],
                    format_amount(row["amount"]),
                    row["asset__currency"],
                ]
                for row in rows.iterator(chunk_size=2000)
            ),
            filename=f"chargeback-{start:%Y%m%d}-{end:%Y%m%d}.csv",
        )


def _share_rows(user, asset, shares, forbidden) -> list[dict]:
    """The asset's shares on its page, each with its "Stop" button for the
    owner's administrators: none on a stopped share (its status says so),
    disabled with the service's reason on one that cannot be stopped now (an
    account that receives the asset through a folder share)."""
    shares = list(shares)
    blocks = [] if forbidden else selectors.shares_permission_blocks(user, asset)
    refusals = {} if forbidden else selectors.share_stop_refusals(shares, asset)
    rows = []
    for share in shares:
        stop = None
        if not forbidden and share.status != Share.Status.STOPPED:
            stop = action(
                _("Stop"),
                reverse("admin:sharing_share_stop", args=[share.pk]),
                blocks or refusals[share.pk],
            )
        rows.append(
            {
                "share": share,
                "stop": stop,
                "receiving": selectors.count_folder_recipients(share)
                if share.target == Share.Target.FOLDER
                else None,
            }
        )
    return rows


def _shared_message(result, data):
    if data["target"] == "accounts":
        accounts = list(data["accounts"])
        return ngettext(
            "Shared with %(count)d account: %(names)s. It receives the asset "
            "from now on.",
            "Shared with %(count)d accounts: %(names)s. They receive the asset "
            "from now on.",
            len(accounts),
        ) % {
            "count": len(accounts),
            "names": ", ".join(f"{a.name} ({a.uid})" for a in accounts),
        }
    due = result.due_at
    return _(
        "Shared with folder %(folder)s: pending until the background job "
        "applies it, expected at %(due)s."
    ) % {
        "folder": data["folder"].name,
        "due": format_instant(due, seconds=True),
    }


# --- the recipients timeline ----------------------------------------------------------


@dataclass
class TimelineRow:
    recipient: object
    periods: list = field(default_factory=list)
    bars: list = field(default_factory=list)

    @property
    def receiving(self) -> bool:
        return any(p.end is None for p in self.periods)


def _timeline_context(periods, now: datetime, page_number) -> dict:
    """Recipients of the asset, 25 a page in the order they first received
    it, each with its periods ``[start, end)`` and bars on one time axis
    (from the page's first start to now)."""
    recipients = (
        periods.order_by()
        .values("recipient")
        .annotate(first=Min("start"))
        .order_by("first", "recipient")
    )
    recipients_page = Paginator(recipients, 25).get_page(page_number)
    ids = [r["recipient"] for r in recipients_page.object_list]
    rows: OrderedDict[int, TimelineRow] = OrderedDict()
    for period in periods.filter(recipient__in=ids).select_related("share__folder"):
        row = rows.setdefault(period.recipient_id, TimelineRow(period.recipient))
        row.periods.append(period)
    ordered = [rows[pk] for pk in ids if pk in rows]
    starts = [p.start for row in ordered for p in row.periods]
    axis_start = min(starts) if starts else now
    axis_end = max([now, *(p.end for row in ordered for p in row.periods if p.end)])
    span = (axis_end - axis_start).total_seconds() or 1.0
    for row in ordered:
        for period in row.periods:
            left = (period.start - axis_start).total_seconds() / span * 100
            width = ((period.end or now) - period.start).total_seconds() / span * 100
            row.bars.append(
                {
                    "left": f"{left:.2f}",
                    "width": f"{max(width, 0.6):.2f}",
                    "open": period.end is None,
                }
            )
    return {
        "timeline": ordered,
        "recipients_page": recipients_page,
        "axis_start": axis_start,
        "axis_end": axis_end,
    }


# --- chargeback ---------------------------------------------------------------------


def _chargeback_groups(assets, rows):
    """One group per asset (in page order) with its beneficiaries' rows and a
    subtotal; and totals per currency."""
    by_asset: dict[int, list[dict]] = {}
    for row in rows:
        by_asset.setdefault(row["asset"], []).append(row)
    groups, totals = [], {}
    for asset in assets:
        lines = by_asset.get(asset.pk, [])
        subtotal = sum((r["amount"] for r in lines), start=ZERO)
        for line in lines:
            line["is_owner"] = line["beneficiary"] == asset.owner_id
            line["percent"] = (
                f"{line['amount'] * 100 / subtotal:.1f} %" if subtotal else "—"
            )
        groups.append({"asset": asset, "lines": lines, "subtotal": subtotal})
        totals[asset.currency] = totals.get(asset.currency, ZERO) + subtotal
    return groups, [
        {"currency": currency, "amount": format_amount(amount)}
        for currency, amount in sorted(totals.items())
    ]
