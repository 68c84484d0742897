"""What several coupon screens show: a pool's scope and its decision, in words."""

from django.utils.translation import gettext_lazy as _

from sharing.models import UsageRecord

from ..models import CreditPool
from ..selectors import list_products

#: Rows of a panel that grows with data; the rest is one link away.
PANEL_ROWS = 50

#: The sentence shown beside an inherited scope (SPEC §5: only the CBM sets it).
SCOPE_NOTE = _("Set by your business manager; request another pool for another scope.")


def scope_of(products: list[str], bill_types: list[str]) -> dict:
    """Products (names from the catalogue; ``None``: all) and bill type labels."""
    names = dict(list_products().filter(code__in=products).values_list("code", "name"))
    labels = dict(UsageRecord.BillType.choices)
    return {
        "products": [f"{names.get(code, code)} ({code})" for code in products]
        if products
        else None,
        "bill_types": [str(labels.get(b, b)) for b in bill_types],
    }


def pool_scope(pool: CreditPool) -> dict:
    return scope_of(list(pool.products), list(pool.bill_types))


def business_manager_name(company) -> str | None:
    manager = company.business_manager
    if manager is None:
        return None
    return manager.get_full_name() or manager.get_username()
