"""Usage pricing. For now the whole amount is charged to the payer; the
deduction engine (assets, coupons) slots in before the charge (SPEC §4.4)."""

from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.services import charge_usage, payer_for
from billing_portal.db import service
from billing_portal.errors import UsageConflict, reason

from .models import UsageRecord

#: Fields that identify the content of a usage record; a re-send must match them.
CONTENT_FIELDS = (
    "account_id",
    "product",
    "bill_type",
    "usage_start",
    "usage_end",
    "amount",
    "billed_at",
    "instance_type",
    "region",
    "quantity",
)


@service
def record_usage(
    *,
    external_id: str,
    account,
    product: str,
    bill_type: str,
    usage_start,
    usage_end,
    amount: Decimal,
    billed_at,
    instance_type: str = "",
    region: str = "",
    quantity=None,
    source: str = "api",
    actor=None,
) -> tuple[UsageRecord, bool]:
    """Price a usage record once; a re-send returns the first result unchanged.

    Returns (record, created). A re-send with different content is refused.
    """
    candidate = UsageRecord(
        source=source,
        external_id=external_id,
        account=account,
        product=product,
        bill_type=bill_type,
        usage_start=usage_start,
        usage_end=usage_end,
        amount=amount,
        currency=account.currency,
        billed_at=billed_at,
        instance_type=instance_type,
        region=region,
        quantity=quantity,
    )
    existing = UsageRecord.objects.filter(
        source=source, external_id=external_id
    ).first()
    if existing is not None:
        return _same_or_conflict(existing, candidate), False
    payer = payer_for(account, at=usage_start)
    try:
        # The unique index serializes concurrent first sends of one external id.
        with transaction.atomic():
            candidate.payer = payer
            candidate.charged_amount = amount
            candidate.save()
    except IntegrityError:
        existing = UsageRecord.objects.get(source=source, external_id=external_id)
        return _same_or_conflict(existing, candidate), False
    charge = charge_usage(
        usage_account=account,
        amount=amount,
        effective_at=usage_start,
        actor=actor,
        memo=f"usage {source}:{external_id}",
    )
    candidate.charge = charge
    candidate.payer = charge.payer_account
    candidate.save(update_fields=["charge", "payer"])
    return candidate, True


def _same_or_conflict(existing: UsageRecord, candidate: UsageRecord) -> UsageRecord:
    for name in CONTENT_FIELDS:
        if getattr(existing, name) != getattr(candidate, name):
            raise UsageConflict(
                [reason("external_id_conflict", external_id=existing.external_id)]
            )
    return existing
