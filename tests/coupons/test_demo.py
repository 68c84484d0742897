"""The coupon pools' demo data (coupons/demo.py, loaded by seed_demo): once,
through the services, with the story the screenshots show."""

from decimal import Decimal

from django.core.management import call_command

from accounts.ledger import find_discrepancies
from accounts.models import Company
from coupons.models import Coupon, CreditPool, Product
from coupons.selectors import coupon_applicability, get_pool_history
from sharing.models import UsageRecord

D = Decimal


def test_seed_demo_loads_the_pools_story_once(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    assert "cbm" in capsys.readouterr().out
    assert find_discrepancies() == []

    acme = Company.objects.get(registration_number="91310000DEMO0001")
    assert set(Product.objects.values_list("code", flat=True)) == {
        "ecs",
        "oss",
        "rds",
        "cdn",
    }
    approved = CreditPool.objects.get(status="approved")
    assert approved.company == acme
    assert approved.management_account.name == "Acme Main"
    assert (
        approved.amount,
        approved.issued_amount,
        approved.revoked_amount,
        approved.remaining,
    ) == (D("10000.00"), D("1000.00"), D("220.00"), D("9220.00"))
    pending = CreditPool.objects.get(status="requested")
    assert (pending.company, pending.amount) == (acme, D("3000.00"))
    assert not CreditPool.objects.exclude(company=acme).exists()

    web, mobile, both = Coupon.objects.order_by("pk")
    web.asset.refresh_from_db()
    assert web.asset.remaining == D("380.00")
    assert (mobile.revoked_amount, mobile.revoked_to_pool) == (D("220.00"), True)
    rows = {row.account.name: row for row in coupon_applicability(both)}
    assert rows["Acme Web"].applies_now
    assert not rows["Acme Mobile"].applies_now
    assert rows["Acme Mobile"].not_since is not None
    after_end = UsageRecord.objects.get(external_id="demo-pool-usage-3")
    assert after_end.charged_amount == D("50.00")
    assert {s["reason"] for s in after_end.skipped} == {"payment_relationship_inactive"}


def test_the_demo_pools_story_spans_three_weeks_for_its_chart(db):
    call_command("seed_demo", no_logins=True)
    pool = CreditPool.objects.get(status="approved")
    history = get_pool_history(pool)
    assert len(history) == 21  # approved 20 days ago, and today
    issued = [d.issued for d in history]
    assert sorted(set(issued)) == [D("0.00"), D("500.00"), D("800.00"), D("1000.00")]
    assert history[-1].revoked == D("220.00")
