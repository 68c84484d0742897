"""Load data at scale for measuring the admin and the API (``bench/``).

    python -m billing_portal.launcher manage seed_scale --accounts 100000

Builds, through the set-wise paths that keep check_ledger clean: a verified
company with ``--accounts`` accounts (one customer, ``scale-owner``, owns them
all, so "what this user can see" is that large), a small second company (for
isolation), one top-up per account, usage charges until the ledger holds about
``--lines`` lines, and ``--pairs`` transfers from one account to as many
others (a page with many transfer pairs). Then it runs check_ledger. Loads
once: run it on a fresh database (it refuses if the company exists).
"""

import random
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from accounts import services
from accounts.ledger import find_discrepancies
from accounts.models import Account, AccountAccess, Company, Posting
from billing_portal import roles

REGISTRATION = "SCALE-0001"
PASSWORD = "scale-pass-123"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--lines", type=int, default=1_000_000)
        parser.add_argument("--pairs", type=int, default=2_000)
        parser.add_argument("--no-check", action="store_true")

    def handle(self, *args, accounts, lines, pairs, no_check, **options):
        if Company.objects.filter(registration_number=REGISTRATION).exists():
            raise CommandError("scale data is already loaded in this database")
        started = time.monotonic()
        operator = self.user("scale-operator", roles.OPERATORS)
        owner = self.user("scale-owner", None)
        company = services.create_company(
            name="Scale Corp", registration_number=REGISTRATION, actor=operator
        )
        services.verify_company(company=company, actor=operator)
        other = services.create_company(
            name="Scale Other", registration_number="SCALE-0002", actor=operator
        )
        services.verify_company(company=other, actor=operator)
        ids = self.accounts(company, accounts, prefix=5)
        self.accounts(other, 10, prefix=4)
        self.grant_all(owner, ids, operator)
        self.progress("accounts", started)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE scale_top_ups ON COMMIT DROP AS"
                " SELECT id AS row_id, id AS account_id,"
                " (1000 + id %% 9000)::numeric(15, 2) AS amount"
                " FROM accounts_account WHERE company_id = %s",
                [company.pk],
            )
            services.top_up_batch(table="scale_top_ups", actor=operator)
        self.progress("top-ups", started)
        charges = max(0, (lines - Posting.objects.count()) // 2)
        chunk = 100_000
        for offset in range(0, charges, chunk):
            with transaction.atomic():
                services.create_batch_table("scale_usage")
                with connection.cursor() as cur:
                    cur.execute(
                        "INSERT INTO scale_usage (row_id, usage_account_id,"
                        " currency, amount, net, effective_at, memo)"
                        " SELECT g,"
                        " (%s::bigint[])[(1 + (g::bigint * 7919) %% %s)::int],"
                        " 'CNY',"
                        " 0.01 * (1 + g %% 5000), 0.01 * (1 + g %% 5000),"
                        " now() - make_interval(secs => g), 'usage scale'"
                        " FROM generate_series(%s, %s) g",
                        [ids, len(ids), offset + 1, min(offset + chunk, charges)],
                    )
                services.assign_payers(table="scale_usage")
                services.charge_usage_batch(table="scale_usage", actor=operator)
            self.progress(f"usage charges {min(offset + chunk, charges)}", started)
        rng = random.Random(5)
        source = Account.objects.get(pk=ids[0])
        services.top_up(account=source, amount=Decimal(pairs), actor=operator)
        for destination in rng.sample(ids[1:], min(pairs, len(ids) - 1)):
            services.transfer_balance(
                source=source,
                destination=Account(pk=destination),
                amount=Decimal("1.00"),
                actor=operator,
            )
        self.progress(f"{pairs} transfer pairs from {source.uid}", started)
        # A bulk load leaves its statistics, as pg_restore advises: without
        # them the planner guesses until autovacuum's analyze comes by, and
        # pages measured right after the load show the guess, not the data.
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        self.progress("statistics (ANALYZE)", started)
        self.stdout.write(
            f"{Account.objects.count()} accounts, {Posting.objects.count()} ledger "
            f"lines; log in as scale-owner / {PASSWORD}"
        )
        if not no_check:
            problems = find_discrepancies()
            self.progress(f"check_ledger: {len(problems)} problems", started)
            if problems:
                raise CommandError("\n".join(problems[:20]))

    def user(self, username, group):
        user = get_user_model().objects.create_user(
            username=username, password=PASSWORD, is_staff=True
        )
        if group:
            user.groups.add(roles.ensure_groups()[group])
        return user

    def accounts(self, company, count, *, prefix):
        root = company.folders.get(parent__isnull=True)
        rows = Account.objects.bulk_create(
            (
                Account(
                    uid=f"{prefix}{n:015d}",
                    name=f"{company.name} {n}",
                    company=company,
                    currency="CNY",
                    folder=root,
                )
                for n in range(count)
            ),
            batch_size=5000,
        )
        return [a.pk for a in rows]

    def grant_all(self, user, account_ids, operator):
        """Owner access in bulk (no money involved; ``grant_access`` would write
        an audit row per account)."""
        AccountAccess.objects.bulk_create(
            (
                AccountAccess(
                    user=user,
                    account_id=pk,
                    permission=AccountAccess.Permission.OWNER,
                    granted_by=operator,
                )
                for pk in account_ids
            ),
            batch_size=5000,
        )

    def progress(self, what, started):
        self.stdout.write(f"{time.monotonic() - started:7.1f} s  {what}")
