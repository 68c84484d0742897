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
from sharing import deduction
from sharing.models import Asset, Deduction, Share, SharePeriod, UsageRecord


def test_seed_demo_is_idempotent_and_consistent(db, capsys):
    call_command("seed_demo")
    counts = (
        Company.objects.count(),
        Account.objects.count(),
        Movement.objects.count(),
        Asset.objects.count(),
        Share.objects.count(),
        Deduction.objects.count(),
    )
    call_command("seed_demo")
    assert (
        Company.objects.count(),
        Account.objects.count(),
        Movement.objects.count(),
        Asset.objects.count(),
        Share.objects.count(),
        Deduction.objects.count(),
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


def test_seed_demo_shows_equity_asset_sharing(db):
    """The demo's sharing, made by the services: a savings plan shared with two
    accounts (one with a gap in its history), a reserved instance shared with a
    folder and resolved, an SCU package, a coupon, an automatic rule and the
    plan it shared, deductions, and a late bill the plan did not deduct."""
    call_command("seed_demo", "--no-logins")
    assert find_discrepancies() == []
    main = Account.objects.get(uid="1000000000000001")
    # (Besides the coupons issued from the demo's credit pool.)
    assets = Asset.objects.filter(owner=main, pool_coupon__isnull=True)
    assert sorted(assets.values_list("type", flat=True)) == [
        "coupon",
        "reserved_instance",
        "savings_plan",
        "savings_plan",
        "scu_package",
    ]
    plan = assets.filter(type="savings_plan").earliest("pk")
    receiving = SharePeriod.objects.filter(asset=plan, end__isnull=True)
    assert sorted(receiving.values_list("recipient__name", flat=True)) == [
        "Acme Data",
        "Acme Dev",
    ]
    assert SharePeriod.objects.filter(asset=plan, end__isnull=False).count() == 1
    folder_share = Share.objects.get(target="folder", folder__name="Engineering")
    assert folder_share.status == "active"
    assert sorted(folder_share.periods.values_list("recipient__name", flat=True)) == [
        "Acme Data",
        "Acme Dev",
    ]
    automatic = Share.objects.filter(rule__isnull=False)
    assert set(automatic.values_list("status", flat=True)) == {"active"}
    assert automatic.values("asset").distinct().count() == 1
    assert Deduction.objects.values("asset__type").distinct().count() == 4
    late = UsageRecord.objects.get(external_id="demo-share-late")
    assert late.deductions.count() == 0
    assert {s["reason"] for s in deduction.explain(late)} == {"before_share_start"}
