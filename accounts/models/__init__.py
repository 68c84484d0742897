"""Models of unified account management, by entity."""

from .credit import (  # noqa: F401
    AccessException,
    AccessRequest,
    Contract,
    CreditLimitChange,
    CreditQuota,
)
from .funds import (  # noqa: F401
    Account,
    AccountAccess,
    AccountQuerySet,
    Charge,
    Company,
    ImmutableModel,
    Movement,
    MovementQuerySet,
    OverdueEpisode,
    Posting,
    SettlementAllocation,
    TransferPair,
)
from .structure import (  # noqa: F401
    FinancialRelationship,
    Folder,
    RelationshipPermission,
)
