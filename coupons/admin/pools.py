"""Coupon credit pools in the admin (SPEC §5): the CBM's request, the operator's
decision, the pool page and the enterprise administrators' coupon issuance.

Every write is a service behind a confirmation page with a one-time token
(``ScopedAdmin.confirmation_view``): a replayed "Yes" shows the first result
and writes nothing more. A pool out of the user's reach answers like a missing
id on every URL (the scope is ``list_visible_pools``).
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import path, re_path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.selectors import can_manage, can_see_account, list_target_accounts
from billing_portal import roles
from billing_portal.actions import action
from billing_portal.admin_base import ScopedAdmin
from billing_portal.errors import reason
from billing_portal.money import format_amount

from .. import selectors, services
from ..forms import IssueCouponsForm, PoolRequestForm, RejectForm
from ..models import Coupon, CreditPool
from .charts import pool_pictures
from .common import PANEL_ROWS, SCOPE_NOTE, business_manager_name, pool_scope

Status = CreditPool.Status
TEMPLATES = "admin/coupons/creditpool/"


def _money(amount, currency) -> str:
    return f"{format_amount(amount)} {currency}"


class IssuableFilter(admin.SimpleListFilter):
    """Pools whose coupons the user can still issue (the home page links here)."""

    title = _("coupons to issue")
    parameter_name = "issuable"

    def lookups(self, request, model_admin):
        if roles.is_operator(request.user) or roles.is_cbm(request.user):
            return []
        return [("yes", _("Value left to issue"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            issuable = selectors.list_pools_to_issue(request.user)
            return queryset.filter(pk__in=issuable.values("pk"))
        return queryset


@admin.register(CreditPool)
class CreditPoolAdmin(ScopedAdmin):
    list_display = [
        "id",
        "company",
        "management_account",
        "status",
        "total",
        "issued",
        "revoked_back",
        "remaining_amount",
        "valid_from",
        "valid_until",
        "requested_at",
    ]
    list_display_links = ["id", "company"]
    list_filter = ["status", IssuableFilter]
    list_select_related = ["company", "management_account"]
    ordering = ["-id"]
    fields = ["status"]
    readonly_fields = fields
    change_list_template = f"{TEMPLATES}change_list.html"
    change_form_template = f"{TEMPLATES}change_form.html"

    def history_related(self):
        return [(Coupon, "pool")]

    def scope(self, user):
        return selectors.list_visible_pools(user)

    @admin.display(description=_("Total"))
    def total(self, pool):
        return _money(pool.amount, pool.currency)

    @admin.display(description=_("Issued"))
    def issued(self, pool):
        return _money(pool.issued_amount, pool.currency)

    @admin.display(description=_("Revoked back"))
    def revoked_back(self, pool):
        return _money(pool.revoked_amount, pool.currency)

    @admin.display(description=_("Remaining"))
    def remaining_amount(self, pool):
        return _money(pool.remaining, pool.currency)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "request/", view(self.request_view), name="coupons_creditpool_request"
            ),
            re_path(
                r"^(?P<object_id>.+)/(?P<decision>approve|reject)/$",
                view(self.decide_view),
                name="coupons_creditpool_decide",
            ),
            path(
                "<path:object_id>/issue/",
                view(self.issue_view),
                name="coupons_creditpool_issue",
            ),
            *super().get_urls(),
        ]

    # --- the list and the pool page ---------------------------------------------

    def changelist_view(self, request, extra_context=None):
        user = request.user
        has_pools = self.get_queryset(request).exists()
        extra_context = {
            "title": _("Coupon credit pools"),
            "can_request": roles.is_cbm(user),
            "has_pools": has_pools,
            **(empty_state_context(user) if not has_pools else {}),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pool = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if pool is not None:
            extra_context.update(self._pool_page(request, pool))
        return super().change_view(request, object_id, form_url, extra_context)

    def _pool_page(self, request, pool):
        user = request.user
        active = selectors.is_pool_active(pool)
        administers = can_manage(user, pool.management_account)
        coupons = selectors.with_deducted(
            # Who issued each coupon is on its row: read with it, not per row.
            pool.coupons.select_related("asset", "issued_by").prefetch_related(
                "accounts"
            )
        ).order_by("-id")
        return {
            "pool": pool,
            "scope": pool_scope(pool),
            "scope_note": SCOPE_NOTE,
            "active": active,
            # Operators decide a requested pool (the state the service needs);
            # everyone else reads that it waits for an operator.
            "can_decide": roles.is_operator(user)
            and not selectors.pool_decision_refusals(pool, "approve"),
            "administers": administers,
            # Once approved, for the management account's administrators:
            # disabled while the pool is not valid or has nothing left.
            "issue_action": issue_action(pool)
            if administers and pool.status in (Status.APPROVED, Status.EXPIRED)
            else None,
            "sees_management_account": can_see_account(user, pool.management_account),
            "coupons": coupons[:PANEL_ROWS],
            "coupon_count": pool.coupons.count(),
            "coupons_url": reverse("admin:coupons_coupon_changelist")
            + f"?pool={pool.pk}",
            "business_manager": business_manager_name(pool.company),
            **pool_pictures(pool),
        }

    # --- the CBM's request ------------------------------------------------------

    def request_view(self, request):
        user = request.user
        is_cbm = roles.is_cbm(user)
        companies = selectors.list_requestable_companies(user)
        form = PoolRequestForm(
            request.POST or None,
            companies=companies,
            products=selectors.list_products(),
        )
        return self.confirmation_view(
            request,
            obj=None,
            form=form,
            blocks=lambda: [] if is_cbm else [reason("not_cbm")],
            review=lambda d: {
                "request": form.service_arguments(),
                "scope": {
                    "products": [str(p) for p in d["products"]] or None,
                    "bill_types": [
                        str(label)
                        for value, label in form.fields["bill_types"].choices
                        if value in d["bill_types"]
                    ],
                },
            },
            act=lambda d: services.request_pool(actor=user, **form.service_arguments()),
            done=lambda pool, d: (
                _(
                    "Pool #%(id)s requested for %(company)s: %(amount)s, waiting for "
                    "an operator's approval."
                )
                % {
                    "id": pool.pk,
                    "company": pool.company.name,
                    "amount": _money(pool.amount, pool.currency),
                }
            ),
            log=lambda pool, message: self.log_addition(
                request, pool, "Requested the pool."
            ),
            redirect_to=lambda pool: reverse(
                "admin:coupons_creditpool_change", args=[pool.pk]
            ),
            title=_("Request a coupon credit pool"),
            review_title=_("Review the pool request"),
            form_template=f"{TEMPLATES}request_form.html",
            review_template=f"{TEMPLATES}request_confirm.html",
            context={
                "is_cbm": is_cbm,
                "requestable": companies.exists(),
                "catalogue_empty": not selectors.list_products().exists(),
                **request_context(user, is_cbm),
            },
        )

    # --- the operator's decision -----------------------------------------------

    def decide_view(self, request, object_id, decision):
        pool = self.get_object(request, object_id)
        if pool is None:
            return self.does_not_exist(request, object_id)
        user = request.user
        if not roles.is_operator(user):
            raise PermissionDenied
        approve = decision == "approve"

        def act(data):
            if approve:
                return services.approve_pool(pool=pool, actor=user)
            return services.reject_pool(
                pool=pool, reason_text=data["reason"], actor=user
            )

        def done(_pool, data):
            values = {
                "id": pool.pk,
                "amount": _money(pool.amount, pool.currency),
                "account": f"{pool.management_account.name} "
                f"({pool.management_account.uid})",
            }
            if approve:
                return (
                    _(
                        "Pool #%(id)s approved: %(amount)s can now be issued as "
                        "coupons by the administrators of %(account)s."
                    )
                    % values
                )
            return _("Pool #%(id)s rejected; the reason is shown on the pool.") % values

        return self.confirmation_view(
            request,
            obj=pool,
            form=None if approve else RejectForm(request.POST or None),
            blocks=lambda: selectors.pool_decision_refusals(pool, decision),
            act=act,
            done=done,
            log=lambda _pool, message: self.log_change(
                request,
                pool,
                "Approved the pool." if approve else "Rejected the pool.",
            ),
            redirect_to=reverse("admin:coupons_creditpool_change", args=[pool.pk]),
            title=(_("Approve pool #%(id)s") if approve else _("Reject pool #%(id)s"))
            % {"id": pool.pk},
            review_template=f"{TEMPLATES}decide.html",
            context={
                "pool": pool,
                "original": pool,
                "decision": decision,
                "scope": pool_scope(pool),
            },
        )

    # --- the enterprise administrators' issuance --------------------------------

    def issue_view(self, request, object_id):
        pool = self.get_object(request, object_id)
        if pool is None:
            return self.does_not_exist(request, object_id)
        user = request.user
        if not can_manage(user, pool.management_account):
            raise PermissionDenied
        offered = list(selectors.list_issuable_accounts(pool))
        # A POST may name any account of the company the user may name; the
        # ineligible ones get the service's reason, not a form error.
        named = list_target_accounts(user).filter(company_id=pool.company_id)
        form = IssueCouponsForm(
            request.POST or None,
            offered=offered,
            named=named,
            management_account=pool.management_account,
        )
        currency = pool.currency

        def review(data):
            total = data["face_value"] * data["count"]
            return {
                "total": total,
                "remaining_after": pool.remaining - total,
                "chosen": sorted(data["accounts"], key=lambda a: a.uid),
            }

        def done(coupons, data):
            count = len(coupons)
            return ngettext(
                "Issued %(count)d coupon of %(face)s from pool #%(id)s "
                "(%(total)s in all).",
                "Issued %(count)d coupons of %(face)s each from pool #%(id)s "
                "(%(total)s in all).",
                count,
            ) % {
                "count": count,
                "face": _money(data["face_value"], currency),
                "id": pool.pk,
                "total": _money(data["face_value"] * count, currency),
            }

        return self.confirmation_view(
            request,
            obj=pool,
            form=form,
            blocks=lambda: selectors.issuance_blocks(pool),
            refusals=lambda d: selectors.issuance_refusals(
                pool=pool,
                accounts=list(d["accounts"]),
                count=d["count"],
                face_value=d["face_value"],
            ),
            review=review,
            act=lambda d: services.issue_coupons(
                pool=pool,
                accounts=list(d["accounts"]),
                count=d["count"],
                face_value=d["face_value"],
                actor=user,
            ),
            done=done,
            log=lambda _coupons, message: self.log_change(
                request, pool, "Issued coupons."
            ),
            redirect_to=reverse("admin:coupons_creditpool_change", args=[pool.pk]),
            title=_("Issue coupons"),
            review_title=_("Confirm coupon issuance"),
            form_template=f"{TEMPLATES}issue_form.html",
            review_template=f"{TEMPLATES}issue_confirm.html",
            context={
                "pool": pool,
                "original": pool,
                "scope": pool_scope(pool),
                "scope_note": SCOPE_NOTE,
                "offered": offered,
                "absent": selectors.list_absent_members(pool),
            },
        )


def issue_action(pool):
    """ "Issue coupons" from the pool, disabled with ``issuance_blocks`` (the
    rules of the service's ``issuance_refusals`` that refuse any issuance)."""
    return action(
        _("Issue coupons"),
        reverse("admin:coupons_creditpool_issue", args=[pool.pk]),
        selectors.issuance_blocks(pool),
        lead=_("No coupons can be issued from this pool now:"),
    )


def request_context(user, is_cbm: bool) -> dict:
    """Who may request instead (for someone who may not), or the CBM's companies
    that cannot receive a pool yet and why."""
    companies = list(selectors.list_business_managers(user))
    return {
        "business_managers": [
            (company, business_manager_name(company)) for company in companies
        ],
        "not_requestable": [
            company
            for company in companies
            if company.verification_status != company.Verification.VERIFIED
            or company.management_account_id is None
        ]
        if is_cbm
        else [],
    }


def empty_state_context(user) -> dict:
    """What a pool list without pools says (SPEC §5): only a CBM requests a
    pool, choosing "Specify Enterprise Management Account"; who that is."""
    return {
        "empty_state": True,
        "is_operator": roles.is_operator(user),
        "is_cbm": roles.is_cbm(user),
        "business_managers": [
            (company, business_manager_name(company))
            for company in selectors.list_business_managers(user)[:20]
        ]
        if not roles.is_operator(user)
        else [],
    }
