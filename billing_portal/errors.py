"""Domain errors: every refusal carries reason codes and customer sentences.

Services raise these; the API turns them into 403/409 bodies through one
exception handler (billing_portal.api.exception_handler) and the admin into
messages. The sentences live here, once, translatable.

A code may have several sentences, one per situation (``"code:variant"`` keys,
chosen with ``reason(code, variant=...)``): each is a whole sentence, so that a
translation never has English fragments filled into it. Only data (uids, ids,
amounts, names) is filled in.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    # permission
    "no_permission": _(
        "You need owner or manage permission on account {account} to do this."
    ),
    # account access
    "no_access": _(
        "User {user} has no access to account {account}; there is nothing to revoke."
    ),
    "no_permission:answer_invitation": _(
        "Only an owner of account {account} can accept or reject its invitation."
    ),
    "no_permission:confirm_contract": _(
        "Only an owner of account {account} can confirm its credit control contract."
    ),
    "no_permission:limit_set_by_manager": _(
        "The credit limit of account {account} is set by the owner or manage "
        "administrators of its management account {manager}."
    ),
    "no_permission:decide_access_request": _(
        "Only the business manager that this access request was sent to can grant "
        "or decline it."
    ),
    "no_permission:revoke_access_exception": _(
        "Only the business manager who granted this exception, or a billing "
        "operator, can revoke it."
    ),
    "no_permission:manage_directory": _(
        "Only billing operators and the owner or manage administrators of the "
        "management account of company {company} can change its resource directory."
    ),
    # transfer and revocation
    "same_account": _("The source and destination must be different accounts."),
    "same_account:invitation": _(
        "Account {account} cannot be invited as a member of itself; choose another "
        "account of the company."
    ),
    "account_not_active": _(
        "Account {account} is not valid; only valid accounts can move funds."
    ),
    "account_not_active:frozen": _(
        "Account {account} is frozen; only valid accounts can move funds."
    ),
    "account_not_active:closed": _(
        "Account {account} is closed; only valid accounts can move funds."
    ),
    "currency_mismatch": _(
        "Account {source} holds {source_currency} and account {destination} holds "
        "{destination_currency}; funds can only move within one currency."
    ),
    "company_not_verified": _(
        "Account {account} does not belong to a company whose identity is verified."
    ),
    "different_company": _(
        "Accounts {source} and {destination} belong to different companies."
    ),
    "source_overdue": _(
        "Account {account} has an overdue payment (available balance {available}); "
        "settle it before transferring funds."
    ),
    "self_service_disabled": _(
        "Self-service transfer is disabled for account {account}: {why}"
    ),
    "exceeds_transferable": _(
        "{amount} is more than the {transferable} that account {account} can transfer."
    ),
    "no_prior_transfer": _(
        "Account {source} has never transferred funds to account {destination}, "
        "so there is nothing to revoke."
    ),
    "exceeds_transferred_in_balance": _(
        "{amount} is more than the {limit} of transferred-in funds that account "
        "{destination} has not spent yet."
    ),
    "exceeds_remaining_revocable": _(
        "{amount} is more than the {limit} that account {source} transferred to "
        "account {destination} and has not taken back yet."
    ),
    "would_cause_overdue": _(
        "Taking back {amount} would make account {destination} overdue: its "
        "available balance is {limit}."
    ),
    # why a transfer or revocation button is disabled (the portal's screens)
    "nothing_transferable": _(
        "Account {account} can transfer 0.00 now: the smaller of its own funds "
        "({own}) and its available balance ({available})."
    ),
    "nothing_revocable:unspent_transferred_in": _(
        "Account {destination} has spent the funds transferred to it (billed "
        "charges count as spent), so nothing can be taken back now."
    ),
    "nothing_revocable:remaining_revocable": _(
        "Account {source} has already taken back everything it transferred to "
        "account {destination}."
    ),
    "nothing_revocable:available_balance": _(
        "Account {destination} has an available balance of {available}; taking "
        "funds back would make it overdue, so nothing can be taken back now."
    ),
    # informational reasons on the transferable amount
    "transferred_in_funds": _(
        "{transferred_in} of your {cash} arrived by transfer and can only be spent, "
        "not transferred again."
    ),
    "uncleared_charges": _(
        "Billed charges of {uncleared} not yet paid lower the available balance to "
        "{available}."
    ),
    # corrections
    "insufficient_own_funds": _(
        "Account {account} holds only {own} of own funds; the {amount} top-up cannot "
        "be reversed."
    ),
    # credit control (§3.4, §3.5)
    "credit_control_disabled": _(
        "Credit control is disabled for account {account}: {why}"
    ),
    "contract_pending": _(
        "A credit control contract for account {account} is waiting for its owner's "
        "confirmation; confirm or withdraw it before changing the limit."
    ),
    "exceeds_max_allocatable": _(
        "{amount} is more than the {limit} the company can still allocate to account "
        "{account} (quota {quota}, allocated to its other accounts {allocated})."
    ),
    "below_min_allocatable": _(
        "{amount} is less than the {limit} of credit account {account} is using now; "
        "a lower limit would make it overdue."
    ),
    "credit_in_use": _(
        "Account {account} is using {in_use} of its credit; the limit can only be "
        "cancelled when no credit is in use."
    ),
    "no_business_manager": _(
        "Account {account} has no business manager to ask; contact the provider."
    ),
    "not_disabled": _(
        "Transfer and credit control are not disabled for account {account}."
    ),
    # relationships (§3.6)
    "not_management_account": _(
        "Account {account} is not the enterprise management account of its company."
    ),
    "member_has_active_relationship": _(
        "Account {member} already has a pending or active financial relationship."
    ),
    "member_overdue": _(
        "Account {member} has an overdue payment (available balance {available}); a "
        "trusteeship needs it to have none."
    ),
    "invalid_state": _("This cannot be done in its current state."),
    "invalid_state:relationship_confirm": _(
        "Relationship {relationship} is no longer pending; only a pending invitation "
        "can be confirmed."
    ),
    "invalid_state:relationship_reject": _(
        "Relationship {relationship} is no longer pending; only a pending invitation "
        "can be rejected."
    ),
    "invalid_state:relationship_cancel": _(
        "Relationship {relationship} is no longer pending; only a pending invitation "
        "can be cancelled."
    ),
    "invalid_state:relationship_terminate": _(
        "Relationship {relationship} is not active; only an active relationship can "
        "be terminated."
    ),
    "invalid_state:relationship_permissions": _(
        "Relationship {relationship} has ended; its permissions can only be changed "
        "while it is pending or active."
    ),
    "invalid_state:management_account_in_use": _(
        "The management account of company {company} still has pending or active "
        "relationships; end them before designating another account."
    ),
    "invalid_state:not_a_top_up": _(
        "Movement {movement} is not a top-up; only top-ups are corrected by reversal."
    ),
    "invalid_state:top_up_reversed": _("Top-up {movement} has already been reversed."),
    "invalid_state:contract_confirm": _(
        "Contract {contract} is no longer pending; only a pending contract can be "
        "confirmed."
    ),
    "invalid_state:contract_withdraw": _(
        "Contract {contract} is no longer pending; only a pending contract can be "
        "withdrawn."
    ),
    "invalid_state:access_request_open": _(
        "Account {account} already has an open access request; wait for the "
        "business manager's answer."
    ),
    "invalid_state:access_request_answered": _(
        "Access request {request} has already been answered."
    ),
    "invalid_state:access_exception_revoked": _(
        "Access exception {exception} has already been revoked."
    ),
    # resource directory (§3.7)
    "folder_depth_exceeded": _(
        "Folders can be at most {limit} levels below the root; this would need {depth}."
    ),
    "folder_not_empty": _(
        "Folder {folder} still holds accounts or folders; empty it first."
    ),
    "folder_in_use": _(
        "Folder {folder} is named by asset shares or automatic sharing rules, "
        "which keep their history; it cannot be deleted."
    ),
    "folder_name_taken": _("Folder {parent} already has a subfolder named {name}."),
    "folder_cycle": _("A folder cannot be moved into itself or one of its subfolders."),
    "root_folder": _("The root folder is the organization; it cannot be changed."),
    "root_folder:move": _("The root folder is the organization; it cannot be moved."),
    "root_folder:delete": _(
        "The root folder is the organization; it cannot be deleted."
    ),
    # equity asset sharing (§4)
    "not_owner": _(
        "Only the owner or manage administrators of the account that owns asset "
        "{asset} can share it."
    ),
    "reshare_not_allowed": _(
        "Asset {asset} was shared with your account; a recipient cannot share it again."
    ),
    "recipient_limit_exceeded": _(
        "An asset can be shared with at most {limit} accounts at a time; this would "
        "make {count}."
    ),
    "same_account:share": _(
        "Account {account} owns this asset; it cannot also be one of its recipients."
    ),
    "invalid_state:not_shared": _(
        "The asset is not shared with account {account} now."
    ),
    "invalid_state:shared_through_folder": _(
        "Account {account} receives the asset through the share with folder {folder}; "
        "stop that share or move the account out of the folder."
    ),
    "invalid_state:share_stopped": _("This share was already stopped at {when}."),
    "invalid_state:share_pending": _(
        "This automatic share has not been applied yet; it can be stopped once it "
        "is active."
    ),
    "invalid_state:share_failed": _(
        "This share failed: the asset was not shared through it."
    ),
    "asset_not_active:expired": _(
        "Asset {asset} expired at {until}; an expired asset is not shared with "
        "anyone new."
    ),
    "asset_not_active:exhausted": _(
        "Asset {asset} is used up; there is nothing left to share."
    ),
    "asset_not_active:revoked": _(
        "Asset {asset} was revoked; it is not shared with anyone new."
    ),
    # coupon credit pools (§5)
    "not_cbm": _(
        "Only the company's customer business manager (CBM) can request a coupon "
        "credit pool."
    ),
    "no_requestable_company": _(
        "None of your companies can receive a coupon credit pool yet: a company "
        "needs to be verified and to have an enterprise management account."
    ),
    "invalid_distribution_target": _(
        'A coupon credit pool must choose the distribution target "Specify '
        'Enterprise Management Account".'
    ),
    "invalid_distribution_target:not_management_account": _(
        "Account {account} is not the enterprise management account of company "
        "{company}; a pool is distributed to that account."
    ),
    "pool_not_active": _(
        "Coupon credit pool {pool} is not approved and valid now; coupons can only "
        "be issued from an approved pool inside its validity."
    ),
    "exceeds_pool_remaining": _(
        "{count} coupons of {face_value} make {amount}, more than the {remaining} "
        "left in the pool."
    ),
    "exceeds_pool_remaining:empty": _(
        "Nothing is left in coupon credit pool {pool}: all of its {amount} "
        "{currency} has been issued."
    ),
    "scope_not_editable": _(
        "The products, bill types and validity of coupons are set by the pool "
        "(chosen by your business manager); request another pool for another scope."
    ),
    "account_not_eligible": _(
        "Account {account} is neither the management account nor a member with an "
        "active payment relationship; coupons cannot be issued to it."
    ),
    "invalid_state:pool_approve": _(
        "Pool {pool} is no longer waiting for a decision; only a requested pool can "
        "be approved."
    ),
    "invalid_state:pool_reject": _(
        "Pool {pool} is no longer waiting for a decision; only a requested pool can "
        "be rejected."
    ),
    "invalid_state:coupon_revoked": _("This coupon has already been revoked."),
    "invalid_state:coupon_used_up": _(
        "Coupon {coupon} has no remaining value to revoke: its face value was all "
        "deducted."
    ),
    "product_code_taken": _("Product code {product} is already in the catalogue."),
    # usage
    "external_id_conflict": _(
        "Usage record {external_id} was already received with different details."
    ),
    # idempotency
    "idempotency_key_reused": _(
        "This Idempotency-Key was already used for a different request."
    ),
    "idempotency_request_in_progress": _(
        "A request with this Idempotency-Key is still being processed; retry shortly."
    ),
    # sign-in and request rates (issue 12)
    "locked_out": _(
        "Too many failed sign-ins for user {username} from your address; signing "
        "in is locked for {minutes} minutes from the last failure. Try again later."
    ),
    "throttled": _(
        "Too many requests of this kind from your user; try again in {seconds} seconds."
    ),
    # any money movement (SPEC §2)
    "balance_out_of_range": _(
        "This would take a balance to {balance}; every balance must stay below "
        "10000000000000.00."
    ),
    "balance_out_of_range:account": _(
        "This would take a balance of account {account} to {balance}; every balance "
        "must stay below 10000000000000.00."
    ),
    "balance_out_of_range:pair": _(
        "This would take what account {source} may take back from account "
        "{destination} to {balance}; every balance must stay below "
        "10000000000000.00."
    ),
}


@dataclass(frozen=True)
class Reason:
    """One machine-readable code and the sentence a customer understands."""

    code: str
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "message": str(self.message)}


def reason(code: str, *, variant: str | None = None, **params) -> Reason:
    """Build a Reason with its translated sentence filled in; ``variant`` picks
    the code's sentence for one situation (``MESSAGES["code:variant"]``)."""
    sentence = MESSAGES[f"{code}:{variant}" if variant else code]
    return Reason(code=code, message=str(sentence).format(**params))


class DomainError(Exception):
    """A refusal by a business rule. ``status`` is the HTTP status it maps to."""

    status = 409
    default_detail = _("The request was refused.")

    def __init__(self, reasons: list[Reason], detail: str | None = None):
        assert reasons, "a refusal always carries at least one reason"
        self.reasons = list(reasons)
        self.detail = str(detail or self.default_detail)
        super().__init__(self.code, self.detail)

    @property
    def code(self) -> str:
        return self.reasons[0].code

    def as_body(self) -> dict:
        return {
            "code": self.code,
            "detail": self.detail,
            "reasons": [r.as_dict() for r in self.reasons],
        }


class RuleViolation(DomainError):
    """A business rule refused the request (409)."""


class TransferRefused(RuleViolation):
    default_detail = _("The transfer cannot be made.")


class RevocationRefused(RuleViolation):
    default_detail = _("The funds cannot be taken back.")


class CreditControlRefused(RuleViolation):
    default_detail = _("The credit limit change was refused.")


class AccessRequestRefused(RuleViolation):
    default_detail = _("The access request was refused.")


class RelationshipRefused(RuleViolation):
    default_detail = _("The financial relationship change was refused.")


class DirectoryRefused(RuleViolation):
    default_detail = _("The resource directory change was refused.")


class SharingRefused(RuleViolation):
    default_detail = _("The sharing change was refused.")


class CouponPoolRefused(RuleViolation):
    default_detail = _("The coupon credit pool request was refused.")


class CatalogueRefused(RuleViolation):
    default_detail = _("The product catalogue was not changed.")


class UsageConflict(RuleViolation):
    default_detail = _("The usage record conflicts with one already received.")


class IdempotencyConflict(RuleViolation):
    default_detail = _("The Idempotency-Key cannot be used for this request.")


class AccessRefused(RuleViolation):
    default_detail = _("The account access was not changed.")


class BalanceOutOfRange(RuleViolation):
    default_detail = _("The movement would take a balance out of range.")


class ActionForbidden(DomainError):
    """The user may see the object but has no right to act on it (403)."""

    status = 403
    default_detail = _("You do not have permission to do this.")


class LoginLockedOut(DomainError):
    """Sign-in refused for a while after repeated failures (django-axes)."""

    status = 429
    default_detail = _("Signing in is locked for now.")


class RequestThrottled(DomainError):
    """More requests of one kind than a user's rate allows."""

    status = 429
    default_detail = _("Request was throttled.")


class StoredRefusal(DomainError):
    """A refusal read back from a stored response body (an exactly-once replay):
    the same status, detail and reasons as when it was first given."""

    def __init__(self, status: int, body: dict):
        self.status = status
        super().__init__(
            [Reason(r["code"], r["message"]) for r in body["reasons"]],
            detail=body.get("detail"),
        )
