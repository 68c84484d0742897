"""Crash safety: kill -9 a transfer loop and a bill-run import at random moments.

    make bench BENCH=crash.py            (CRASH_KILLS=100 by default)

A throwaway database (``bench_crash``) on the same server. Each round starts a
worker process and kills it with SIGKILL after a random delay:

- *transfers*: a loop of ``POST /transfers/`` (in-process API client) between
  random accounts, each with an ``Idempotency-Key`` written to a journal file
  before it is sent; after each kill the next worker first re-sends the last
  journaled key with the same body (as a client retrying after a timeout would);
- *bill run*: ``import_usage`` of one file in small chunks; each round starts it
  again from the top.

Afterwards the import is run to completion, and it checks: check_ledger finds
nothing; money is conserved (cash of all accounts unchanged by transfers); every
transfer movement belongs to exactly one idempotency key and no key has two
movements; every usage external id was priced exactly once and the accounts'
uncleared total equals the file's total.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings.dev")

KILLS = int(os.environ.get("CRASH_KILLS", "100"))
ACCOUNTS = 20
RECORDS = int(os.environ.get("CRASH_RECORDS", "20000"))
WORK = ROOT / ".pgdata" / "crash"  # ignored by git
DB_NAME = "bench_crash"


def database_url() -> str:
    base = urlsplit(os.environ["DATABASE_URL"])  # the launcher's, or yours
    return urlunsplit(base._replace(path="/" + DB_NAME))


def setup() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    run_child("setup")


def run_child(role: str, *, background: bool = False):
    env = {**os.environ, "DATABASE_URL": database_url(), "CRASH_ROLE": role}
    cmd = [sys.executable, __file__, "--child"]
    if background:
        return subprocess.Popen(cmd, env=env, cwd=ROOT)
    subprocess.run(cmd, env=env, cwd=ROOT, check=True)
    return None


# --- inside the child processes ---------------------------------------------------


def child() -> None:
    import django

    django.setup()
    role = os.environ["CRASH_ROLE"]
    {"setup": child_setup, "transfers": child_transfers, "import": child_import}[role]()


def child_setup() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts import services
    from billing_portal import roles

    call_command("migrate", verbosity=0)
    op = get_user_model().objects.create_user("crash-op", password="x" * 12)
    op.groups.add(roles.ensure_groups()[roles.OPERATORS])
    company = services.create_company(
        name="Crash", registration_number="CRASH", actor=op
    )
    services.verify_company(company=company, actor=op)
    rng = random.Random(3)
    with (WORK / "usage.csv").open("w") as out:
        out.write(
            "external_id,account,product,bill_type,usage_start,usage_end,amount,"
            "billed_at\n"
        )
        ids = []
        for i in range(ACCOUNTS):
            account = services.create_account(
                uid=f"{6000000000000000 + i}",
                name=f"C{i}",
                company=company,
                currency="CNY",
                actor=op,
            )
            services.top_up(account=account, amount=Decimal("100000.00"), actor=op)
            ids.append(account.pk)
        total = Decimal(0)
        for n in range(RECORDS):
            cents = rng.randrange(1, 1000)
            total += Decimal(cents) / 100
            out.write(
                f"x-{n},{rng.choice(ids)},oss,pay_as_you_go,2026-10-01T00:00:00Z,"
                f"2026-10-01T01:00:00Z,{cents // 100}.{cents % 100:02d},"
                "2026-10-02T00:00:00Z\n"
            )
    (WORK / "state.json").write_text(json.dumps({"file_total": str(total)}))


def child_transfers() -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from accounts.models import Account

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.force_authenticate(get_user_model().objects.get(username="crash-op"))
    ids = list(Account.objects.values_list("pk", flat=True))
    journal = WORK / "journal.jsonl"
    lines = journal.read_text().splitlines() if journal.exists() else []
    if lines:  # the client retries its last request after the crash
        last = json.loads(lines[-1])
        send(client, last)
    rng = random.Random()
    with journal.open("a") as out:
        for n in range(10**6):
            source, destination = rng.sample(ids, 2)
            request = {
                "key": f"k-{os.getpid()}-{n}",
                "body": {
                    "source": source,
                    "destination": destination,
                    "amount": f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}",
                },
            }
            out.write(json.dumps(request) + "\n")
            out.flush()
            os.fsync(out.fileno())
            send(client, request)


def send(client, request) -> None:
    response = client.post(
        "/api/v1/transfers/",
        request["body"],
        format="json",
        HTTP_IDEMPOTENCY_KEY=request["key"],
    )
    if response.status_code not in (201, 409):
        raise SystemExit(f"unexpected {response.status_code}: {response.content[:300]}")


def child_import() -> None:
    from sharing.bill_run import import_usage

    with (WORK / "usage.csv").open() as stream:
        import_usage(stream, fmt="csv", source="crash", chunk_size=500)


def check() -> list[str]:
    from django.db.models import Count, Sum

    from accounts.ledger import find_discrepancies
    from accounts.models import Account, Movement
    from billing_portal.models import IdempotencyRecord
    from sharing.models import UsageRecord

    state = json.loads((WORK / "state.json").read_text())
    problems = list(find_discrepancies())
    sums = Account.objects.aggregate(
        own=Sum("own_cash"), received=Sum("transferred_in_balance")
    )
    # Settlement never runs here, so transfers alone move cash: it is conserved.
    cash = sums["own"] + sums["received"]
    if cash != Decimal("100000.00") * ACCOUNTS:
        problems.append(f"cash {cash} != {Decimal('100000.00') * ACCOUNTS}")
    transfers = Movement.objects.filter(kind="transfer").count()
    keyed = IdempotencyRecord.objects.filter(response_status=201).count()
    if not transfers:
        problems.append("no transfer was made: the loop never ran")
    if transfers != keyed:
        problems.append(f"{transfers} transfer movements for {keyed} keys")
    ids = [
        r["response_body"]["id"]
        for r in IdempotencyRecord.objects.filter(response_status=201).values(
            "response_body"
        )
    ]
    if len(set(ids)) != len(ids):
        problems.append("two keys answered with the same movement")
    twice = (
        UsageRecord.objects.values("external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if twice or UsageRecord.objects.count() != RECORDS:
        problems.append(
            f"usage records: {UsageRecord.objects.count()} of {RECORDS}, "
            f"{twice} priced twice"
        )
    uncleared = Account.objects.aggregate(s=Sum("uncleared_amount"))["s"]
    if uncleared != Decimal(state["file_total"]):
        problems.append(f"uncleared {uncleared} != file total {state['file_total']}")
    print(
        f"transfers: {transfers} movements, {keyed} keys answered 201; usage "
        f"records: {UsageRecord.objects.count()}; uncleared {uncleared}"
    )
    return problems


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    for name in ("journal.jsonl", "usage.csv", "state.json"):
        (WORK / name).unlink(missing_ok=True)
    setup()
    rng = random.Random(11)
    started = time.monotonic()
    for round_no in range(KILLS):
        role = "transfers" if round_no % 2 == 0 else "import"
        process = run_child(role, background=True)
        # Django's start takes ~1 s; kill somewhere in the work after it.
        time.sleep(rng.uniform(1.2, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if (round_no + 1) % 10 == 0:
            print(f"{round_no + 1} kills", flush=True)
    run_child("import")  # to completion: the crashes lost nothing
    os.environ["DATABASE_URL"] = database_url()
    import django

    django.setup()
    problems = check()
    print(
        f"{KILLS} kill -9 in {time.monotonic() - started:.0f} s:"
        f" {problems or 'no problem found'}"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
