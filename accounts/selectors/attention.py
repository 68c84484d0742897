"""What waits for a user (the home page's counts, issue 12): querysets in the
user's scope, each the rows one filtered list shows, so the number on the home
page is the number of rows behind its link.
"""

from django.db.models import Exists, OuterRef, QuerySet

from ..models import (
    AccessRequest,
    AccountAccess,
    Company,
    Contract,
    FinancialRelationship,
)
from ..models.structure import RelationshipPermission
from .access import MANAGING, list_visible_companies
from .credit import list_visible_access_requests, list_visible_contracts
from .structure import list_visible_relationships

OWNER = AccountAccess.Permission.OWNER


def administers_accounts(user) -> bool:
    """The user is owner or manage of some account: it answers invitations,
    asks for access, shares assets (a ``use`` user only reads)."""
    return AccountAccess.objects.filter(user=user, permission__in=MANAGING).exists()


def _owned(user, ref: str) -> Exists:
    return Exists(
        AccountAccess.objects.filter(user=user, permission=OWNER, account=OuterRef(ref))
    )


def list_contracts_to_confirm(user) -> QuerySet[Contract]:
    """Pending contracts this user confirms: ``can_confirm_contract`` as one
    query. An owner of the account holding the credit authority (the
    management account under an active SYNCHRONIZE_FINANCE_IDENTITY
    relationship, else the account itself) confirms; operators never do."""
    authority = FinancialRelationship.objects.filter(
        member_account=OuterRef("account_id"),
        status=FinancialRelationship.Status.ACTIVE,
        permissions__contains=[RelationshipPermission.SYNCHRONIZE_FINANCE_IDENTITY],
    )
    return Contract.objects.filter(status=Contract.Status.PENDING).filter(
        Exists(authority.filter(_owned(user, "management_account_id")))
        | (~Exists(authority) & _owned(user, "account_id"))
    )


def list_contracts_awaiting_owner(user) -> QuerySet[Contract]:
    """Pending contracts the user sees that someone else (an owner) confirms."""
    return (
        list_visible_contracts(user)
        .filter(status=Contract.Status.PENDING)
        .exclude(pk__in=list_contracts_to_confirm(user).values("pk"))
    )


def list_pending_invitations(user) -> QuerySet[FinancialRelationship]:
    """Invitations sent or received by accounts the user sees, not yet answered."""
    return list_visible_relationships(user).filter(
        status=FinancialRelationship.Status.PENDING
    )


def list_own_open_access_requests(user) -> QuerySet[AccessRequest]:
    """The user's own access requests still waiting for the business manager."""
    return list_visible_access_requests(user).filter(
        status=AccessRequest.Status.REQUESTED, requested_by=user
    )


def list_access_requests_to_decide(user) -> QuerySet[AccessRequest]:
    """Open access requests addressed to this business manager."""
    return list_visible_access_requests(user).filter(
        status=AccessRequest.Status.REQUESTED, business_manager=user
    )


def list_companies_to_verify(user) -> QuerySet[Company]:
    """Companies the user sees that are not verified yet (operators verify)."""
    return list_visible_companies(user).filter(
        verification_status=Company.Verification.UNVERIFIED
    )
