"""Small helpers shared by the API contract tests."""

import re

API = "/api/v1"

#: How every amount travels on the wire (SPEC §8): a plain string, two places.
AMOUNT_RE = re.compile(r"-?\d+\.\d{2}")


def usage_body(account, **overrides) -> dict:
    """A valid POST /usage/ body for ``account``; ``overrides`` replace fields."""
    body = {
        "external_id": "bill-1",
        "account": account.pk,
        "product": "ecs",
        "bill_type": "pay_as_you_go",
        "usage_start": "2025-03-01T10:00:00Z",
        "usage_end": "2025-03-01T11:00:00Z",
        "amount": "12.34",
        "billed_at": "2025-03-02T00:00:00Z",
    }
    body.update(overrides)
    return body


def balances(account) -> dict:
    """The account's balances as the API shows them (strings)."""
    account.refresh_from_db()
    return {
        "cash": f"{account.cash_balance:.2f}",
        "transferred_in": f"{account.transferred_in_balance:.2f}",
        "uncleared": f"{account.uncleared_amount:.2f}",
    }
