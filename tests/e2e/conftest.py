"""Browser tests: Playwright driving the system Chromium against ``live_server``.

Never ``playwright install`` here (downloads are blocked): Debian's Chromium at
/usr/bin/chromium (``apt-get install -y chromium``) is launched instead.
"""

import os

# Playwright's sync API runs an event loop in this thread; without this,
# pytest-django's fixtures fail with SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest

from tests.accounts.conftest_admin import portal_fixture  # noqa: F401 (fixture)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }
