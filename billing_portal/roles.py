"""Who a user is: operator, CBM or customer (SPEC §1)."""

from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from .errors import ActionForbidden, Reason

OPERATORS = "operators"
CBM = "cbm"


def is_operator(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return _in_group(user, OPERATORS)


#: The same sentence as the API's operator-only refusal (billing_portal.api).
OPERATORS_ONLY = _("Only the provider's billing operators can do this.")


def ensure_operator(user) -> None:
    """Raise the 403 ``no_permission`` refusal unless the user is an operator
    (for services that are operator-only whoever calls them)."""
    if not is_operator(user):
        raise ActionForbidden([Reason("no_permission", str(OPERATORS_ONLY))])


def is_cbm(user) -> bool:
    return getattr(user, "is_authenticated", False) and _in_group(user, CBM)


def _in_group(user, name: str) -> bool:
    cache = getattr(user, "_group_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._group_names = cache
    return name in cache


def ensure_groups() -> dict[str, Group]:
    return {
        name: Group.objects.get_or_create(name=name)[0] for name in (OPERATORS, CBM)
    }
