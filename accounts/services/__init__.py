"""Writes: the only code that changes state. Submodules by entity; this
module re-exports their public services so callers write ``services.transfer_balance``.
"""

from .billing import (  # noqa: F401
    BATCH_COLUMNS,
    DEDUCTION_COLUMNS,
    assign_payers,
    charge_usage_batch,
    create_batch_table,
    create_deductions_table,
    lock_payers,
    settle_batch,
    top_up_batch,
)
from .credit import (  # noqa: F401
    confirm_contract,
    decline_access_request,
    ensure_can_set_limit,
    grant_access_request,
    request_access,
    revoke_access_exception,
    set_credit_limit,
    set_credit_quota,
    withdraw_contract,
)
from .funds import (  # noqa: F401
    ACCOUNT_EDITABLE,
    charge_usage,
    create_account,
    create_company,
    create_user,
    grant_access,
    payer_for,
    rename_company,
    reverse_top_up,
    revoke_access,
    revoke_transfer,
    set_business_manager,
    settle_account,
    settle_all,
    top_up,
    transfer_balance,
    update_account,
    verify_company,
)
from .structure import (  # noqa: F401
    cancel_relationship,
    confirm_relationship,
    create_folder,
    create_root_folder,
    delete_folder,
    invite_member,
    place_accounts,
    reject_relationship,
    set_management_account,
    set_relationship_permissions,
    terminate_relationship,
    update_folder,
)
