"""The portal's admin for unified account management (tenant-scoped)."""

from . import accounts, companies, credit, ledger, structure  # noqa: F401
