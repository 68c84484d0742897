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


class ReadOnlyAdmin(ScopedAdmin):
    """Operators only, never editable: ledger internals and audit records.

    Corrections are new ledger movements made by services, never edits.
    """

    customer_visible = False

    def scope(self, user):
        return self.model._default_manager.all()


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
