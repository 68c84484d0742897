"""Automatic sharing rules (SPEC §4.3): the list, a rule's page with the
shares it made (scheduled time and outcome), and the form that adds one."""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.admin_base import ScopedAdmin
from billing_portal.errors import DomainError

from .. import selectors, services
from ..forms import RuleOwnerForm, SharingRuleForm
from ..models import Asset, Share, SharingRule
from .common import NO_RESULTS, account_results, page

TEMPLATES = "admin/sharing/sharingrule/"


@admin.register(SharingRule)
class SharingRuleAdmin(ScopedAdmin):
    list_display = [
        "id",
        "owner",
        "types",
        "targets",
        "active",
        "outcomes",
        "created_by",
        "created_at",
    ]
    list_filter = ["active"]
    ordering = ["-id"]
    change_form_template = f"{TEMPLATES}change_form.html"

    def scope(self, user):
        # (list_select_related is ignored on a queryset that has joins already.)
        rules = selectors.list_visible_sharing_rules(user).select_related("created_by")
        return with_rule_counts(rules)

    def has_add_permission(self, request):
        user = request.user
        return roles.is_operator(user) or (
            self._may_open(request) and selectors.list_managed_accounts(user).exists()
        )

    @admin.display(description=_("Asset types"))
    def types(self, obj):
        labels = dict(Asset.Type.choices)
        return ", ".join(str(labels.get(t, t)) for t in obj.asset_types)

    @admin.display(description=_("Shares with"))
    def targets(self, obj):
        parts = []
        if obj.account_count:
            parts.append(_("%(count)d account(s)") % {"count": obj.account_count})
        if obj.folder_id:
            parts.append(_("folder %(name)s") % {"name": obj.folder.name})
        return " + ".join(str(p) for p in parts) or "—"

    @admin.display(description=_("Shares made"))
    def outcomes(self, obj):
        return _("%(active)d active, %(pending)d pending, %(failed)d failed") % {
            "active": obj.shares_active,
            "pending": obj.shares_pending,
            "failed": obj.shares_failed,
        }

    # --- the rule's page ------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        rule = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if rule is not None:
            shares = rule.shares.select_related("asset", "account", "folder").order_by(
                "-id"
            )
            extra_context.update(
                rule=rule,
                now=timezone.now(),
                rule_accounts=rule.accounts.order_by("uid"),
                shares_page=Paginator(shares, 20).get_page(request.GET.get("shares")),
                type_labels=[
                    label
                    for value, label in Asset.Type.choices
                    if value in rule.asset_types
                ],
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- adding a rule ------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "targets/",
                view(self.targets_view),
                name="sharing_sharingrule_targets",
            ),
            *super().get_urls(),
        ]

    def _owner(self, request, value):
        """The rule's owner among the accounts the user administers, if valid."""
        owners = selectors.list_managed_accounts(request.user)
        form = RuleOwnerForm(
            {"owner": value} if value else None,
            owners=owners,
            admin_site=self.admin_site,
            autocomplete=roles.is_operator(request.user),
        )
        owner = form.cleaned_data["owner"] if form.is_valid() else None
        return form, owner

    def targets_view(self, request):
        """Select2 results: accounts the owner's new assets may be shared with."""
        _form, owner = self._owner(request, request.GET.get("owner"))
        if owner is None:
            return JsonResponse(NO_RESULTS)
        return account_results(request, selectors.list_owner_recipients(owner))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)  # 403
        owner_form, owner = self._owner(request, request.GET.get("owner"))
        if owner is None:
            return page(
                self,
                request,
                f"{TEMPLATES}owner_form.html",
                _("New automatic sharing rule"),
                form=owner_form,
                media=self.media + owner_form.media,
            )
        form = SharingRuleForm(
            request.POST or None,
            owner=owner,
            targets=selectors.list_owner_recipients(owner),
            admin_site=self.admin_site,
        )
        refusal = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                rule = services.create_sharing_rule(
                    owner=owner,
                    asset_types=data["asset_types"],
                    accounts=list(data["accounts"]),
                    folder=data["folder"],
                    actor=request.user,
                )
            except DomainError as err:
                refusal = err
            else:
                self.log_addition(request, rule, "Created automatic sharing rule.")
                self.message_user(
                    request,
                    _(
                        "Rule #%(rule)s saved: new assets of %(owner)s of these "
                        "types are shared about a minute after they are provisioned."
                    )
                    % {"rule": rule.pk, "owner": f"{owner.name} ({owner.uid})"},
                    messages.SUCCESS,
                )
                return redirect("admin:sharing_sharingrule_change", rule.pk)
        return page(
            self,
            request,
            f"{TEMPLATES}rule_form.html",
            _("New automatic sharing rule"),
            form=form,
            owner=owner,
            refusal=refusal,
            company=owner.company,
            media=self.media + form.media,
        )


def _count(model_filter) -> Coalesce:
    rows = model_filter.order_by().values("rule").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows), Value(0))


def with_rule_counts(rules):
    """Each rule's accounts and the shares it made by status (one subquery
    each for a whole page; joining both would multiply the counts)."""
    shares = Share.objects.filter(rule=OuterRef("pk"))
    accounts = SharingRule.accounts.through.objects.filter(sharingrule=OuterRef("pk"))
    return rules.annotate(
        account_count=Coalesce(
            Subquery(
                accounts.order_by()
                .values("sharingrule")
                .annotate(n=Count("pk"))
                .values("n")
            ),
            Value(0),
        ),
        shares_active=_count(shares.filter(status=Share.Status.ACTIVE)),
        shares_pending=_count(shares.filter(status=Share.Status.PENDING)),
        shares_failed=_count(shares.filter(status=Share.Status.FAILED)),
    )
