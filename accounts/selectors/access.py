"""Who may see and act on what (SPEC §1): the one place visibility is decided.

Every other selector, the admin's scoping and the API's lookups call these.
"""

from django.db.models import Q, QuerySet

from billing_portal import roles
from billing_portal.errors import ActionForbidden, reason

from ..models import Account, AccountAccess, Company, FinancialRelationship
from ..models.structure import RelationshipPermission

MANAGING = (AccountAccess.Permission.OWNER, AccountAccess.Permission.MANAGE)


# --- visibility (SPEC §1) ----------------------------------------------------


def list_visible_accounts(user) -> QuerySet[Account]:
    """Accounts the user may see: all (operator), its companies' (CBM), linked."""
    qs = Account.objects.select_related("company")
    if roles.is_operator(user):
        return qs
    if roles.is_cbm(user):
        return qs.filter(company__business_manager=user)
    # Own access, plus members whose relationship lets this user's management
    # account check their consumption (read-only: acting needs access rows).
    return qs.filter(
        Q(pk__in=AccountAccess.objects.filter(user=user).values("account"))
        | Q(pk__in=list_consumption_visible_members(user).values("pk"))
    )


def list_visible_companies(user) -> QuerySet[Company]:
    if roles.is_operator(user):
        return Company.objects.all()
    if roles.is_cbm(user):
        return Company.objects.filter(business_manager=user)
    return Company.objects.filter(
        pk__in=AccountAccess.objects.filter(user=user).values("account__company")
    )


def list_target_accounts(user) -> QuerySet[Account]:
    """Accounts the user may name as a target: its own, and any account of a
    verified company it is linked to (uid and name only are shown of those)."""
    if roles.is_operator(user):
        return Account.objects.select_related("company")
    companies = list_visible_companies(user).filter(
        verification_status=Company.Verification.VERIFIED
    )
    return (
        Account.objects.select_related("company")
        .filter(
            Q(pk__in=list_visible_accounts(user).values("pk"))
            | Q(company__in=companies)
        )
        .distinct()
    )


def get_account_access(account: Account, user_id) -> AccountAccess | None:
    """The access row of one user on one account, if there is one."""
    return (
        AccountAccess.objects.select_related("user", "account", "granted_by")
        .filter(account=account, user_id=user_id)
        .first()
    )


def list_accounts_left_without_owner(access_rows) -> list[Account]:
    """Accounts whose every owner is among ``access_rows``: removing those rows
    leaves nobody to confirm the account's contracts (shown before revoking)."""
    owned = {
        row.account_id: row.account
        for row in access_rows
        if row.permission == AccountAccess.Permission.OWNER
    }
    if not owned:
        return []
    still_owned = set(
        AccountAccess.objects.filter(
            account__in=owned, permission=AccountAccess.Permission.OWNER
        )
        .exclude(pk__in=[row.pk for row in access_rows])
        .values_list("account", flat=True)
    )
    return [account for pk, account in owned.items() if pk not in still_owned]


def can_see_account(user, account: Account) -> bool:
    """The user may see the account itself (not only name it as a target)."""
    return list_visible_accounts(user).filter(pk=account.pk).exists()


def can_manage(user, account: Account) -> bool:
    """Owner or manage on the account (an operator always may)."""
    if roles.is_operator(user):
        return True
    return AccountAccess.objects.filter(
        user=user, account=account, permission__in=MANAGING
    ).exists()


def is_owner(user, account_id: int) -> bool:
    """The user holds the ``owner`` permission on the account (operators do not)."""
    return AccountAccess.objects.filter(
        user=user, account=account_id, permission=AccountAccess.Permission.OWNER
    ).exists()


def ensure_can_manage(user, account: Account) -> None:
    """Raise the 403 ``no_permission`` refusal unless the user may act on it."""
    if not can_manage(user, account):
        raise ActionForbidden([reason("no_permission", account=account.uid)])


def list_consumption_visible_members(user) -> QuerySet[Account]:
    """Members whose active relationship grants CHECK_TARGET_CONSUMPTION to the
    administrators (any permission) of their management account."""
    managed = AccountAccess.objects.filter(user=user).values("account")
    member_ids = FinancialRelationship.objects.filter(
        status=FinancialRelationship.Status.ACTIVE,
        management_account__in=managed,
        permissions__contains=[RelationshipPermission.CHECK_TARGET_CONSUMPTION],
    ).values("member_account")
    return Account.objects.filter(pk__in=member_ids)
