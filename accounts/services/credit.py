"""Writes of credit control (SPEC §3.4, §3.5): quotas, limits, contracts, access.

Lock order: the account first (accounts by primary key, as everywhere), then the
company's quota row for the account's currency, which serializes every limit
change of that company and currency so two accounts cannot both take the last
of the quota.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing_portal import audit
from billing_portal.db import service
from billing_portal.errors import (
    AccessRequestRefused,
    ActionForbidden,
    CreditControlRefused,
    reason,
)
from billing_portal.money import ZERO, format_amount
from billing_portal.notifications import queue_portal_notice, queue_sms

from ..ledger import lock_accounts, track_overdue
from ..models import (
    AccessException,
    AccessRequest,
    Account,
    AccountAccess,
    Company,
    Contract,
    CreditLimitChange,
    CreditQuota,
)
from ..selectors import (
    access_request_refusals,
    can_decide_access_request,
    can_revoke_access_exception,
    can_set_limit,
    can_withdraw_contract,
    contract_confirmation_refusals,
    contract_confirmer_refusals,
    contract_state_refusals,
    credit_limit_refusals,
    ensure_can_manage,
    get_disabled_state,
    has_confirmed_contract,
    limit_permission_reason,
    list_contract_confirmers,
)

Outcome = CreditLimitChange.Outcome


def _owners(account: Account):

    return get_user_model().objects.filter(
        account_access__account=account,
        account_access__permission=AccountAccess.Permission.OWNER,
    )


def _limit_params(account: Account, limit: Decimal) -> dict:
    return {
        "account": account.uid,
        "name": account.name,
        "limit": format_amount(limit),
        "currency": account.currency,
    }


@service
def set_credit_quota(
    *, company: Company, currency: str, amount: Decimal, actor
) -> CreditQuota:
    """Set the company's quota in a currency. It may go below what is allocated:
    existing limits stay, and increases are refused until within the quota."""
    quota, _created = CreditQuota.objects.select_for_update().get_or_create(
        company=company,
        currency=currency,
        defaults={"amount": ZERO, "updated_by": actor},
    )
    before = quota.amount
    quota.amount = amount
    quota.updated_by = actor
    quota.save(update_fields=["amount", "updated_by", "updated_at"])
    audit.record(
        actor=actor,
        action="credit.quota",
        target=company,
        before={"currency": currency, "amount": format_amount(before)},
        after={"currency": currency, "amount": format_amount(amount)},
    )
    return quota


def ensure_can_set_limit(actor, account: Account) -> None:
    """403 ``no_permission`` unless ``selectors.can_set_limit``."""
    if not can_set_limit(actor, account):
        raise ActionForbidden([limit_permission_reason(account)])


def _lock_for_limit(account: Account) -> Account:
    account = lock_accounts(account.pk)[account.pk]
    if account.company_id:
        CreditQuota.objects.select_for_update().get_or_create(
            company_id=account.company_id,
            currency=account.currency,
            defaults={"amount": ZERO},
        )
    return account


def _apply_limit(account: Account, amount: Decimal, *, actor, contract=None):
    before = account.credit_limit
    account.credit_limit = amount
    account.save(update_fields=["credit_limit"])
    track_overdue(account, at=timezone.now())
    CreditLimitChange.objects.create(
        account=account,
        before=before,
        after=amount,
        outcome=Outcome.APPLIED,
        contract=contract,
        actor=actor,
    )
    queue_sms(
        account=account,
        template="credit_limit_changed",
        params=_limit_params(account, amount),
    )
    audit.record(
        actor=actor,
        action="credit.limit",
        target=account,
        before={"credit_limit": format_amount(before)},
        after={"credit_limit": format_amount(amount)},
    )


@service
def set_credit_limit(*, account: Account, amount: Decimal, actor):
    """Set (or cancel, with 0) the account's credit limit.

    The first limit of an account waits for its owner to confirm a contract;
    later changes take effect at once. Returns (status, contract).
    """
    ensure_can_set_limit(actor, account)
    account = _lock_for_limit(account)
    reasons = credit_limit_refusals(account, amount)
    if reasons:
        raise CreditControlRefused(reasons)
    if amount == account.credit_limit:
        return "active", None
    if not has_confirmed_contract(account):
        contract = Contract.objects.create(
            account=account,
            limit=amount,
            currency=account.currency,
            terms_version=settings.CREDIT_CONTROL_TERMS_VERSION,
            created_by=actor,
        )
        CreditLimitChange.objects.create(
            account=account,
            before=account.credit_limit,
            after=amount,
            outcome=Outcome.PENDING_CONTRACT,
            contract=contract,
            actor=actor,
        )
        # The notice goes to whoever confirms; the SMS (on confirmation) still
        # goes to this account's own mobile number.
        queue_portal_notice(
            users=list_contract_confirmers(account),
            account=account,
            template="credit_contract_pending",
            params={**_limit_params(account, amount), "contract": contract.pk},
        )
        audit.record(
            actor=actor,
            action="credit.contract_created",
            target=contract,
            after={"limit": format_amount(amount)},
        )
        return "pending_contract", contract
    _apply_limit(account, amount, actor=actor)
    return "active", None


def _lock_contract(contract: Contract) -> tuple[Contract, Account]:
    account = _lock_for_limit(contract.account)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    contract.account = account
    return contract, account


@service
def confirm_contract(*, contract: Contract, actor, ip: str | None = None) -> Contract:
    """An owner of the account holding the credit authority (the account, or its
    management account under SYNCHRONIZE_FINANCE_IDENTITY) accepts the contract:
    the limit takes effect now and the SMS goes to the account's mobile."""
    forbidden = contract_confirmer_refusals(actor, contract)
    if forbidden:
        raise ActionForbidden(forbidden)
    contract, account = _lock_contract(contract)
    reasons = contract_confirmation_refusals(contract)
    if reasons:
        raise CreditControlRefused(reasons)
    contract.status = Contract.Status.CONFIRMED
    contract.confirmed_at = timezone.now()
    contract.confirmed_by = actor
    contract.confirmed_from = ip
    contract.save(
        update_fields=["status", "confirmed_at", "confirmed_by", "confirmed_from"]
    )
    _apply_limit(account, contract.limit, actor=actor, contract=contract)
    return contract


@service
def withdraw_contract(*, contract: Contract, actor) -> Contract:
    """Withdraw a pending contract: its limit is dropped (no SMS)."""
    if not can_withdraw_contract(actor, contract):
        raise ActionForbidden([limit_permission_reason(contract.account)])
    contract, account = _lock_contract(contract)
    reasons = contract_state_refusals(contract, "withdraw")
    if reasons:
        raise CreditControlRefused(reasons)
    contract.status = Contract.Status.WITHDRAWN
    contract.withdrawn_at = timezone.now()
    contract.withdrawn_by = actor
    contract.save(update_fields=["status", "withdrawn_at", "withdrawn_by"])
    CreditLimitChange.objects.create(
        account=account,
        before=account.credit_limit,
        after=account.credit_limit,
        outcome=Outcome.WITHDRAWN,
        contract=contract,
        actor=actor,
    )
    queue_portal_notice(
        users=list_contract_confirmers(account),
        account=account,
        template="credit_contract_withdrawn",
        params={**_limit_params(account, contract.limit), "contract": contract.pk},
    )
    audit.record(
        actor=actor,
        action="credit.contract_withdrawn",
        target=contract,
        before={"status": "pending"},
        after={"status": "withdrawn"},
    )
    return contract


# --- §3.5 access requests ----------------------------------------------------------


@service
def request_access(*, account: Account, actor, message: str = "") -> AccessRequest:
    """Ask the company's business manager to lift the §3.5 blocks."""
    ensure_can_manage(actor, account)
    account = lock_accounts(account.pk)[account.pk]
    reasons = access_request_refusals(account)
    if reasons:
        raise AccessRequestRefused(reasons)
    state = get_disabled_state(account)
    manager = account.company.business_manager if account.company else None
    request = AccessRequest.objects.create(
        account=account,
        business_manager=cast(Any, manager),  # a missing manager was refused
        message=message,
        conditions=state.conditions,
        requested_by=actor,
    )
    queue_portal_notice(
        users=[manager],
        account=account,
        template="access_requested",
        params={"account": account.uid, "request": request.pk},
    )
    audit.record(
        actor=actor,
        action="access.request",
        target=request,
        after={"conditions": [c["code"] for c in state.conditions]},
    )
    return request


def _ensure(allowed: bool, variant: str) -> None:
    """The CBM-only refusals: their own sentences, not the owner/manage one."""
    if not allowed:
        raise ActionForbidden([reason("no_permission", variant=variant)])


def _decide(request: AccessRequest, status: str, actor) -> AccessRequest:
    lock_accounts(request.account_id)
    request = AccessRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != AccessRequest.Status.REQUESTED:
        raise AccessRequestRefused(
            [
                reason(
                    "invalid_state",
                    variant="access_request_answered",
                    request=request.pk,
                )
            ]
        )
    request.status = status
    request.decided_at = timezone.now()
    request.decided_by = actor
    request.save(update_fields=["status", "decided_at", "decided_by"])
    return request


@service
def grant_access_request(*, request: AccessRequest, actor) -> AccessException:
    """The business manager grants: both blocks lift until the exception is revoked."""
    _ensure(can_decide_access_request(actor, request), "decide_access_request")
    request = _decide(request, AccessRequest.Status.GRANTED, actor)
    exception = AccessException.objects.create(
        account=request.account,
        request=request,
        granted_by=actor,
        start=cast(datetime, request.decided_at),  # set by _decide
    )
    queue_portal_notice(
        users=_owners(request.account),
        account=request.account,
        template="access_granted",
        params={"account": request.account.uid},
    )
    audit.record(
        actor=actor,
        action="access.grant",
        target=request,
        after={"exception": exception.pk},
    )
    return exception


@service
def decline_access_request(*, request: AccessRequest, actor) -> AccessRequest:
    _ensure(can_decide_access_request(actor, request), "decide_access_request")
    request = _decide(request, AccessRequest.Status.DECLINED, actor)
    queue_portal_notice(
        users=_owners(request.account),
        account=request.account,
        template="access_declined",
        params={"account": request.account.uid},
    )
    audit.record(
        actor=actor,
        action="access.decline",
        target=request,
        after={"status": "declined"},
    )
    return request


@service
def revoke_access_exception(*, exception: AccessException, actor) -> AccessException:
    """The business manager or an operator ends a granted exception now."""
    _ensure(can_revoke_access_exception(actor, exception), "revoke_access_exception")
    lock_accounts(exception.account_id)
    exception = AccessException.objects.select_for_update().get(pk=exception.pk)
    if exception.end is not None:
        raise AccessRequestRefused(
            [
                reason(
                    "invalid_state",
                    variant="access_exception_revoked",
                    exception=exception.pk,
                )
            ]
        )
    exception.end = timezone.now()
    exception.revoked_by = actor
    exception.save(update_fields=["end", "revoked_by"])
    audit.record(
        actor=actor,
        action="access.revoke",
        target=exception,
        after={"end": exception.end.isoformat()},
    )
    return exception
