"""What the sharing admin's screens share: account filters, labels, the
select2 results of accounts, page rendering."""

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.selectors import list_target_accounts
from billing_portal.money import format_amount

from ..models import Asset

#: Rows of a panel before "all of them" (every panel that grows is paginated).
PANEL_ROWS = 10


class AccountFilter(admin.SimpleListFilter):
    """Filter an account field by one of the accounts the user may name: its
    own companies' accounts (uid and name only), never other companies'."""

    field = ""

    def lookups(self, request, model_admin):
        accounts = list_target_accounts(request.user).order_by("uid")[:500]
        return [(a.pk, f"{a.name} ({a.uid})") for a in accounts]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{self.field: int(value)})
        return queryset


def account_results(request, accounts) -> JsonResponse:
    """Select2 results (20 a page) of accounts: uid and name only."""
    term = request.GET.get("term", "").strip()
    if term:
        accounts = accounts.filter(name__icontains=term) | accounts.filter(
            uid__startswith=term
        )
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    rows = list(accounts.order_by("uid")[(page - 1) * 20 : page * 20 + 1])
    return JsonResponse(
        {
            "results": [
                {"id": str(a.pk), "text": f"{a.name} ({a.uid})"} for a in rows[:20]
            ],
            "pagination": {"more": len(rows) > 20},
        }
    )


NO_RESULTS = {"results": [], "pagination": {"more": False}}


def account_cell(account) -> str:
    """An account in a narrow column: its name, its uid below."""
    return format_html(
        '{} <br><span class="portal-muted">{}</span>', account.name, account.uid
    )


def capacity_text(asset: Asset) -> str:
    """What the asset offers, in its own unit."""
    if asset.type == Asset.Type.SAVINGS_PLAN:
        return _("%(amount)s %(currency)s per hour") % {
            "amount": format_amount(asset.commitment_per_hour),
            "currency": asset.currency,
        }
    if asset.type == Asset.Type.RESERVED_INSTANCE:
        return _("%(count)s instances of %(instance_type)s in %(region)s") % {
            "count": asset.count,
            "instance_type": asset.instance_type,
            "region": asset.region,
        }
    if asset.type == Asset.Type.COUPON:
        return _("face value %(amount)s %(currency)s") % {
            "amount": format_amount(asset.capacity),
            "currency": asset.currency,
        }
    return f"{format_amount(asset.capacity)} {asset.currency}"


def remaining_text(asset: Asset) -> str:
    if asset.has_capacity_book:
        return f"{format_amount(asset.remaining)} {asset.currency}"
    return str(_("renews every hour"))


def utilisation_text(utilisation) -> str:
    percent = utilisation.percent
    return "—" if percent is None else f"{percent} %"


def page(model_admin, request, template, title, **context):
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": title,
            **context,
        },
    )
