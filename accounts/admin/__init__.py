"""The portal's admin for unified account management (tenant-scoped)."""

from . import accounts, companies, ledger, structure  # noqa: F401
