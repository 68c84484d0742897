"""The admin of equity asset sharing (tenant-scoped, like every admin here)."""

from . import assets, rules, shares, usage  # noqa: F401
