"""Settings come from the environment only (12-factor); defaults are the embedded demo shape."""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The embedded default key is for the demo only; production must set DJANGO_SECRET_KEY.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="conduit-demo-only-insecure-key")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "core",
    "catalog",
    "integrations",
    "inventory",
    "orders",
    "fulfilment",
    "returns",
    "finance",
    "dashboard",
    "desk",
    "config.apps.ConduitConfig",  # last: wires the apps together (config/registry.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "desk.context_processors.desk",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite in var/ by default (WAL, immediate transactions so writers queue instead of failing
# with "database is locked"); PostgreSQL whenever DATABASE_URL says so.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'conduit.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk:home"
LOGOUT_REDIRECT_URL = "login"

# --- Cache (login throttling, debouncing) ---------------------------------------------------
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://conduit")}

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
# Business days, order-number dates and accounting periods use this zone (SPEC R-M5).
BUSINESS_TIME_ZONE = env("BUSINESS_TIME_ZONE", default="Asia/Shanghai")

# --- Outbox ---------------------------------------------------------------------------------
# Delivery attempts of an outbox message before it is dead-lettered (core.outbox; R-X4).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)

# --- Orders ---------------------------------------------------------------------------------
# Concurrent API order posts in one process share a transaction (see orders.intake.GroupCommit).
ORDER_INGEST_GROUP_COMMIT = env.bool("ORDER_INGEST_GROUP_COMMIT", default=True)
# Hours after payment by which an order should be shipped; later ones count as late (dashboard).
SHIP_WITHIN_HOURS = env.int("SHIP_WITHIN_HOURS", default=24)

# --- Inventory ------------------------------------------------------------------------------
# Lots expiring within this many days are flagged when reserved (a SKU's near_expiry_days wins).
INVENTORY_NEAR_EXPIRY_DAYS = env.int("INVENTORY_NEAR_EXPIRY_DAYS", default=90)
# Releases of one SKU in an hour beyond which its releases pause for review (per-SKU limit wins).
INVENTORY_RELEASE_BREAKER_LIMIT = env.int("INVENTORY_RELEASE_BREAKER_LIMIT", default=20)
# How long a stock lock (a hold without an order yet) lives unless the request sets its own TTL.
STOCK_LOCK_TTL_SECONDS = env.int("STOCK_LOCK_TTL_SECONDS", default=900)
# Stock changes are gathered this long before one push to the channels (R-I10).
STOCK_PUSH_DEBOUNCE_SECONDS = env.int("STOCK_PUSH_DEBOUNCE_SECONDS", default=5)
# Replenishment suggests a SKU whose available stock covers fewer days of sales than this.
REPLENISHMENT_COVER_DAYS = env.int("REPLENISHMENT_COVER_DAYS", default=7)

# --- Finance --------------------------------------------------------------------------------
# Payment-provider callbacks are refused until their secret / key is set (no secrets in the repo).
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Stripe events signed further than this from our clock are refused (replay protection).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Our application id at Alipay (callbacks for another app are refused; refunds are sent as it).
ALIPAY_APP_ID = env("ALIPAY_APP_ID", default="")
# Alipay's public key (not the app's own key): bare base64 as Alipay shows it, or PEM.
ALIPAY_PUBLIC_KEY = env("ALIPAY_PUBLIC_KEY", default="")

# --- Returns --------------------------------------------------------------------------------
# No-reason returns: calendar days after delivery in the channel's time zone (a ReturnPolicy row
# overrides it per channel). Intact returns wait in QC hold for a re-check within QC_RECHECK_HOURS.
RETURN_WINDOW_DAYS = env.int("RETURN_WINDOW_DAYS", default=7)
QC_RECHECK_HOURS = env.float("QC_RECHECK_HOURS", default=2.0)
# Photos a customer or operator attaches to a return: size of each file and how many.
RETURN_ATTACHMENT_MAX_MB = env.float("RETURN_ATTACHMENT_MAX_MB", default=5.0)
RETURN_ATTACHMENT_MAX_COUNT = env.int("RETURN_ATTACHMENT_MAX_COUNT", default=6)
# Self-service return links are signed and expire after this many days.
RETURN_LINK_MAX_AGE_DAYS = env.int("RETURN_LINK_MAX_AGE_DAYS", default=30)
# Refunds to the payment providers (empty key = not configured: the refund waits, dead-lettered).
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_API_URL = env("STRIPE_API_URL", default="https://api.stripe.com")
ALIPAY_GATEWAY_URL = env("ALIPAY_GATEWAY_URL", default="https://openapi.alipay.com/gateway.do")
# The app's own RSA private key (PEM or bare base64 PKCS#8) that signs alipay.trade.refund.
ALIPAY_APP_PRIVATE_KEY = env("ALIPAY_APP_PRIVATE_KEY", default="")

# --- Fulfilment: carriers, watches, customer notifications ---------------------------------
# Kuaidi100 (tracking aggregator and electronic waybills). Empty key = not configured: nothing is
# subscribed or polled. The callback URL is ours as Kuaidi100 reaches it; the salt signs its pushes.
KUAIDI100_KEY = env("KUAIDI100_KEY", default="")
KUAIDI100_CUSTOMER = env("KUAIDI100_CUSTOMER", default="")
KUAIDI100_SECRET = env("KUAIDI100_SECRET", default="")
KUAIDI100_SALT = env("KUAIDI100_SALT", default="")
KUAIDI100_CALLBACK_URL = env("KUAIDI100_CALLBACK_URL", default="")
KUAIDI100_API_URL = env("KUAIDI100_API_URL", default="https://api.kuaidi100.com")
KUAIDI100_POLL_URL = env("KUAIDI100_POLL_URL", default="https://poll.kuaidi100.com")
# Shipments not heard from for this long are polled (a safety net for missed pushes).
TRACKING_POLL_HOURS = env.float("TRACKING_POLL_HOURS", default=2.0)
# A parcel with no carrier scan this long after shipping raises an alert (a carrier's own value wins).
FIRST_SCAN_ALERT_MINUTES = env.int("FIRST_SCAN_ALERT_MINUTES", default=5)
# Parcels with no scan this long after shipping are listed for follow-up (and the dashboard's window).
NO_FIRST_SCAN_LIST_HOURS = env.int("NO_FIRST_SCAN_LIST_HOURS", default=24)
# Customer notifications: e-mail through EMAIL_BACKEND; SMS and WeCom only when their URL is set.
NOTIFY_FROM_EMAIL = env("NOTIFY_FROM_EMAIL", default="Conduit <no-reply@conduit.local>")
NOTIFY_LANGUAGE = env("NOTIFY_LANGUAGE", default=LANGUAGE_CODE)
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_KEY = env("SMS_GATEWAY_KEY", default="")
WECOM_ROBOT_URL = env("WECOM_ROBOT_URL", default="")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Failed logins (per user name and per address) allowed within the window before logins are refused.
LOGIN_THROTTLE_ATTEMPTS = env.int("LOGIN_THROTTLE_ATTEMPTS", default=5)
LOGIN_THROTTLE_WINDOW_SECONDS = env.int("LOGIN_THROTTLE_WINDOW_SECONDS", default=900)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.RoleModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env("API_ANON_RATE", default="60/minute")},
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Conduit API",
    "DESCRIPTION": "Order management back office: orders, stock, payments and integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------
# The embedded broker is kombu's filesystem transport: worker and beat run with no server process.
# Production: CELERY_BROKER_URL=redis://… or amqp://…
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Spreadsheets ---------------------------------------------------------------------------
# Exported cells that start with = + - @ are neutralised (formula injection); imports are atomic.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
