"""Who may see and act on what (SPEC §1): the one place visibility is decided.

Every other selector, the admin's scoping and the API's lookups call these.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from billing_portal import roles
from billing_portal.errors import ActionForbidden, reason

from ..models import Account, AccountAccess, Company, FinancialRelationship
from ..models.structure import RelationshipPermission

MANAGING = (AccountAccess.Permission.OWNER, AccountAccess.Permission.MANAGE)


# --- visibility (SPEC §1) ----------------------------------------------------
#
# Each rule is a correlated EXISTS on an indexed column, so one account is
# checked through an index (``WHERE id = X AND EXISTS (…)``) whatever the number
# of accounts the user can see, and a paginated list walks its ordering index
# and stops at the page (no IN-list of every visible id is ever built).


def _linked_q(user) -> Q:
    """Accounts the (non-operator) user may see itself."""
    if roles.is_cbm(user):
        return Q(company__business_manager=user)
    # Own access, plus members whose relationship lets this user's management
    # account check their consumption (read-only: acting needs access rows).
    return Q(
        Exists(AccountAccess.objects.filter(user=user, account=OuterRef("pk")))
    ) | Q(
        Exists(
            FinancialRelationship.objects.filter(
                member_account=OuterRef("pk"),
                status=FinancialRelationship.Status.ACTIVE,
                permissions__contains=[RelationshipPermission.CHECK_TARGET_CONSUMPTION],
                management_account__access__user=user,
            )
        )
    )


def _linked_company_q(user, company_ref: str) -> Q:
    """Rows whose company (``company_ref``) the non-operator user is linked to."""
    if roles.is_cbm(user):
        prefix = "" if company_ref == "pk" else f"{company_ref}__"
        return Q(**{f"{prefix}business_manager": user})
    return Q(
        Exists(
            AccountAccess.objects.filter(
                user=user, account__company=OuterRef(company_ref)
            )
        )
    )


def list_visible_accounts(user) -> QuerySet[Account]:
    """Accounts the user may see: all (operator), its companies' (CBM), linked."""
    qs = Account.objects.select_related("company")
    if roles.is_operator(user):
        return qs
    return qs.filter(_linked_q(user))


def list_visible_companies(user) -> QuerySet[Company]:
    if roles.is_operator(user):
        return Company.objects.all()
    return Company.objects.filter(_linked_company_q(user, "pk"))


def list_target_accounts(user) -> QuerySet[Account]:
    """Accounts the user may name as a target: its own, and any account of a
    verified company it is linked to (uid and name only are shown of those)."""
    qs = Account.objects.select_related("company")
    if roles.is_operator(user):
        return qs
    return qs.filter(
        _linked_q(user)
        | (
            Q(company__verification_status=Company.Verification.VERIFIED)
            & _linked_company_q(user, "company")
        )
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
