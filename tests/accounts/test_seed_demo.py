"""The demo data loads once, through the services, and keeps the ledger clean."""

from decimal import Decimal

from django.core.management import call_command

from accounts.ledger import find_discrepancies
from accounts.models import (
    Account,
    Company,
    FinancialRelationship,
    Folder,
    Movement,
)


def test_seed_demo_is_idempotent_and_consistent(db, capsys):
    call_command("seed_demo")
    counts = (
        Company.objects.count(),
        Account.objects.count(),
        Movement.objects.count(),
    )
    call_command("seed_demo")
    assert (
        Company.objects.count(),
        Account.objects.count(),
        Movement.objects.count(),
    ) == counts
    output = capsys.readouterr().out
    assert "Demo data already loaded." in output
    assert "alice" in output
    assert "demo-pass-123" in output
    assert find_discrepancies() == []

    verified = Company.objects.filter(verification_status="verified")
    assert verified.count() == 2
    assert Company.objects.filter(verification_status="unverified").count() == 1
    acme = Company.objects.get(registration_number="91310000DEMO0001")
    assert acme.management_account.name == "Acme Main"
    assert acme.business_manager.username == "cbm"
    types = set(
        FinancialRelationship.objects.filter(status="active").values_list(
            "member_account__name", "type"
        )
    )
    assert types == {
        ("Acme Data", "financial_management"),
        ("Acme Dev", "trusteeship"),
        ("Acme Web", "financial_management"),  # coupon pools' demo (Mobile ended)
    }
    # The trusteeship member's usage after the start was billed to Acme Main.
    main = Account.objects.get(name="Acme Main")
    assert (
        main.uncleared_amount == Decimal("0.00")
        or main.charges.filter(usage_account__name="Acme Dev").exists()
    )
    assert main.charges.filter(usage_account__name="Acme Dev").exists()
    assert Folder.objects.filter(company=acme).count() == 4
    partner = Account.objects.get(uid="1000000000000005")
    assert partner.partner_mode == "pay_on_behalf"
    # Transfers between accounts exist, with something still revocable.
    assert Movement.objects.filter(kind="transfer").count() == 3
