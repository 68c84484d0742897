from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult
from rest_framework.authtoken.admin import TokenAdmin as LibraryTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import roles
from .admin_base import LibraryAdmin, ReadOnlyAdmin
from .admin_site import OPERATIONS, Attention, url_with
from .models import AuditEvent, Notification

admin.site.site_header = _("Billing portal — account sharing")
admin.site.site_title = _("Billing portal")
admin.site.index_title = _("Unified account management")
admin.site.site_url = None  # the portal is the admin; no separate "site" to view


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action"]
    list_select_related = ["actor"]


# Django's and the libraries' own admins, registered before this module runs
# (their apps come first in INSTALLED_APPS), re-registered under the one scoping
# point: every registered ModelAdmin is a ScopedAdmin (a test checks it).


class UserAdmin(LibraryAdmin, auth_admin.UserAdmin):
    pass


class GroupAdmin(LibraryAdmin, auth_admin.GroupAdmin):
    pass


class TokenAdmin(LibraryAdmin, LibraryTokenAdmin):
    pass


class TaskResultAdmin(LibraryAdmin, DBTaskResultAdmin):
    pass


# django-axes: failed sign-ins and locks (an operator-superuser may delete an
# attempt to unlock someone early), and the sign-in log.
class LoginAttemptAdmin(LibraryAdmin, AccessAttemptAdmin):
    pass


class LoginLogAdmin(LibraryAdmin, AccessLogAdmin):
    pass


class LoginFailureLogAdmin(LibraryAdmin, AccessFailureLogAdmin):
    pass


for _model, _admin_class in (
    (get_user_model(), UserAdmin),
    (Group, GroupAdmin),
    (TokenProxy, TokenAdmin),
    (DBTaskResult, TaskResultAdmin),
    (AccessAttempt, LoginAttemptAdmin),
    (AccessLog, LoginLogAdmin),
    (AccessFailureLog, LoginFailureLogAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)


def attention(user) -> list[Attention]:
    """The portal's own part of the operators' home page (``ADMIN_HOME_ATTENTION``):
    notifications the worker gave up on, and failed background tasks for those
    who may open the task list."""
    if not roles.is_operator(user):
        return []
    items = [
        Attention(
            OPERATIONS,
            _("Notifications that could not be sent"),
            Notification.objects.filter(status=Notification.Status.FAILED).count(),
            url_with(
                "admin:billing_portal_notification_changelist", status__exact="failed"
            ),
        )
    ]
    if user.has_perm("django_tasks_database.view_dbtaskresult"):
        items.append(
            Attention(
                OPERATIONS,
                _("Background tasks that failed"),
                DBTaskResult.objects.failed().count(),
                url_with(
                    "admin:django_tasks_database_dbtaskresult_changelist",
                    status__exact="FAILED",
                ),
            )
        )
    return items
