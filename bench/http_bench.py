"""``POST /api/v1/transfers/`` over HTTP under gunicorn against raw-SQL transfers.

    make bench BENCH=http_bench.py

A throwaway database with ACCOUNTS accounts of one verified company. The API
runs under gunicorn (WORKERS sync workers, DEBUG off, persistent database
connections as configured by default) on 127.0.0.1; CLIENTS client threads
send transfers between random accounts with an operator's token. The
baseline, measured in the same run and alternated with it, is the raw-SQL
transfer of ``transfer_bench.py`` from PROCS processes. Reported: requests per
second, p50/p99 latency, errors (anything but 201), and the ratio.
"""

import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TEST_DB_NAME", "bench_http")

import transfer_bench
from django.conf import settings
from django.db import connection, connections
from django.test.utils import (
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from rest_framework.authtoken.models import Token

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100"))  # per client per round
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def database_url() -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"] or db["OPTIONS"].get("host", "")
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={host}"


def start_gunicorn() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_portal.settings.dev",
        "DEBUG": "False",
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "billing_portal.wsgi",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request(
                "GET", "/api/v1/"
            )
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def http_round(token: str, ids: list[int], seed: int) -> tuple[float, list, int]:
    """(requests per second, latencies, errors) of CLIENTS threads."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed * 100 + n)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine = []
        for _ in range(REQUESTS):
            source, destination = rng.sample(ids, 2)
            body = json.dumps(
                {"source": source, "destination": destination, "amount": "0.01"}
            )
            start = time.perf_counter()
            closing = False
            try:
                conn.request(
                    "POST",
                    "/api/v1/transfers/",
                    body,
                    {
                        "Authorization": f"Token {token}",
                        "Content-Type": "application/json",
                        "Host": "127.0.0.1",
                    },
                )
                response = conn.getresponse()
                response.read()
                ok = response.status == 201
                closing = response.getheader("Connection", "").lower() == "close"
            except OSError:
                ok = closing = False
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            if closing:  # gunicorn's sync workers close after each response
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            mine.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return CLIENTS * REQUESTS / elapsed, latencies, errors[0]


def main() -> None:
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    server = None
    try:
        from django.contrib.auth import get_user_model

        from accounts import services
        from billing_portal import roles

        op = get_user_model().objects.create_user("http-op", password="x" * 12)
        op.groups.add(roles.ensure_groups()[roles.OPERATORS])
        token = Token.objects.create(user=op).key
        company = services.create_company(
            name="Http", registration_number="BENCH-H", actor=op
        )
        services.verify_company(company=company, actor=op)
        ids = []
        for i in range(transfer_bench.ACCOUNTS):
            account = services.create_account(
                uid=f"{8200000000000000 + i}",
                name=f"H{i}",
                company=company,
                currency="CNY",
                actor=op,
            )
            services.top_up(
                account=account, amount=transfer_bench.Decimal("1000000.00"), actor=op
            )
            ids.append(account.pk)
        connections.close_all()
        server = start_gunicorn()
        raw, api, p50s, p99s, errors = [], [], [], [], 0
        for r in range(ROUNDS):
            raw.append(
                transfer_bench.throughput(
                    "raw", "spread", transfer_bench.PROCS, ids, op.pk, r
                )
            )
            rate, latencies, failed = http_round(token, ids, r)
            api.append(rate)
            errors += failed
            latencies.sort()
            p50s.append(latencies[len(latencies) // 2])
            p99s.append(latencies[int(len(latencies) * 0.99)])
        r_med, a_med = statistics.median(raw), statistics.median(api)
        print(
            f"{time.strftime('%Y-%m-%d')} {platform.machine()} {os.cpu_count()} cores,"
            f" Python {platform.python_version()}, PostgreSQL {connection.pg_version};"
            f" {len(ids)} accounts, gunicorn -w {WORKERS}, {CLIENTS} clients x"
            f" {REQUESTS} requests, {ROUNDS} rounds; CONN_MAX_AGE="
            f"{settings.DATABASES['default']['CONN_MAX_AGE']}"
        )
        print("| path | per second | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|")
        print(
            f"| raw SQL transfer, {transfer_bench.PROCS} processes | {r_med:.0f} |"
            " | | |"
        )
        print(
            f"| POST /api/v1/transfers/ over HTTP | {a_med:.0f} |"
            f" {statistics.median(p50s) * 1000:.0f} |"
            f" {statistics.median(p99s) * 1000:.0f} | {errors} |"
        )
        print(f"\nratio API/raw: {a_med / r_med:.3f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        connections.close_all()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
