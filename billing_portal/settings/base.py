"""Settings shared by every environment; what varies comes from the environment."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the portal's site (billing_portal.admin_site).
    "billing_portal.admin_config.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "simple_history",
    "axes",
    "billing_portal",
    "accounts",
    "sharing",
    "coupons",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request's user authors the change history (billing_portal.history).
    "simple_history.middleware.HistoryRequestMiddleware",
    "billing_portal.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (billing_portal.lockout).
    "axes.middleware.AxesMiddleware",
]

# Login lockout (django-axes): failures counted per username and address
# together, the lock lifts by itself after the cool-off, a success resets the
# count. The admin login and POST /api/v1/auth/token/ both authenticate through
# these backends, so both count and both refuse while locked.
AUTHENTICATION_BACKENDS = [
    "billing_portal.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("LOGIN_LOCKOUT_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked do not extend the lock: it ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "billing_portal.lockout.lockout_response"
AXES_VERBOSE = False  # no banner on every command; lockouts are still logged
# Behind N reverse proxies REMOTE_ADDR is the nearest proxy: the client is the
# N-th address from the right of X-Forwarded-For (0: REMOTE_ADDR itself).
AXES_CLIENT_IP_CALLABLE = "billing_portal.lockout.client_ip"
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

ROOT_URLCONF = "billing_portal.urls"
WSGI_APPLICATION = "billing_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only. `make run` / `make test` start an embedded server and set
# DATABASE_URL when it is unset (billing_portal/launcher.py).
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections (a new one per request cost a third of the API's
# throughput), checked before reuse so a restarted server is noticed.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
# The portal shows times in each person's zone (UserPreference); this is the
# zone of a person who never chose one. The API always answers in UTC.
DEFAULT_USER_TIME_ZONE = env("DEFAULT_USER_TIME_ZONE", default="UTC")
# One date format in both languages: 2026-12-01 00:30 CST.
FORMAT_MODULE_PATH = ["billing_portal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    # Token first: an unauthenticated request gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "billing_portal.rest.Pagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's AutoSchema, plus every operation's error bodies.
    "DEFAULT_SCHEMA_CLASS": "billing_portal.schema.ApiSchema",
    "EXCEPTION_HANDLER": "billing_portal.api.exception_handler",
    # Amounts are strings on the wire; never a float.
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_PARSER_CLASSES": ["billing_portal.rest.ExactJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Billing portal API",
    "DESCRIPTION": "Account sharing finance: fund accounts, transfers, "
    "revocations, settlement, equity asset sharing, usage and deductions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.Account.Status",
        "ContractStatusEnum": "accounts.models.Contract.Status",
        "RelationshipStatusEnum": "accounts.models.FinancialRelationship.Status",
        "AccessRequestStatusEnum": "accounts.models.AccessRequest.Status",
        "NotificationStatusEnum": "billing_portal.models.Notification.Status",
        "PoolStatusEnum": "coupons.models.CreditPool.Status",
        # The relationship type kept its name when assets brought another "type".
        "TypeEnum": "accounts.models.FinancialRelationship.Type",
        "AssetTypeEnum": "sharing.models.Asset.Type",
        "AssetStatusEnum": "sharing.models.Asset.Status",
        "BillTypeEnum": "sharing.models.UsageRecord.BillType",
        "ShareStatusEnum": "sharing.models.Share.Status",
        "ShareTargetEnum": "sharing.models.Share.Target",
        # Why an asset did not deduct a usage record (its keys are the codes).
        "SkipReasonEnum": "sharing.deduction.SKIP_MESSAGES",
        "CreditLimitStatusEnum": [
            ("pending_contract", "pending_contract"),
            ("active", "active"),
        ],
        # The revocable terms (accounts.selectors.REVOCABLE_TERMS), SPEC §3.3.
        "RevocableTermEnum": [
            ("unspent_transferred_in", "unspent_transferred_in"),
            ("remaining_revocable", "remaining_revocable"),
            ("available_balance", "available_balance"),
        ],
    },
}

TASKS = {
    "default": {
        "BACKEND": env("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

LOGIN_URL = "admin:login"

# Notifications (SPEC §7): the SMS sender, retries, the periodic sweep.
SMS_SENDER = env("SMS_SENDER", default="billing_portal.sms.ConsoleSender")
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=10)
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=60)
#: Jobs the periodic sweep runs, name -> dotted path of a function without
#: arguments returning a count (django-tasks-db has no scheduler of its own).
PERIODIC_JOBS = {
    "settled": "accounts.services.settle_all",
    "assets_expired": "sharing.services.expire_assets",
    "shares_resolved": "sharing.tasks.resolve_due_shares",
    "pools_expired": "coupons.services.expire_pools",
}
# Equity asset sharing (SPEC §4): the deduction order (one deductor per asset
# type) and extra rules other apps add, as dotted paths; how long after a
# change the worker resolves folder and automatic shares.
SHARING_DEDUCTORS = [
    "sharing.deduction.ReservedInstances",
    "sharing.deduction.ScuPackages",
    "sharing.deduction.SavingsPlans",
    "sharing.deduction.Coupons",
]
SHARING_DEDUCTION_RULES = ["coupons.rules.payment_relationship"]
SHARING_RESOLVE_DELAY_SECONDS = env.int("SHARING_RESOLVE_DELAY_SECONDS", default=60)
# Sections other apps add to the Contracts view (SPEC §6), as dotted paths of
# callables (request) -> {"template": ..., "context": ...} or None; the accounts
# app renders them without importing those apps.
CONTRACTS_VIEW_SECTIONS = ["coupons.admin.contracts_section"]
# Panels other apps add to the account page of the accounts admin (which
# imports no other app): dotted paths of callables (account, user) returning
# {"title", "template", "context"} (and optionally "id"), or None.
ACCOUNT_PAGE_PANELS = [
    "accounts.admin.panels.balance_history_panel",
    "sharing.admin.panels.benefits_panel",
]
# The home page (billing_portal.admin_site), which imports no app: each app
# names what waits for a user in its part of the portal, as callables (user)
# returning billing_portal.admin_site.Attention items (counts from the apps'
# selectors, links to the filtered lists), and panels as callables (request)
# returning {"id", "title", "template", "context"} or None.
ADMIN_HOME_ATTENTION = [
    "billing_portal.admin.attention",
    "accounts.admin.home.attention",
    "sharing.admin.home.attention",
    "coupons.admin.home.attention",
]
ADMIN_HOME_PANELS = ["accounts.admin.home.balances_panel"]
ALIYUN_ACCESS_KEY_ID = env("ALIYUN_ACCESS_KEY_ID", default="")
ALIYUN_ACCESS_KEY_SECRET = env("ALIYUN_ACCESS_KEY_SECRET", default="")
ALIYUN_SMS_SIGN_NAME = env("ALIYUN_SMS_SIGN_NAME", default="")
ALIYUN_SMS_TEMPLATES = env.json("ALIYUN_SMS_TEMPLATES", default={})
ALIYUN_SMS_ENDPOINT = env("ALIYUN_SMS_ENDPOINT", default="dysmsapi.aliyuncs.com")
# Version of the credit control terms a customer accepts with a contract.
CREDIT_CONTROL_TERMS_VERSION = env("CREDIT_CONTROL_TERMS_VERSION", default="2026-11")

# Per-user rates of the money-moving API calls (billing_portal.api.
# MoneyRateThrottle), one budget per kind; THROTTLE_RATE for all of them,
# THROTTLE_RATES ("usage=6000/minute,transfers=300/minute") for some.
_THROTTLE_RATE = env("THROTTLE_RATE", default="600/minute")
API_THROTTLE_RATES = dict.fromkeys(
    ("transfers", "revocations", "top_ups", "usage", "coupons", "shares"),
    _THROTTLE_RATE,
) | env.dict("THROTTLE_RATES", default={})
# The throttle's counts; a shared cache (e.g. CACHE_URL=dbcache://api_cache
# after `manage.py createcachetable`) makes them per user across processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# Idempotency keys are kept at least this long (SPEC §8: at least 24 hours).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=48)

# Money-moving services retry serialization failures and deadlocks this often.
SERVICE_TRANSACTION_RETRIES = env.int("SERVICE_TRANSACTION_RETRIES", default=5)

# §3.5 thresholds (used by credit control); per currency.
ACCOUNTS_RECEIVABLE_THRESHOLD = {
    "CNY": Decimal(env("AR_THRESHOLD_CNY", default="10000.00")),
    "USD": Decimal(env("AR_THRESHOLD_USD", default="1500.00")),
}
LONG_OVERDUE_DAYS = env.int("LONG_OVERDUE_DAYS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
