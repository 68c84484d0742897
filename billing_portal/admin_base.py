"""Admin base classes: tenant scoping in one place, read-only ledgers, CSV export.

Every ModelAdmin of the portal derives from ``ScopedAdmin``: its queryset is
what the user may see (a selector), so changelists, change pages, custom views,
autocompletes and exports all answer an object outside the user's reach
exactly like an id that does not exist. Writes never go through ``save()``:
add/change forms and custom views call services.
"""

import csv
import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path

from billing_portal import roles


class ScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows are those ``scope(user)`` returns."""

    show_full_result_count = False
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
        return super().history_view(request, object_id, extra_context)


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


class CsvExportMixin:
    """Export exactly what the changelist's filters show, as CSV.

    ``csv_fields`` is a list of (header, callable(row)) pairs.
    """

    csv_fields: list = []
    csv_filename = "export.csv"

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
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # The changelist answers these with its error page; a download
            # answers 400 instead of failing with a server error.
            return HttpResponseBadRequest("Invalid filter parameters.")
        rows = changelist.get_queryset(request)
        writer = csv.writer(_Echo())

        def stream():
            yield writer.writerow([header for header, _ in self.csv_fields])
            for row in rows.iterator(chunk_size=2000):
                yield writer.writerow(
                    [_csv_safe(str(getter(row))) for _, getter in self.csv_fields]
                )

        response = StreamingHttpResponse(stream(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}"'
        return response

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["csv_export_query"] = request.GET.urlencode()
        return super().changelist_view(request, extra_context)
