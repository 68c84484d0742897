from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Equity asset sharing")

    def ready(self):
        # Assets and their hour buckets are ledger holders, after the accounts
        # app's (accounts 10, transfer pairs 20) in the global lock order.
        from accounts import ledger
        from accounts.signals import directory_changed

        from . import services
        from .models import Asset, AssetHour

        ledger.register_holder(
            Asset,
            "asset",
            books={"remaining": ("remaining", ledger.CREDIT)},
            lock_rank=30,
            related=("owner",),
        )
        ledger.register_holder(
            AssetHour,
            "asset_hour",
            books={"drawn": ("drawn", ledger.DEBIT)},
            lock_rank=40,
        )
        # Capacity granted to assets when they are provisioned (or given back).
        ledger.register_books("provider", {"benefits_granted": (None, ledger.DEBIT)})
        ledger.register_book_labels("asset", {"remaining": _("Asset: remaining")})
        ledger.register_book_labels("asset_hour", {"drawn": _("Asset: used this hour")})
        ledger.register_book_labels(
            "provider", {"benefits_granted": _("Provider: benefits granted")}
        )
        ledger.register_check(services.check_deductions)
        directory_changed.connect(
            services.on_directory_changed, dispatch_uid="sharing.directory"
        )
