from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CouponsConfig(AppConfig):
    name = "coupons"
    verbose_name = _("Coupon credit pools")

    def ready(self):
        # Pools are ledger holders after assets (a revocation locks the coupon,
        # rank 30, then its pool); coupons are sharing's coupon assets.
        from accounts import ledger

        from . import checks
        from .models import CreditPool

        ledger.register_holder(
            CreditPool,
            "pool",
            books={"unissued": ("remaining", ledger.CREDIT)},
            lock_rank=50,
            related=("management_account",),
        )
        ledger.register_books(
            "provider",
            {
                "pool_funding": (None, ledger.DEBIT),
                "benefits_expired": (None, ledger.CREDIT),
            },
        )
        ledger.register_book_labels("pool", {"unissued": _("Pool: not yet issued")})
        ledger.register_book_labels(
            "provider",
            {
                "pool_funding": _("Provider: coupon credit pools"),
                "benefits_expired": _("Provider: benefits expired"),
            },
        )
        ledger.register_check(checks.check_pools)
