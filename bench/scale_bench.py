"""The admin and the API at two sizes: queries and time per page, and the ratio.

    make bench BENCH=scale_bench.py

Each size is a throwaway database loaded by ``seed_scale`` (small:
SMALL_ACCOUNTS accounts and SMALL_LINES ledger lines; large: LARGE_ACCOUNTS and
LARGE_LINES; by default 10,000 / 100,000 and 100,000 / 1,000,000). Every page
is requested ROUNDS times as the customer who owns every account
(``scale-owner``) and as an operator, the two sizes alternating round by round;
the median time is reported with the number of SQL statements, and the large
size as a ratio to the small one. Then each size's ledger CSV (time to its
first row) and ``check_ledger`` (time, peak of Python's allocations).
Targets (issue 9): at most 12 queries per page and at most 1.5x the time.
"""

import io
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings.test")
os.environ.setdefault("TEST_DB_NAME", "bench_scale")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Account, TransferPair  # noqa: E402
from billing_portal.rest import encode_cursor  # noqa: E402

SIZES = [
    (
        int(os.environ.get("SMALL_ACCOUNTS", "10000")),
        int(os.environ.get("SMALL_LINES", "100000")),
    ),
    (
        int(os.environ.get("LARGE_ACCOUNTS", "100000")),
        int(os.environ.get("LARGE_LINES", "1000000")),
    ),
]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "2000"))


def _deep_pages() -> list[tuple[str, str, str, str]]:
    """The API's account list 90% of the way down, 500 a page: by number
    (``OFFSET``) and by cursor (keyset), with the labels they are reported as."""
    count = Account.objects.count()
    page = max(1, int(count * 0.9) // 500)
    after = (
        Account.objects.order_by("id").values_list("id", flat=True)[(page - 1) * 500]
        if page > 1
        else 0
    )
    cursor = encode_cursor(page, [str(after)])
    return [
        (
            "owner",
            "GET",
            f"/api/v1/accounts/?page={page}&page_size=500",
            "/api/v1/accounts/ 90% down by page number",
        ),
        (
            "owner",
            "GET",
            f"/api/v1/accounts/?cursor={cursor}&page_size=500",
            "/api/v1/accounts/ 90% down by cursor",
        ),
    ]


def pages(source: Account, destination: Account) -> list[tuple[str, str, str]]:
    """(who, method, url) of every page measured."""
    a = source.pk
    return [
        ("owner", "GET", "/admin/accounts/account/"),
        ("owner", "GET", f"/admin/accounts/account/{a}/change/"),
        ("owner", "GET", f"/admin/accounts/posting/?account={a}"),
        ("owner", "GET", "/admin/accounts/posting/"),
        ("owner", "GET", f"/admin/accounts/account/{a}/transfer/targets/?term=Scale"),
        ("owner", "GET", "/admin/accounts/financialrelationship/"),
        ("owner", "GET", "/admin/accounts/folder/"),
        ("operator", "GET", "/admin/accounts/account/"),
        ("operator", "GET", "/admin/accounts/movement/"),
        ("operator", "GET", "/admin/accounts/charge/"),
        ("operator", "GET", "/admin/accounts/transferpair/"),
        ("operator", "GET", "/admin/accounts/accountaccess/"),
        ("owner", "GET", "/api/v1/accounts/"),
        ("owner", "GET", f"/api/v1/accounts/{a}/"),
        ("owner", "GET", f"/api/v1/accounts/{a}/ledger/"),
        ("owner", "GET", "/api/v1/transfers/"),
        ("owner", "POST", "/api/v1/transfers/"),
    ]


def _use(name: str) -> None:
    """Point the default connection at database ``name`` (closed, reopened on
    the next query)."""
    connections.close_all()
    connection.settings_dict["NAME"] = name


def load(name: str, template: str, size) -> float:
    """A copy of the migrated empty database, loaded by ``seed_scale``."""
    accounts, lines = size
    _use("postgres")  # not connected to the template: it is being copied
    with connection.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    _use(name)
    started = time.monotonic()
    call_command(
        "seed_scale",
        "--accounts",
        str(accounts),
        "--lines",
        str(lines),
        "--pairs",
        str(PAIRS),
        "--no-check",
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    return time.monotonic() - started


class World:
    """One loaded database and its signed-in clients."""

    def __init__(self, name: str):
        self.name = name
        _use(name)
        users = get_user_model().objects
        self.browser = {"owner": Client(), "operator": Client()}
        self.browser["owner"].force_login(users.get(username="scale-owner"))
        self.browser["operator"].force_login(users.get(username="scale-operator"))
        self.api = APIClient()
        self.api.force_authenticate(users.get(username="scale-owner"))
        self.source = Account.objects.get(
            pk=TransferPair.objects.values_list("source", flat=True).first()
        )
        self.destination = Account.objects.exclude(pk=self.source.pk).filter(
            company=self.source.company
        )[0]
        self.deep = _deep_pages()
        self.times: dict = {}
        self.queries: dict = {}

    def round(self) -> None:
        """Every page once."""
        _use(self.name)
        deep = {url: label for _who, _m, url, label in self.deep}
        for who, method, url in [
            *pages(self.source, self.destination),
            *((w, m, u) for w, m, u, _label in self.deep),
        ]:
            client = self.api if url.startswith("/api/") else self.browser[who]
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                if method == "POST":
                    response = client.post(
                        url,
                        {
                            "source": self.source.pk,
                            "destination": self.destination.pk,
                            "amount": "0.01",
                        },
                        format="json",
                    )
                else:
                    response = client.get(url)
                if hasattr(response, "streaming_content"):
                    b"".join(response.streaming_content)
                elapsed = time.perf_counter() - start
            label = deep.get(url) or url.replace(
                f"/{self.source.pk}/", "/{id}/"
            ).replace(f"={self.source.pk}", "={id}")
            key = (who, method, label)
            self.times.setdefault(key, []).append(elapsed)
            self.queries[key] = (len(captured), response.status_code)


def export_first_row(client) -> tuple[float, float, int]:
    """The ledger CSV of every visible line: seconds to its first data row,
    seconds to the last, and the number of rows (target: first row < 1 s)."""
    start = time.perf_counter()
    chunks = iter(client.get("/admin/accounts/posting/export/").streaming_content)
    rows, first = 0, None
    for chunk in chunks:
        rows += chunk.count(b"\n")
        if first is None and rows >= 2:  # the header and one line
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, rows - 1


def time_check_ledger() -> tuple[float, float]:
    """check_ledger: seconds and the peak of Python's allocations in MiB."""
    tracemalloc.start()
    start = time.perf_counter()
    call_command("check_ledger", stdout=io.StringIO())
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def main() -> None:
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    template = connection.settings_dict["NAME"]
    names = [f"{template}_small", f"{template}_large"]
    try:
        loaded = [
            load(name, template, size) for name, size in zip(names, SIZES, strict=True)
        ]
        small, large = (World(name) for name in names)
        # Alternate the two sizes, round after round (small first, then large
        # first): the machine's noise falls on both alike; medians are kept.
        for n in range(ROUNDS):
            for world in (small, large) if n % 2 == 0 else (large, small):
                world.round()
        extras = {}
        for world in (small, large):
            _use(world.name)
            extras[world.name] = (
                export_first_row(world.browser["owner"]),
                time_check_ledger(),
            )
        report(loaded, small, large, extras)
    finally:
        _use("postgres")
        with connection.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        _use(template)
        connections.close_all()
        teardown_databases(old, verbosity=0)


def report(loaded, small, large, extras) -> None:
    print(
        f"{time.strftime('%Y-%m-%d')} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; small {SIZES[0]} loaded in"
        f" {loaded[0]:.0f} s, large {SIZES[1]} in {loaded[1]:.0f} s;"
        f" {ROUNDS} alternated rounds, medians"
    )
    print("| who | page | status | queries small/large | ms small | ms large | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, times in small.times.items():
        who, method, url = key
        t_small = statistics.median(times)
        t_large = statistics.median(large.times[key])
        (q_small, status), (q_large, status_large) = (
            small.queries[key],
            large.queries[key],
        )
        print(
            f"| {who} | {method} {url} | {status}/{status_large} | {q_small}/{q_large}"
            f" | {t_small * 1000:.0f} | {t_large * 1000:.0f}"
            f" | {t_large / t_small:.2f} |"
        )
    for label, world in (("small", small), ("large", large)):
        (first, whole, rows), (seconds, peak) = extras[world.name]
        print(
            f"{label}: ledger CSV of {rows} lines: first row {first * 1000:.0f} ms,"
            f" all {whole:.1f} s; check_ledger {seconds:.1f} s, peak {peak:.1f} MiB"
        )


if __name__ == "__main__":
    main()
