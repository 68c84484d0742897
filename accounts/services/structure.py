"""Writes of the enterprise structure: the management account, financial
relationships (SPEC §3.6) and the resource directory (§3.7).

Lock order, as for money: accounts by primary key first, then the relationship
row; the directory of a company is changed under a lock on its root folder.
"""

from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from billing_portal import audit
from billing_portal.db import service
from billing_portal.errors import (
    ActionForbidden,
    DirectoryRefused,
    RelationshipRefused,
    reason,
)
from billing_portal.history import record_changes

from ..ledger import lock_accounts
from ..models import Account, Company, FinancialRelationship, Folder
from ..models.structure import MAX_FOLDER_DEPTH
from ..selectors import (
    answer_permission_refusals,
    ensure_can_manage,
    ensure_can_manage_directory,
    folder_delete_refusals,
    get_subtree_ids,
    invitation_refusals,
    management_account_refusals,
    relationship_confirmation_refusals,
    relationship_state_refusals,
)
from ..signals import directory_changed

Status = FinancialRelationship.Status
Type = FinancialRelationship.Type


# --- the enterprise management account -------------------------------------------


@service
def set_management_account(*, company: Company, account: Account, actor) -> Company:
    """Designate the company's enterprise management account (operator)."""
    company = Company.objects.select_for_update().get(pk=company.pk)
    previous = company.management_account_id
    reasons = management_account_refusals(company, account)
    if reasons:
        raise RelationshipRefused(reasons)
    company.management_account = account
    company.save(update_fields=["management_account"])
    audit.record(
        actor=actor,
        action="company.set_management_account",
        target=company,
        before={"management_account": previous},
        after={"management_account": account.pk},
    )
    return company


# --- financial relationships -------------------------------------------------------


def _ensure_owner(actor, account: Account) -> None:
    """Only the member's owner (or an operator) answers an invitation."""
    forbidden = answer_permission_refusals(actor, account)
    if forbidden:
        raise ActionForbidden(forbidden)


def _lock_relationship(relationship):
    accounts = lock_accounts(
        relationship.management_account_id, relationship.member_account_id
    )
    locked = FinancialRelationship.objects.select_for_update().get(pk=relationship.pk)
    locked.management_account = accounts[locked.management_account_id]
    locked.member_account = accounts[locked.member_account_id]
    return locked


@service
def invite_member(
    *,
    management_account: Account,
    member_account: Account,
    type: str,
    permissions: list[str],
    actor,
) -> FinancialRelationship:
    """The management account invites a member (pending until it confirms)."""
    ensure_can_manage(actor, management_account)
    accounts = lock_accounts(management_account.pk, member_account.pk)
    manager, member = accounts[management_account.pk], accounts[member_account.pk]
    reasons = invitation_refusals(manager, member, type)
    if reasons:
        raise RelationshipRefused(reasons)
    relationship = FinancialRelationship.objects.create(
        management_account=manager,
        member_account=member,
        type=type,
        permissions=sorted(set(permissions)),
        invited_by=actor,
    )
    audit.record(
        actor=actor,
        action="relationship.invite",
        target=relationship,
        after={"type": type, "permissions": relationship.permissions},
    )
    return relationship


@service
def confirm_relationship(
    *, relationship: FinancialRelationship, actor
) -> FinancialRelationship:
    """The member's owner confirms: active from this instant."""
    _ensure_owner(actor, relationship.member_account)
    relationship = _lock_relationship(relationship)
    reasons = relationship_confirmation_refusals(relationship)
    if reasons:
        raise RelationshipRefused(reasons)
    now = timezone.now()
    relationship.status = Status.ACTIVE
    relationship.start = now
    relationship.responded_at = now
    relationship.responded_by = actor
    relationship.save(update_fields=["status", "start", "responded_at", "responded_by"])
    audit.record(
        actor=actor,
        action="relationship.confirm",
        target=relationship,
        after={"status": "active", "start": now.isoformat()},
    )
    return relationship


@service
def reject_relationship(
    *, relationship: FinancialRelationship, actor
) -> FinancialRelationship:
    _ensure_owner(actor, relationship.member_account)
    return _close_pending(relationship, Status.REJECTED, "reject", actor)


@service
def cancel_relationship(
    *, relationship: FinancialRelationship, actor
) -> FinancialRelationship:
    """The management account withdraws its pending invitation."""
    ensure_can_manage(actor, relationship.management_account)
    return _close_pending(relationship, Status.CANCELLED, "cancel", actor)


def _close_pending(relationship, status, action, actor):
    relationship = _lock_relationship(relationship)
    reasons = relationship_state_refusals(relationship, action)
    if reasons:
        raise RelationshipRefused(reasons)
    relationship.status = status
    relationship.responded_at = timezone.now()
    relationship.responded_by = actor
    relationship.save(update_fields=["status", "responded_at", "responded_by"])
    audit.record(
        actor=actor,
        action=f"relationship.{status}",
        target=relationship,
        before={"status": "pending"},
        after={"status": status},
    )
    return relationship


@service
def terminate_relationship(
    *, relationship: FinancialRelationship, actor
) -> FinancialRelationship:
    """The management account ends an active relationship at this instant."""
    ensure_can_manage(actor, relationship.management_account)
    relationship = _lock_relationship(relationship)
    reasons = relationship_state_refusals(relationship, "terminate")
    if reasons:
        raise RelationshipRefused(reasons)
    relationship.status = Status.TERMINATED
    relationship.end = timezone.now()
    relationship.ended_by = actor
    relationship.save(update_fields=["status", "end", "ended_by"])
    audit.record(
        actor=actor,
        action="relationship.terminate",
        target=relationship,
        before={"status": "active"},
        after={"status": "terminated", "end": relationship.end.isoformat()},
    )
    return relationship


@service
def set_relationship_permissions(
    *, relationship: FinancialRelationship, permissions: list[str], actor
) -> FinancialRelationship:
    """Add or remove permission codes of a pending or active relationship."""
    ensure_can_manage(actor, relationship.management_account)
    relationship = _lock_relationship(relationship)
    reasons = relationship_state_refusals(relationship, "permissions")
    if reasons:
        raise RelationshipRefused(reasons)
    before = list(relationship.permissions)
    relationship.permissions = sorted(set(permissions))
    relationship.save(update_fields=["permissions"])
    audit.record(
        actor=actor,
        action="relationship.permissions",
        target=relationship,
        before={"permissions": before},
        after={"permissions": relationship.permissions},
    )
    return relationship


# --- the resource directory ---------------------------------------------------------


def create_root_folder(company: Company) -> Folder:
    return Folder.objects.create(company=company, name=company.name[:100], depth=0)


def _lock_directory(company_id: int) -> Folder:
    """Serialize directory changes of one company on its root folder row."""
    return Folder.objects.select_for_update().get(
        company_id=company_id, parent__isnull=True
    )


def _depth_reason(depth):
    return reason("folder_depth_exceeded", limit=MAX_FOLDER_DEPTH, depth=depth)


def _ensure_name_free(parent: Folder, name: str, *, exclude: int | None = None):
    """Sibling names are unique (a database constraint): refuse, never a 500."""
    siblings = Folder.objects.filter(parent=parent, name=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude)
    if siblings.exists():
        raise DirectoryRefused(
            [reason("folder_name_taken", parent=parent.name, name=name)]
        )


@service
def create_folder(
    *, company: Company, name: str, parent: Folder | None = None, actor
) -> Folder:
    """A folder under ``parent`` (absent: directly under the root)."""
    ensure_can_manage_directory(actor, company)
    root = _lock_directory(company.pk)
    parent = Folder.objects.get(pk=parent.pk) if parent else root
    if parent.company_id != company.pk:
        raise DirectoryRefused(
            [reason("different_company", source=parent.name, destination=company.name)]
        )
    if parent.depth + 1 > MAX_FOLDER_DEPTH:
        raise DirectoryRefused([_depth_reason(parent.depth + 1)])
    _ensure_name_free(parent, name)
    folder = Folder.objects.create(
        company=company, name=name, parent=parent, depth=parent.depth + 1
    )
    audit.record(
        actor=actor,
        action="folder.create",
        target=folder,
        after={"name": name, "parent": parent.pk},
    )
    return folder


@service
def update_folder(
    *, folder: Folder, actor, name: str | None = None, parent: Folder | None = None
) -> Folder:
    """Rename a folder and/or move it (with its subtree) under another parent."""
    ensure_can_manage_directory(actor, folder.company)
    _lock_directory(folder.company_id)
    folder = Folder.objects.get(pk=folder.pk)
    before = {"name": folder.name, "parent": folder.parent_id}
    if parent is not None and parent.pk != folder.parent_id:
        if folder.is_root:
            raise DirectoryRefused([reason("root_folder", variant="move")])
        parent = Folder.objects.get(pk=parent.pk)
        if parent.company_id != folder.company_id:
            raise DirectoryRefused(
                [
                    reason(
                        "different_company", source=folder.name, destination=parent.name
                    )
                ]
            )
        subtree = get_subtree_ids(folder)
        if parent.pk in subtree:
            raise DirectoryRefused([reason("folder_cycle")])
        height = (
            max(Folder.objects.filter(pk__in=subtree).values_list("depth", flat=True))
            - folder.depth
        )
        if parent.depth + 1 + height > MAX_FOLDER_DEPTH:
            raise DirectoryRefused([_depth_reason(parent.depth + 1 + height)])
        _ensure_name_free(parent, folder.name if name is None else name)
        shift = parent.depth + 1 - folder.depth
        Folder.objects.filter(pk__in=subtree).update(depth=F("depth") + shift)
        announce_directory_change(folder.company_id)
        folder.refresh_from_db()
        folder.parent = parent
    elif name is not None and name != folder.name and folder.parent is not None:
        _ensure_name_free(folder.parent, name, exclude=folder.pk)
    if name is not None:
        folder.name = name
    folder.save(update_fields=["name", "parent"])
    audit.record(
        actor=actor,
        action="folder.update",
        target=folder,
        before=before,
        after={"name": folder.name, "parent": folder.parent_id},
    )
    return folder


@service
def delete_folder(*, folder: Folder, actor) -> None:
    """Delete an empty folder (no accounts, no subfolders); never the root."""
    ensure_can_manage_directory(actor, folder.company)
    _lock_directory(folder.company_id)
    folder = Folder.objects.get(pk=folder.pk)
    reasons = folder_delete_refusals(
        folder,
        subfolders=folder.children.count(),
        accounts=folder.accounts.count(),
    )
    if reasons:
        raise DirectoryRefused(reasons)
    audit.record(
        actor=actor,
        action="folder.delete",
        target=folder,
        before={"name": folder.name, "parent": folder.parent_id},
    )
    try:
        folder.delete()
    except ProtectedError as exc:
        # Rows of later apps name folders (asset shares, sharing rules) and keep
        # their history; refused before anything is deleted, so the transaction
        # (and this audit row) rolls back whole.
        raise DirectoryRefused([reason("folder_in_use", folder=folder.name)]) from exc


def announce_directory_change(company_id: int) -> None:
    """Tell listeners (organization shares) once the change is committed."""
    transaction.on_commit(
        lambda: directory_changed.send(sender=Folder, company_id=company_id)
    )


@service
def place_accounts(*, folder: Folder, accounts: list[Account], actor) -> Folder:
    """Put accounts of the folder's company in the folder (an account is in at most
    one folder: placing it here takes it out of its previous one)."""
    ensure_can_manage_directory(actor, folder.company)
    _lock_directory(folder.company_id)
    wrong = [a for a in accounts if a.company_id != folder.company_id]
    if wrong:
        raise DirectoryRefused(
            [
                reason(
                    "different_company", source=a.uid, destination=folder.company.name
                )
                for a in wrong
            ]
        )
    # The folders they leave, as stored (the rows passed in may be stale).
    moved = dict(
        Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list(
            "pk", "folder_id"
        )
    )
    Account.objects.filter(pk__in=list(moved)).update(folder=folder)
    record_changes(Account.objects.filter(pk__in=list(moved)))
    announce_directory_change(folder.company_id)
    audit.record(
        actor=actor,
        action="folder.place_accounts",
        target=folder,
        before={"accounts": moved},
        after={"folder": folder.pk},
    )
    return folder
