"""One currency per operation (SPEC §2): the refusal every rule that joins two
accounts shares (transfers, trusteeship, sharing)."""

from billing_portal.errors import Reason, reason

from ..models import Account


def currency_reasons(source: Account, destination: Account) -> list[Reason]:
    """``currency_mismatch`` when the two accounts hold different currencies:
    no operation mixes them (SPEC §2): transfers, trusteeship, sharing."""
    if source.currency == destination.currency:
        return []
    return [
        reason(
            "currency_mismatch",
            source=source.uid,
            destination=destination.uid,
            source_currency=source.currency,
            destination_currency=destination.currency,
        )
    ]
