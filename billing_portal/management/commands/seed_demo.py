"""Load the demo data once (safe to run again); print the demo logins."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import Company
from billing_portal import roles
from coupons.demo import seed_pools
from sharing.services import record_usage

PASSWORD = "demo-pass-123"
LOGINS = [
    ("admin", "superuser (operator)", "everything"),
    ("operator", "billing operator", "everything; top-ups, usage, verification"),
    ("cbm", "customer business manager", "Acme and Globex"),
    ("alice", "customer, owner", "Acme Cloud's accounts"),
    ("bob", "customer, manage", "Acme Cloud's accounts"),
    ("carol", "customer, use (read-only)", "Acme Cloud's accounts"),
    ("dave", "customer, owner", "Globex's accounts"),
    ("erin", "customer, owner", "Initech (unverified company)"),
]
ACME_REG = "91310000DEMO0001"


class Command(BaseCommand):
    help = "Load demo companies, accounts, users and movements (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--logins", action="store_true", help="Only print the logins."
        )
        parser.add_argument(
            "--no-logins", action="store_true", help="Do not print the logins."
        )

    def handle(self, *args, logins=False, no_logins=False, **options):
        if not logins:
            if Company.objects.filter(registration_number=ACME_REG).exists():
                self.stdout.write("Demo data already loaded.")
            else:
                with transaction.atomic():
                    self.seed()
                self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        if not no_logins:
            self.print_logins()

    def print_logins(self):
        self.stdout.write(f"\nDemo logins (password for all: {PASSWORD}):")
        for username, role, sees in LOGINS:
            self.stdout.write(f"  {username:<9} {role:<28} sees {sees}")

    def seed(self):
        User = get_user_model()
        roles.ensure_groups()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            admin = User.objects.create_superuser(
                "admin", "admin@example.com", PASSWORD
            )
        users = {"admin": admin}
        for username, role in [
            ("operator", "operator"),
            ("cbm", "cbm"),
            ("alice", "customer"),
            ("bob", "customer"),
            ("carol", "customer"),
            ("dave", "customer"),
            ("erin", "customer"),
        ]:
            users[username] = services.create_user(
                username=username, password=PASSWORD, role=role, actor=admin
            )
        op = users["operator"]

        acme = services.create_company(
            name="Acme Cloud Ltd", registration_number=ACME_REG, actor=op
        )
        globex = services.create_company(
            name="Globex Corporation", registration_number="91440000DEMO0002", actor=op
        )
        initech = services.create_company(
            name="Initech (unverified)",
            registration_number="91110000DEMO0003",
            actor=op,
        )
        for company in (acme, globex):
            services.verify_company(company=company, actor=op)
            services.set_business_manager(company=company, user=users["cbm"], actor=op)

        def account(uid, name, company, currency="CNY", mobile="+8613800138000"):
            return services.create_account(
                uid=uid,
                name=name,
                company=company,
                currency=currency,
                mobile=mobile,
                actor=op,
            )

        acme_main = account("1000000000000001", "Acme Main", acme)
        acme_dev = account("1000000000000002", "Acme Dev", acme)
        acme_data = account("1000000000000003", "Acme Data", acme)
        acme_usd = account(
            "1000000000000004", "Acme Global (USD)", acme, "USD", "+14155550100"
        )
        globex_hq = account(
            "2000000000000001", "Globex HQ", globex, "USD", "+14155550123"
        )
        globex_ops = account(
            "2000000000000002", "Globex Ops", globex, "USD", "+14155550124"
        )
        initech_one = account("3000000000000001", "Initech One", initech)

        for acct in (acme_main, acme_dev, acme_data, acme_usd):
            for username, perm in (
                ("alice", "owner"),
                ("bob", "manage"),
                ("carol", "use"),
            ):
                services.grant_access(
                    account=acct, user=users[username], permission=perm, actor=op
                )
        for acct in (globex_hq, globex_ops):
            services.grant_access(
                account=acct, user=users["dave"], permission="owner", actor=op
            )
        services.grant_access(
            account=initech_one, user=users["erin"], permission="owner", actor=op
        )

        D = Decimal
        services.top_up(account=acme_main, amount=D("5000.00"), actor=op)
        services.top_up(account=acme_dev, amount=D("50.00"), actor=op)
        services.top_up(account=acme_usd, amount=D("800.00"), actor=op)
        services.top_up(account=globex_hq, amount=D("3000.00"), actor=op)
        services.top_up(account=initech_one, amount=D("100.00"), actor=op)
        alice = users["alice"]
        services.transfer_balance(
            source=acme_main, destination=acme_dev, amount=D("300.00"), actor=alice
        )
        services.transfer_balance(
            source=acme_main, destination=acme_data, amount=D("200.00"), actor=alice
        )
        services.transfer_balance(
            source=globex_hq,
            destination=globex_ops,
            amount=D("500.00"),
            actor=users["dave"],
        )
        services.revoke_transfer(
            source=acme_main, destination=acme_data, amount=D("50.00"), actor=alice
        )
        now = timezone.now()
        record_usage(
            external_id="demo-usage-1",
            account=acme_dev,
            product="ecs",
            bill_type="pay_as_you_go",
            usage_start=now - timedelta(hours=5),
            usage_end=now - timedelta(hours=4),
            amount=D("120.00"),
            billed_at=now - timedelta(hours=3),
            actor=op,
        )
        record_usage(
            external_id="demo-usage-2",
            account=acme_data,
            product="oss",
            bill_type="pay_as_you_go",
            usage_start=now - timedelta(hours=2),
            usage_end=now - timedelta(hours=1),
            amount=D("30.00"),
            billed_at=now,
            actor=op,
        )
        services.settle_account(account=acme_dev, actor=op)
        self.seed_structure(
            op,
            alice,
            acme,
            globex,
            acme_main,
            acme_dev,
            acme_data,
            acme_usd,
            globex_hq,
            globex_ops,
        )
        seed_pools()

    def seed_structure(
        self,
        op,
        alice,
        acme,
        globex,
        acme_main,
        acme_dev,
        acme_data,
        acme_usd,
        globex_hq,
        globex_ops,
    ):
        """Management accounts, one member of each type, a small directory."""
        services.set_management_account(company=acme, account=acme_main, actor=op)
        services.set_management_account(company=globex, account=globex_hq, actor=op)
        codes = ["CHECK_TARGET_CONSUMPTION", "SYNCHRONIZE_FINANCE_IDENTITY"]
        managed = services.invite_member(
            management_account=acme_main,
            member_account=acme_data,
            type="financial_management",
            permissions=codes,
            actor=alice,
        )
        services.confirm_relationship(relationship=managed, actor=alice)
        trusteeship = services.invite_member(
            management_account=acme_main,
            member_account=acme_dev,
            type="trusteeship",
            permissions=["CHECK_TARGET_CONSUMPTION"],
            actor=alice,
        )
        services.confirm_relationship(relationship=trusteeship, actor=alice)
        # Usage after the trusteeship started: billed to Acme Main.
        now = timezone.now()
        record_usage(
            external_id="demo-usage-3",
            account=acme_dev,
            product="ecs",
            bill_type="pay_as_you_go",
            usage_start=now,
            usage_end=now,
            amount=Decimal("45.00"),
            billed_at=now,
            actor=op,
        )
        engineering = services.create_folder(
            company=acme, name="Engineering", actor=alice
        )
        platform = services.create_folder(
            company=acme, name="Platform", parent=engineering, actor=alice
        )
        global_ops = services.create_folder(company=acme, name="Global", actor=alice)
        services.place_accounts(folder=engineering, accounts=[acme_data], actor=alice)
        services.place_accounts(folder=platform, accounts=[acme_dev], actor=alice)
        services.place_accounts(folder=global_ops, accounts=[acme_usd], actor=alice)
        services.create_folder(company=globex, name="Operations", actor=op)
        self.seed_credit(op, acme, globex)

    def seed_credit(self, op, acme, globex):
        """Quotas; a partner-linked account whose transfer and credit control are
        disabled (alice may request access, cbm may grant it)."""
        services.set_credit_quota(
            company=acme, currency="CNY", amount=Decimal("20000.00"), actor=op
        )
        services.set_credit_quota(
            company=acme, currency="USD", amount=Decimal("5000.00"), actor=op
        )
        services.set_credit_quota(
            company=globex, currency="USD", amount=Decimal("10000.00"), actor=op
        )
        partner = services.create_account(
            uid="1000000000000005",
            name="Acme Partner-managed",
            company=acme,
            currency="CNY",
            mobile="+8613800138005",
            actor=op,
        )
        services.update_account(
            account=partner,
            actor=op,
            partner_name="CloudPartner Co.",
            partner_mode="pay_on_behalf",
        )
        for username, perm in (("alice", "owner"), ("bob", "manage"), ("carol", "use")):
            services.grant_access(
                account=partner,
                user=get_user_model().objects.get(username=username),
                permission=perm,
                actor=op,
            )
        services.top_up(account=partner, amount=Decimal("600.00"), actor=op)
