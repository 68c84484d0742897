from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Unified account management")

    def ready(self):
        # The ledger's holders of this app, in the global lock order: accounts
        # (rank 10) before transfer pairs (20); other apps rank after these.
        from . import ledger
        from .models import Account, TransferPair

        ledger.register_holder(
            None,
            "provider",
            books={
                "funding": (None, ledger.DEBIT),
                "revenue": (None, ledger.CREDIT),
                "revocable_control": (None, ledger.DEBIT),
            },
            lock_rank=0,
        )
        ledger.register_holder(
            Account,
            "account",
            books={
                "own_cash": ("own_cash", ledger.CREDIT),
                "transferred_in": ("transferred_in_balance", ledger.CREDIT),
                "uncleared": ("uncleared_amount", ledger.DEBIT),
            },
            lock_rank=10,
            # The company comes along for the rules (verified? same company?).
            related=("company",),
            after_post=ledger.account_after_post,
            derived=lambda account: {
                "cash_balance": account.cash_balance,
                "available_balance": account.available_balance,
            },
        )
        ledger.register_holder(
            TransferPair,
            "pair",
            books={"remaining_revocable": ("remaining_revocable", ledger.CREDIT)},
            lock_rank=20,
        )
        ledger.register_book_labels(
            "account",
            {
                "own_cash": _("Own funds"),
                "transferred_in": _("Transferred-in funds"),
                "uncleared": _("Uncleared charges"),
            },
        )
        ledger.register_book_labels(
            "pair", {"remaining_revocable": _("Revocable by the sender")}
        )
        ledger.register_book_labels(
            "provider",
            {
                "funding": _("Provider: funds received"),
                "revenue": _("Provider: revenue"),
                "revocable_control": _("Provider: revocable transfers"),
            },
        )
        ledger.register_check(ledger.check_charges)
