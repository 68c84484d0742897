"""Reads of the enterprise structure: relationships as of a time, the directory."""

from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from billing_portal import roles
from billing_portal.errors import ActionForbidden, Reason, reason
from billing_portal.money import format_amount

from ..models import Account, AccountAccess, Company, FinancialRelationship, Folder
from ..models.structure import RelationshipPermission
from .access import (
    MANAGING,
    can_manage,
    is_owner,
    list_visible_accounts,
    list_visible_companies,
)
from .currency import currency_reasons

Status = FinancialRelationship.Status


def get_payment_relationship_at(
    management_account, member_account, at: datetime
) -> FinancialRelationship | None:
    """The relationship between M and X that was active at ``at``, if any.

    Either type counts as the payment relationship (SPEC §3.6, §5).
    """
    return (
        FinancialRelationship.objects.active_at(at)
        .filter(management_account=management_account, member_account=member_account)
        .first()
    )


def management_account_refusals(company, account) -> list[Reason]:
    """Why ``account`` cannot become the company's management account (if so)."""
    reasons = []
    if not company.is_verified:
        reasons.append(reason("company_not_verified", account=account.uid))
    if account.company_id != company.pk:
        reasons.append(
            reason("different_company", source=account.uid, destination=company.name)
        )
    previous = company.management_account_id
    if (
        previous
        and previous != account.pk
        and FinancialRelationship.objects.filter(
            management_account_id=previous, status__in=[Status.PENDING, Status.ACTIVE]
        ).exists()
    ):
        reasons.append(
            reason(
                "invalid_state",
                variant="management_account_in_use",
                company=company.name,
            )
        )
    return reasons


def get_trusteeship_payer(member_account, at: datetime) -> Account | None:
    """The management account paying the member's bills at ``at``, if any."""
    relationship = (
        FinancialRelationship.objects.active_at(at)
        .filter(
            member_account=member_account, type=FinancialRelationship.Type.TRUSTEESHIP
        )
        .select_related("management_account")
        .first()
    )
    return relationship.management_account if relationship else None


def get_open_relationship(member_account) -> FinancialRelationship | None:
    """The member's pending or active relationship (at most one exists)."""
    return (
        FinancialRelationship.objects.filter(
            member_account=member_account, status__in=[Status.PENDING, Status.ACTIVE]
        )
        .select_related("management_account")
        .first()
    )


def get_credit_limit_authority(account: Account) -> Account | None:
    """Whose administrators set this account's credit limit (credit control hook).

    Under an active relationship with SYNCHRONIZE_FINANCE_IDENTITY, only the
    management account's; otherwise the account's own (None).
    """
    relationship = (
        FinancialRelationship.objects.filter(
            member_account=account,
            status=Status.ACTIVE,
            permissions__contains=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
        )
        .select_related("management_account")
        .first()
    )
    return relationship.management_account if relationship else None


def list_visible_relationships(user) -> QuerySet[FinancialRelationship]:

    qs = FinancialRelationship.objects.select_related(
        "management_account", "member_account", "invited_by", "responded_by", "ended_by"
    )
    if roles.is_operator(user):
        return qs
    visible = list_visible_accounts(user).values("pk")
    return qs.filter(Q(management_account__in=visible) | Q(member_account__in=visible))


def list_relationships_active_at(user, at: datetime) -> QuerySet[FinancialRelationship]:
    """The visible relationships that were active at the instant ``at``
    (``start <= at < end``, an open end never ends: SPEC §3.6)."""
    relationships = list_visible_relationships(user)
    return relationships.filter(
        pk__in=FinancialRelationship.objects.active_at(at).values("pk")
    )


def list_visible_folders(user) -> QuerySet[Folder]:

    return Folder.objects.filter(
        company__in=list_visible_companies(user)
    ).select_related("company", "parent")


def with_visible_account_ids(folders: QuerySet[Folder], user) -> QuerySet[Folder]:
    """Annotate each folder with ``visible_account_ids``: its accounts that the
    user may see, by id (one subquery for a whole list).

    An account the user would get a 404 for is not listed (SPEC §1), even one it
    may name as a target; the list and the detail endpoints both read this.
    """
    accounts = Account.objects.filter(folder=OuterRef("pk"))
    if not roles.is_operator(user):
        accounts = accounts.filter(pk__in=list_visible_accounts(user).values("pk"))
    return folders.annotate(
        visible_account_ids=ArraySubquery(accounts.order_by("pk").values("pk"))
    )


def list_folders_with_accounts(user) -> QuerySet[Folder]:
    """The folders the user may see, each with the accounts it may see in it."""
    return with_visible_account_ids(list_visible_folders(user), user)


def get_root_folder(company) -> Folder:
    return Folder.objects.get(company=company, parent__isnull=True)


def get_subtree_ids(folder: Folder) -> list[int]:
    """The folder and every folder below it (at most 5 levels)."""
    ids, frontier = [folder.pk], [folder.pk]
    while frontier:
        frontier = list(
            Folder.objects.filter(parent__in=frontier).values_list("pk", flat=True)
        )
        ids += frontier
    return ids


def list_accounts_under(folder: Folder) -> QuerySet[Account]:
    """Every account in the folder and below it (what an organization share means)."""
    return Account.objects.filter(folder__in=get_subtree_ids(folder))


def get_folder_tree(company) -> list[dict]:
    """The company's directory in display order: each folder with its depth, its
    own accounts and the accounts in its whole subtree."""
    folders = list(
        Folder.objects.filter(company=company).annotate(own=Count("accounts"))
    )
    children: dict[int | None, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    for siblings in children.values():
        siblings.sort(key=lambda f: (f.name, f.pk))
    rows: list[dict] = []

    def walk(folder):
        row = {
            "folder": folder,
            "depth": folder.depth,
            "accounts": folder.own,
            "total": folder.own,
            "subfolders": len(children.get(folder.pk, [])),
        }
        rows.append(row)
        for child in children.get(folder.pk, []):
            row["total"] += walk(child)
        return row["total"]

    for root in children.get(None, []):
        walk(root)
    return rows


def folder_delete_refusals(folder: Folder, *, subfolders: int, accounts: int):
    """Why the folder cannot be deleted (before the rows that name it, which
    only the delete finds): the root, or a folder still holding accounts or
    folders. The service counts under the directory's lock; the directory page
    passes its tree's counts."""
    if folder.is_root:
        return [reason("root_folder", variant="delete")]
    if subfolders or accounts:
        return [reason("folder_not_empty", folder=folder.name)]
    return []


def can_answer_invitation(user, member_account) -> bool:
    """The member's owner (or an operator) confirms or rejects an invitation."""

    return roles.is_operator(user) or is_owner(user, member_account.pk)


def answer_permission_refusals(user, member_account) -> list[Reason]:
    """The 403 of confirming or rejecting an invitation unless
    ``can_answer_invitation``: only the member's owner answers it."""
    if can_answer_invitation(user, member_account):
        return []
    return [
        reason("no_permission", variant="answer_invitation", account=member_account.uid)
    ]


#: What each action on a relationship needs its status to be.
_ACTION_STATUS = {
    "confirm": Status.PENDING,
    "reject": Status.PENDING,
    "cancel": Status.PENDING,
    "terminate": Status.ACTIVE,
}


def relationship_state_refusals(relationship, action: str) -> list[Reason]:
    """``invalid_state`` unless the relationship's status allows ``action``
    (confirm, reject, cancel, terminate, or permissions: pending or active)."""
    allowed = _ACTION_STATUS.get(action)
    if action == "permissions":
        ok = relationship.status in (Status.PENDING, Status.ACTIVE)
    else:
        ok = relationship.status == allowed
    if ok:
        return []
    return [
        reason(
            "invalid_state",
            variant=f"relationship_{action}",
            relationship=relationship.pk,
        )
    ]


def relationship_confirmation_refusals(relationship) -> list[Reason]:
    """Why the invitation cannot be confirmed now: no longer pending, or a
    trusteeship whose member has an overdue payment (§3.6). The service checks
    it under lock; the relationship's page disables "Confirm" with it."""
    reasons = relationship_state_refusals(relationship, "confirm")
    if (
        not reasons
        and relationship.type == FinancialRelationship.Type.TRUSTEESHIP
        and relationship.member_account.has_overdue
    ):
        reasons.append(member_overdue_reason(relationship.member_account))
    return reasons


def can_manage_directory(user, company) -> bool:
    """Operators, and administrators (owner/manage) of the management account."""

    if roles.is_operator(user):
        return True
    # Read afresh: the designation may have changed since ``company`` was loaded.
    manager = Account.objects.filter(
        pk__in=Company.objects.filter(pk=company.pk).values("management_account")
    ).first()
    return manager is not None and can_manage(user, manager)


def ensure_can_manage_directory(user, company) -> None:
    if not can_manage_directory(user, company):
        raise ActionForbidden(
            [reason("no_permission", variant="manage_directory", company=company.name)]
        )


# --- invitations (§3.6) ------------------------------------------------------------


def company_reasons(*accounts: Account) -> list[Reason]:
    """Both accounts belong to one verified company (§3.6)."""
    reasons = [
        reason("company_not_verified", account=a.uid)
        for a in accounts
        if a.company is None or not a.company.is_verified
    ]
    if not reasons and len({a.company_id for a in accounts}) > 1:
        reasons.append(
            reason(
                "different_company", source=accounts[0].uid, destination=accounts[1].uid
            )
        )
    return reasons


def member_overdue_reason(member: Account) -> Reason:
    return reason(
        "member_overdue",
        member=member.uid,
        available=format_amount(member.available_balance),
    )


def list_inviting_accounts(user) -> QuerySet[Account]:
    """Enterprise management accounts whose administrators (owner or manage)
    include the user: the accounts it may send invitations from. One query,
    through the access index, whatever the number of accounts it sees."""
    accounts = Account.objects.filter(
        pk__in=Company.objects.filter(management_account__isnull=False).values(
            "management_account"
        )
    )
    if roles.is_operator(user):
        return accounts
    return accounts.filter(
        Exists(
            AccountAccess.objects.filter(
                user=user, account=OuterRef("pk"), permission__in=MANAGING
            )
        )
    )


def invitation_refusals(manager: Account, member: Account, type: str) -> list[Reason]:
    """Every reason the management account cannot invite the member now; the
    service checks it under lock, the invite page before anything is sent."""
    reasons = []
    if manager.pk == member.pk:
        reasons.append(reason("same_account", variant="invitation", account=member.uid))
    company = manager.company
    if company is not None and company.management_account_id != manager.pk:
        reasons.append(reason("not_management_account", account=manager.uid))
    reasons += company_reasons(manager, member)
    if manager.pk != member.pk and get_open_relationship(member) is not None:
        reasons.append(reason("member_has_active_relationship", member=member.uid))
    if type == FinancialRelationship.Type.TRUSTEESHIP:
        if member.has_overdue:
            reasons.append(member_overdue_reason(member))
        reasons += currency_reasons(manager, member)
    return reasons


def count_active_members(management_account: Account) -> int:
    return FinancialRelationship.objects.filter(
        management_account=management_account,
        status=FinancialRelationship.Status.ACTIVE,
    ).count()
