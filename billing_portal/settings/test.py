"""Test settings: real PostgreSQL (embedded by default), fast hashing."""

from .base import *  # noqa: F403
from .base import DATABASES, env

# Separate names let several test runs share one server at once.
DATABASES["default"]["TEST"] = {
    "NAME": env("TEST_DB_NAME", default="test_billing_portal")
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# live_server cannot serve WhiteNoise's hashed names; plain storage in tests.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Serve static files from the apps' folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

SMS_SENDER = "billing_portal.sms.MemorySender"
# Tests and benchmarks (bench/ runs on these settings) send many money calls a
# minute as one user: the throttle still counts, at a rate they never reach;
# the throttle's test sets its own.
API_THROTTLE_RATES = dict.fromkeys(API_THROTTLE_RATES, "100000/minute")  # noqa: F405
# Unit tests run tasks at once; the worker test switches to the database backend.
TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default"],
    }
}

# A holder type that only the tests define (tests/accounts/test_ledger_registry.py);
# it has no migrations, so the test database creates its table directly.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.ledger_app.apps.LedgerTestAppConfig"]  # noqa: F405
