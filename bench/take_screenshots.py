"""`make screenshots`: regenerate docs/screenshots/ in English and Chinese.

For each language a throwaway portal is started (`launcher run`: embedded
PostgreSQL in a temporary folder, a free port, fresh demo data, web server and
worker), bench/screenshots.py takes every group in that language (Chinese
files are named zh-*.png), and the portal is stopped and its data deleted.
A fresh portal per language because the screenshots act on the demo data
(they set a credit limit, confirm its contract, request and grant access).

    .venv/bin/python bench/take_screenshots.py [group ...]
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["en", "zh-hans"]
READY = "Background worker running"
START_TIMEOUT = 600  # seconds: first start of PostgreSQL, migrations, demo data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Portal:
    """`launcher run` on its own data folder and port, until stop()."""

    def __init__(self, lang: str):
        self.lang = lang
        self.data = Path(tempfile.mkdtemp(prefix="screenshots-pg-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EMBEDDED_PGDATA": str(self.data), "PORT": str(self.port)}
        # DEBUG off: the portal's own 404 page, as customers see it (the
        # actions group), not Django's technical one.
        env["DEBUG"] = "False"
        env.pop("DATABASE_URL", None)  # never a real server: a throwaway one
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billing_portal.launcher", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.process.stdout:
            print(f"[portal {self.lang}] {line}", end="", flush=True)
            if READY in line:
                self.ready.set()

    def wait(self):
        if not self.ready.wait(START_TIMEOUT) or self.process.poll() is not None:
            raise SystemExit(f"The portal did not start (see above); data {self.data}")
        with urllib.request.urlopen(f"{self.url}/admin/login/", timeout=30) as answer:
            assert answer.status == 200, answer.status

    def stop(self):
        if self.process.poll() is None:
            # The launcher stops its web server, worker and PostgreSQL on SIGTERM.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def main(groups: list[str]) -> int:
    for lang in LANGUAGES:
        portal = Portal(lang)
        try:
            portal.wait()
            script = ROOT / "bench" / "screenshots.py"
            command = [sys.executable, str(script), portal.url, *groups]
            result = subprocess.run([*command, "--lang", lang], cwd=ROOT)
        finally:
            portal.stop()
        if result.returncode:
            print(f"Screenshots in {lang} failed.", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
