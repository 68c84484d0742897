"""seed_scale builds data through the set-wise paths and keeps the ledger clean."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, AccountAccess, Charge, Posting, TransferPair


def test_seed_scale_builds_a_clean_ledger_of_the_asked_size(db):
    out = StringIO()

    call_command(
        "seed_scale", "--accounts", "300", "--lines", "3000", "--pairs", "20",
        stdout=out,
    )  # fmt: skip

    assert Account.objects.count() == 310
    assert AccountAccess.objects.filter(user__username="scale-owner").count() == 300
    assert Posting.objects.count() >= 3000
    assert Charge.objects.count() == (3000 - 600) // 2
    assert TransferPair.objects.count() == 20
    assert "check_ledger: 0 problems" in out.getvalue()
    with pytest.raises(CommandError, match="already loaded"):
        call_command("seed_scale", "--accounts", "10", stdout=StringIO())
