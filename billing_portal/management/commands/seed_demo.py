"""Load the demo data once (safe to run again); print the demo logins."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import Account, Company, Folder
from billing_portal import roles
from billing_portal.models import UserPreference
from coupons.demo import seed_pools
from sharing import services as sharing
from sharing.models import Asset, Share
from sharing.services import record_usage

PASSWORD = "demo-pass-123"
DEMO_CUSTOMER_TIME_ZONE = "Asia/Shanghai"
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
ACME_MAIN = "1000000000000001"


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
            # A database seeded before equity asset sharing gets its demo too.
            # (Pool coupons are coupon assets too: look for the provisioned ones.)
            provisioned = Asset.objects.filter(
                owner__uid=ACME_MAIN, pool_coupon__isnull=True
            )
            if not provisioned.exists():
                with transaction.atomic():
                    SharingDemo(timezone.now()).seed()
                self.stdout.write(self.style.SUCCESS("Sharing demo data loaded."))
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
            if role == "customer":
                # The demo customers are Chinese enterprises: they read times
                # in Beijing time (everyone else gets DEFAULT_USER_TIME_ZONE).
                UserPreference.objects.create(
                    user=users[username], time_zone=DEMO_CUSTOMER_TIME_ZONE
                )
        op = users["operator"]

        acme = services.create_company(
            name="Acme Cloud Ltd", registration_number=ACME_REG, actor=op
        )
        globex = services.create_company(
            name="Globex Corporation", registration_number="91440000DEMO0002", actor=op
        )
        initech = services.create_company(
            name="Initech Inc",  # unverified: its status says so, not its name
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
        seed_pools(clock)

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


@contextmanager
def clock(at):
    """Run the services as if it were ``at``: the sharing demo's history (shares
    that began days ago, late bills) is built by the services themselves, at
    past instants, so every row and ledger line is what they would have
    written then. Only this command does it, in its own process."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


class SharingDemo:
    """Equity asset sharing in the demo (SPEC §4), through sharing.services:
    Acme Main's savings plan shared with two accounts (one of them with a gap
    in its history), a reserved instance shared with the Engineering folder
    (resolved by the job), an SCU package, a coupon, an automatic rule and the
    savings plan it shared, and usage records whose deductions include a late
    bill for usage before the share began."""

    def __init__(self, now):
        self.now = now
        self.day = timedelta(days=1)

    def ago(self, days=0, hours=0, minutes=0):
        return self.now - timedelta(days=days, hours=hours, minutes=minutes)

    def seed(self):
        User = get_user_model()
        op = User.objects.get(username="operator")
        alice = User.objects.get(username="alice")
        main = Account.objects.get(uid=ACME_MAIN)
        dev = Account.objects.get(uid="1000000000000002")
        data = Account.objects.get(uid="1000000000000003")
        engineering = Folder.objects.get(company=main.company, name="Engineering")
        D = Decimal

        def provision(type, at, **fields):
            with clock(at):
                return sharing.provision_asset(
                    type=type,
                    owner=main,
                    valid_from=self.ago(days=30),
                    actor=op,
                    **fields,
                )

        start = self.ago(days=20)
        plan = provision(
            "savings_plan",
            start,
            valid_until=self.now + 335 * self.day,
            commitment_per_hour=D("10.00"),
        )
        reserved = provision(
            "reserved_instance",
            start,
            valid_until=self.now + 335 * self.day,
            products=["ecs"],
            instance_type="ecs.g7.large",
            region="cn-hangzhou",
            count=2,
        )
        scu = provision(
            "scu_package",
            start,
            valid_until=self.now + 150 * self.day,
            products=["oss", "nas"],
            capacity=D("500.00"),
        )
        provision(
            "coupon",
            start,
            valid_until=self.now + 60 * self.day,
            bill_types=["pay_as_you_go"],
            capacity=D("200.00"),
        )

        shared_at = self.ago(days=14)
        with clock(shared_at):
            sharing.share_with_accounts(asset=plan, accounts=[dev, data], actor=alice)
            sharing.share_with_accounts(asset=scu, accounts=[data], actor=alice)
            folder_share = sharing.share_with_folder(
                asset=reserved, folder=engineering, actor=alice
            )
        # The job that applies a folder share about a minute later.
        with clock(shared_at + timedelta(minutes=1, seconds=5)):
            sharing.resolve_share(folder_share.pk)
        # Acme Data's savings-plan share stopped for a while: history is kept.
        with clock(self.ago(days=9)):
            sharing.stop_share(asset=plan, account=data, actor=alice)
        with clock(self.ago(days=5)):
            sharing.share_with_accounts(asset=plan, accounts=[data], actor=alice)

        # An automatic rule, then a savings plan that it shares.
        with clock(self.ago(days=3, hours=6)):
            sharing.create_sharing_rule(
                owner=main,
                asset_types=["savings_plan"],
                accounts=[dev, data],
                actor=alice,
            )
        provisioned_at = self.ago(days=2)
        second_plan = provision(
            "savings_plan",
            provisioned_at,
            valid_until=self.now + 363 * self.day,
            commitment_per_hour=D("5.00"),
        )
        with clock(provisioned_at + timedelta(minutes=1, seconds=5)):
            for share in Share.objects.filter(asset=second_plan, rule__isnull=False):
                sharing.resolve_share(share.pk)

        def usage(external_id, account, amount, started, billed, **fields):
            with clock(billed):
                record_usage(
                    external_id=external_id,
                    account=account,
                    product=fields.pop("product", "ecs"),
                    bill_type="pay_as_you_go",
                    usage_start=started,
                    usage_end=started + timedelta(minutes=50),
                    amount=D(amount),
                    billed_at=billed,
                    actor=op,
                    **fields,
                )

        hour = self.now.replace(minute=0, second=0, microsecond=0)
        # A late bill: Acme Dev's usage before the savings plan was shared with
        # it gets nothing from the plan.
        usage(
            "demo-share-late",
            dev,
            "18.00",
            self.ago(days=15),
            self.ago(days=1),
        )
        three_days = hour - 3 * self.day + timedelta(minutes=5)
        usage(
            "demo-share-ri",
            dev,
            "12.00",
            three_days,
            three_days + timedelta(hours=1),
            instance_type="ecs.g7.large",
            region="cn-hangzhou",
            quantity=D("1"),
        )
        usage(
            "demo-share-plan",
            data,
            "25.00",
            three_days,
            three_days + timedelta(hours=1),
        )
        two_days = hour - 2 * self.day + timedelta(minutes=20)
        usage(
            "demo-share-scu",
            data,
            "40.00",
            two_days,
            two_days + timedelta(hours=1),
            product="oss",
        )
        yesterday = hour - self.day + timedelta(minutes=10)
        usage(
            "demo-share-owner",
            main,
            "30.00",
            yesterday,
            yesterday + timedelta(hours=1),
        )
        usage(
            "demo-share-hour-used",
            dev,
            "8.00",
            yesterday + timedelta(minutes=5),
            yesterday + timedelta(hours=1),
        )
