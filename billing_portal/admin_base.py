"""Admin base classes: tenant scoping in one place, read-only ledgers, CSV export,
and the one review → confirm step of every confirmation.

Every ModelAdmin of the portal derives from ``ScopedAdmin``: its queryset is
what the user may see (a selector), so changelists, change pages, custom views,
autocompletes and exports all answer an object outside the user's reach
exactly like an id that does not exist. Writes never go through ``save()``:
add/change forms and custom views call services.

Confirmations (``ScopedAdmin.confirmation_view``, the admin's twin of
``billing_portal.api.object_action_api``) are exactly-once: the review page
carries a one-time token, and the confirming POST runs the service through the
same idempotency core as the API's Idempotency-Key (``run_once``), keyed by
(user, "portal:" + token) with a fingerprint of the validated form. A replayed
confirmation shows the first result (success or refusal) and writes nothing.
"""

import csv
import re
import secrets
from functools import cache

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from billing_portal import roles
from billing_portal.errors import RuleViolation, StoredRefusal
from billing_portal.history import has_history, list_changes
from billing_portal.idempotency import fingerprint, run_once

#: The review page's hidden fields: ``confirm=yes`` and the one-time token.
CONFIRM_FIELD = "confirm"
TOKEN_FIELD = "confirmation_token"
TOKEN_PREFIX = "portal:"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: The History page's parameter for its page of changes (Django's log uses "p").
CHANGES_PAGE_VAR = "changes"

#: The portal's sentences for the idempotency codes (it shows no keys).
PORTAL_WORDING = {
    "idempotency_key_reused": _(
        "This confirmation was already used for a different request; nothing "
        "was changed. Review the request again."
    ),
    "idempotency_request_in_progress": _(
        "This confirmation is still being processed; open the page again in a "
        "moment to see its result."
    ),
}


def new_confirmation_token() -> str:
    """A fresh one-time token for a review page."""
    return secrets.token_urlsafe(32)


def confirmation_token(request, flag: str = CONFIRM_FIELD) -> str | None:
    """The token of a POST that confirms a review page (``flag=yes``), if any.

    Without a well-formed token a POST is never a confirmation: the review
    page is shown again and nothing is written.
    """
    if request.method != "POST" or request.POST.get(flag) != "yes":
        return None
    token = request.POST.get(TOKEN_FIELD, "")
    return token if _TOKEN.fullmatch(token) else None


class CappedCountPaginator(Paginator):
    """A changelist paginator that counts at most ``CAP`` rows.

    Counting every matching ledger line of a million is most of a page's time;
    past ``CAP`` the pages shown stop there (filters narrow the rest) and the
    total reads as "CAP+" rather than an exact figure nobody needs.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


class ScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows are those ``scope(user)`` returns."""

    show_full_result_count = False
    #: The History page: the change history (who, when, field: before → after)
    #: above the admin's log of actions.
    object_history_template = "admin/portal/object_history.html"
    #: Customers and CBMs may open this model (scoped); False: operators only.
    customer_visible = True

    def scope(self, user):
        raise NotImplementedError

    def get_queryset(self, request):
        qs = self.scope(request.user)
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def _may_open(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return self.customer_visible or roles.is_operator(user)

    def has_module_permission(self, request):
        return self._may_open(request)

    def changelist_view(self, request, extra_context=None):
        # A list is titled by what it lists ("Ledger lines", 账本明细), not
        # Django's "Select ledger line to view" (选择账本明细查看).
        extra_context = {
            "title": capfirst(self.opts.verbose_name_plural),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def has_view_permission(self, request, obj=None):
        return self._may_open(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def does_not_exist(self, request, object_id):
        """The admin's own answer for an id that does not exist."""
        return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))

    # --- review → confirm -----------------------------------------------------

    def run_confirmed(self, request, *, token: str, data: dict, act):
        """Run ``act() -> (message, url)`` once per (user, token): message and
        redirect. A refusal (the first one, or its replay) is raised as a
        ``DomainError``; a token reused for other ``data`` is refused too."""

        def action():
            message, url = act()
            return 200, {"message": str(message), "redirect": str(url)}

        status, body = run_once(
            user=request.user,
            key=TOKEN_PREFIX + token,
            fingerprint=fingerprint(request, data),
            action=action,
            wording=PORTAL_WORDING,
        )
        if status >= 300:
            raise StoredRefusal(status, body)
        self.message_user(request, body["message"], messages.SUCCESS)
        return HttpResponseRedirect(body["redirect"])

    def confirmation_view(
        self,
        request,
        *,
        obj,
        act,
        done,
        redirect_to,
        title,
        review_template,
        form=None,
        form_template=None,
        review_title=None,
        blocks=None,
        refusals=None,
        review=None,
        context=None,
        log=None,
    ):
        """One confirmation: ``blocks()`` (reasons that refuse whatever is
        typed: the form page shows them, ``blocked``, instead of the form) →
        validate ``form`` → ``refusals(data)`` (a refusal selector: every
        reason, before any review) → the review page with a one-time token →
        on the confirming POST, ``act(data)`` (the service) exactly once →
        ``log_change``, message ``done(result, data)``, redirect to
        ``redirect_to`` (a URL, or ``callable(result)``). A ``DomainError``
        shows the form page with the refusal (``refusal`` in the context).

        Without ``form_template`` the review page is the only page: it holds the
        form's fields (if any) and carries a token from the first GET.
        ``review(data)`` adds the preview to the review page's context;
        ``log(result, message)`` replaces the default ``log_change(obj)``.
        """
        base = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            **(context or {}),
        }
        # One page (no ``form_template``): the form sits on the review page, so
        # that page always carries a token unless it shows a refusal.
        one_page = form_template is None

        def page(template, page_title, **extra):
            return TemplateResponse(
                request,
                template,
                {**base, "title": page_title, "form": form, "refusal": None, **extra},
            )

        def form_page(**extra):
            if one_page:
                if "refusal" not in extra:
                    extra["confirmation_token"] = new_confirmation_token()
                return page(review_template, review_title or title, **extra)
            return page(form_template, title, **extra)

        valid = form is None or (request.method == "POST" and form.is_valid())
        data = dict(form.cleaned_data) if form is not None and valid else {}
        # A confirmation comes first: its replay shows the first result even
        # when the rules would now refuse it.
        token = confirmation_token(request) if valid else None
        if token is not None:

            def act_once():
                result = act(data)
                message = str(done(result, data))
                if log is not None:
                    log(result, message)
                else:
                    target = obj if obj is not None else result
                    self.log_change(request, target, message)
                url = redirect_to(result) if callable(redirect_to) else redirect_to
                return message, url

            try:
                return self.run_confirmed(request, token=token, data=data, act=act_once)
            except StoredRefusal as err:
                return form_page(refusal=err)
        reasons = blocks() if blocks is not None else []
        if reasons:
            return form_page(refusal=RuleViolation(reasons), blocked=True)
        if not valid:
            return form_page()
        reasons = refusals(data) if refusals is not None else []
        if reasons:
            return form_page(refusal=RuleViolation(reasons))
        return page(
            review_template,
            review_title or title,
            confirmation_token=new_confirmation_token(),
            **(review(data) if review is not None else {}),
        )

    def history_view(self, request, object_id, extra_context=None):
        """The object's history, answered like its change page.

        Django's own view looks the object up before checking the permission,
        so on a model the user may not open an existing id got 403 and a
        missing one "doesn't exist": a way to count other companies' rows.
        Here the model permission comes first (403 for every id, as the change
        and delete pages answer), then the object is looked up through
        ``get_queryset`` (the scope), and out of reach answers exactly like
        missing.
        """
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj):
            return self.does_not_exist(request, object_id)
        extra_context = extra_context or {}
        if has_history(self.model):
            changes = Paginator(
                list_changes(obj, related=self.history_related()), 50
            ).get_page(request.GET.get(CHANGES_PAGE_VAR))
            extra_context.update(changes=changes, changes_page_var=CHANGES_PAGE_VAR)
        return super().history_view(request, object_id, extra_context)

    def history_related(self):
        """(model, foreign key) pairs whose change history the object's History
        page shows too: rows that have no page of their own (a company's credit
        quotas, an asset's share periods)."""
        return ()


class ReadOnlyAdmin(ScopedAdmin):
    """Operators only, never editable: ledger internals and audit records.

    Corrections are new ledger movements made by services, never edits.
    """

    customer_visible = False

    def scope(self, user):
        return self.model._default_manager.all()


class LibraryAdmin(ScopedAdmin):
    """A ModelAdmin from Django or a library (users, groups, API tokens, task
    results) brought under the one scoping point.

    Subclass it together with the library's admin, this class first:
    ``class UserAdmin(LibraryAdmin, auth_admin.UserAdmin)``. Who may open it
    and what they may do stays the library's own rule (Django's model
    permissions: in this portal only superusers hold them), reached past
    ``ScopedAdmin`` in the MRO; the rows are all of them for those users and
    none for anyone else, and ``ScopedAdmin`` answers every URL of an object
    out of reach exactly like a missing id.
    """

    def scope(self, user):
        manager = self.model._default_manager
        opts = self.opts
        if any(
            user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        ):
            return manager.all()
        return manager.none()

    def has_module_permission(self, request):
        return super(ScopedAdmin, self).has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return super(ScopedAdmin, self).has_view_permission(request, obj)

    def has_add_permission(self, request, *args, **kwargs):
        return super(ScopedAdmin, self).has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return super(ScopedAdmin, self).has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super(ScopedAdmin, self).has_delete_permission(request, obj)


class _Echo:
    def write(self, value):
        return value


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class TextCell(str):
    """A cell written as text on purpose (``text_cell``); never re-guarded."""


def text_cell(value) -> TextCell:
    """An identifier made of digits (a 16-digit uid) as text that a spreadsheet
    keeps whole: with a leading tab, as Chinese bill exports write long
    numbers, Excel neither rounds it to 15 significant digits nor shows it in
    scientific notation. Anything else is guarded like every other cell."""
    value = str(value)
    if value.isascii() and value.isdigit():
        return TextCell("\t" + value)
    return TextCell(_csv_safe(value))


def csv_cell(value) -> str:
    """One cell of an export: text cells as they are, the rest guarded."""
    if isinstance(value, TextCell):
        return value
    return _csv_safe(str(value))


#: Written first by exports meant for spreadsheets: Excel reads the file as
#: UTF-8 (names in Chinese) only when it starts with the byte order mark.
UTF8_BOM = "\ufeff"


def stream_csv(header, rows, *, filename: str, bom: bool = True):
    """A streamed CSV download of ``rows`` (lists of cells, see ``csv_cell``)."""
    writer = csv.writer(_Echo())

    def stream():
        yield (UTF8_BOM if bom else "") + writer.writerow(header)
        # Inside a (read-only) transaction a queryset iterator's server-side
        # cursor is a plain one, not WITH HOLD: PostgreSQL sends the first rows
        # at once instead of materialising the whole result first.
        with transaction.atomic():
            for row in rows:
                yield writer.writerow([csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvExportMixin:
    """Export exactly what the changelist's filters show, as CSV.

    ``csv_fields`` is a list of (header, callable(row)) pairs; a getter may
    return a ``text_cell``. ``csv_bom`` starts the file with the UTF-8 byte
    order mark (for spreadsheets).
    """

    csv_fields: list = []
    csv_filename = "export.csv"
    csv_bom = False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_csv_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def export_csv_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        request._csv_export = True  # the changelist without its counts
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # The changelist answers these with its error page; a download
            # answers 400 instead of failing with a server error.
            return HttpResponseBadRequest("Invalid filter parameters.")
        rows = changelist.get_queryset(request)
        return stream_csv(
            [header for header, _ in self.csv_fields],
            (
                [getter(row) for _, getter in self.csv_fields]
                for row in rows.iterator(chunk_size=2000)
            ),
            filename=self.csv_filename,
            bom=self.csv_bom,
        )

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if not getattr(request, "_csv_export", False):
            return changelist

        class ExportList(changelist):
            def get_results(self, request):
                """An export needs the filtered queryset only: no page, and no
                COUNT(*) of the filtered and unfiltered rows."""

        return ExportList

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["csv_export_query"] = request.GET.urlencode()
        return super().changelist_view(request, extra_context)


@cache
def _hooked(dotted_path: str):
    return import_string(dotted_path)


def render_panels(hook: list[str], request, *args) -> list[dict]:
    """The panels a settings hook contributes to a page (``ACCOUNT_PAGE_PANELS``,
    ``ADMIN_HOME_PANELS``): dotted paths of callables taking ``*args`` and
    answering ``{"title", "template", "context"}`` and optionally ``"id"``, or
    None to show nothing; each rendered with the request, in order. The page's
    app imports none of the apps that add them."""
    panels = []
    for dotted_path in hook:
        panel = _hooked(dotted_path)(*args)
        if not panel:
            continue
        panels.append(
            {
                "id": panel.get("id", ""),
                "title": panel["title"],
                "html": render_to_string(
                    panel["template"], panel.get("context", {}), request=request
                ),
            }
        )
    return panels
