"""Settings come from the environment only (12-factor); defaults are the embedded demo shape."""

import os
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# DJANGO_SECRET_KEY, or DJANGO_SECRET_KEY_FILE naming a file that holds it (a mounted secret).
# Without either, the public demo key lets manage.py run, but a web server, worker or beat refuses
# to start on it unless DJANGO_DEBUG is on (config/preflight.py). `make run` gives the embedded
# demo a random key of its own, made once in var/secret-key.
DEMO_SECRET_KEY = "conduit-demo-only-insecure-key"
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY and env("DJANGO_SECRET_KEY_FILE", default=""):
    try:
        SECRET_KEY = Path(env("DJANGO_SECRET_KEY_FILE")).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY_FILE: cannot read {exc.filename} ({exc.strerror})"
        ) from exc
if not SECRET_KEY and "DJANGO_SECRET_KEY_FILE" not in os.environ and (VAR_DIR / "secret-key").is_file():
    # The embedded demo's key: a plain `manage.py …` beside `make run` must sign and encrypt (the
    # stored secrets' key derives from it) exactly as the running demo does.
    SECRET_KEY = (VAR_DIR / "secret-key").read_text(encoding="utf-8").strip()
SECRET_KEY = SECRET_KEY or DEMO_SECRET_KEY
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
    "axes",  # sign-in throttling (core/auth.py)
    "core",
    "catalog",
    "integrations",
    "inventory",
    "purchasing",
    "orders",
    "fulfilment",
    "b2b",
    "returns",
    "finance",
    "dashboard",
    "desk",
    "ops",
    "config.apps.ConduitConfig",  # last: wires the apps together (config/registry.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.nul_characters.NulCharacterGuardMiddleware",  # 400 before anything reads a NUL
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.UserTimeZoneMiddleware",
    "core.middleware.LazyMessageMiddleware",  # Django's, its storage built only when used
    "purchasing.portal_guard.SupplierPortalGuardMiddleware",  # supplier logins reach the portal only
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into core.auth.lockout_response
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
    # Behind PgBouncer in transaction pooling: DB_CONN_MAX_AGE=0 and this on (README).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# An optional read replica: dashboards, reports and their exports read from REPORTING_DATABASE
# (core/replica.py); everything else, and every write, uses the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {
        **env.db("DATABASE_REPLICA_URL"),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False),
        "TEST": {"MIRROR": "default"},
    }
REPORTING_DATABASE = "replica" if "replica" in DATABASES else "default"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
# Axes first: it refuses a locked-out user name + address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "core.permission_cache.CachedPermissionsBackend",  # ModelBackend, its permissions kept per version
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk:home"
LOGOUT_REDIRECT_URL = "login"

# --- Cache (refused-request counters, debouncing) ---------------------------------------------------
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://conduit")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "core.redis_cache.RedisCache"  # one client per pool, not per call

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

# --- Durable hand-offs (core.handoff) ---------------------------------------------------------
# A stored inbound message, upload, statement import or reconciliation run whose task has not
# finished this long after it was stored is handed to a worker again by a sweeper (then after 2x,
# 4x, … that, at most an hour apart).
HANDOFF_GRACE_SECONDS = env.int("HANDOFF_GRACE_SECONDS", default=120)
# Starts of its task (that never finished) before the item goes to its failed queue with the last
# error. An item whose task never started waits for a worker, however long (the ops watch alerts).
HANDOFF_MAX_ATTEMPTS = env.int("HANDOFF_MAX_ATTEMPTS", default=5)

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
# Checkout locks from every web process through one writer process (`manage.py stock_lock_writer`),
# so a hot SKU's locks form real batches (inventory.lock_writer): a Redis URL, or empty to batch
# within each process. A caller waits at most the timeout for its answer (then 503, retry).
STOCK_LOCK_WRITER_URL = env("STOCK_LOCK_WRITER_URL", default="")
STOCK_LOCK_WRITER_TIMEOUT_SECONDS = env.float("STOCK_LOCK_WRITER_TIMEOUT_SECONDS", default=5.0)
# Single order POSTs from every web process through the writer processes (`manage.py
# order_intake_writer`, two in production), so concurrent POSTs share intake batches
# (orders.api.intake_writer): a Redis URL, or empty for each process to ingest its own. Past the
# timeout a web process ingests the order itself (intake is idempotent).
ORDER_INTAKE_WRITER_URL = env("ORDER_INTAKE_WRITER_URL", default="")
ORDER_INTAKE_WRITER_TIMEOUT_SECONDS = env.float("ORDER_INTAKE_WRITER_TIMEOUT_SECONDS", default=3.0)
# Stock changes are gathered this long before one push to the channels (R-I10).
STOCK_PUSH_DEBOUNCE_SECONDS = env.int("STOCK_PUSH_DEBOUNCE_SECONDS", default=5)
# Replenishment suggests a SKU whose available stock covers fewer days of sales than this.
REPLENISHMENT_COVER_DAYS = env.int("REPLENISHMENT_COVER_DAYS", default=7)
# Purchase orders at or above this total (BUSINESS_CURRENCY) need an approver other than their
# creator; a PO in another currency always does (no exchange rate below finance). docs/product.md.
PURCHASE_APPROVAL_THRESHOLD = Decimal(env("PURCHASE_APPROVAL_THRESHOLD", default="10000.00"))
# Receiving more than ordered is accepted up to this share of the line; beyond, a manager accepts.
PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT = Decimal(
    env("PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT", default="10")
)

# --- Finance --------------------------------------------------------------------------------
# Payment-provider callbacks are refused until their secret / key is set (no secrets in the repo).
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Stripe events signed further than this from our clock are refused (replay protection).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Our application id at Alipay (callbacks for another app are refused; refunds are sent as it).
ALIPAY_APP_ID = env("ALIPAY_APP_ID", default="")
# Alipay's public key (not the app's own key): bare base64 as Alipay shows it, or PEM.
ALIPAY_PUBLIC_KEY = env("ALIPAY_PUBLIC_KEY", default="")
# WeChat Pay API v3 (finance/providers/wechatpay*.py): our merchant id, the serial of our API
# certificate and its private key (apiclient_key.pem) that sign our requests, and the APIv3 key that
# decrypts notifications and platform certificates. Empty = not configured: notifications refused.
WECHATPAY_MCHID = env("WECHATPAY_MCHID", default="")
WECHATPAY_MERCHANT_SERIAL_NO = env("WECHATPAY_MERCHANT_SERIAL_NO", default="")
WECHATPAY_MERCHANT_PRIVATE_KEY = env("WECHATPAY_MERCHANT_PRIVATE_KEY", default="")
WECHATPAY_API_V3_KEY = env("WECHATPAY_API_V3_KEY", default="")
WECHATPAY_API_URL = env("WECHATPAY_API_URL", default="https://api.mch.weixin.qq.com")
# Notifications and answers signed further than this from our clock are refused (WeChat Pay's SDKs: 5 min).
WECHATPAY_TOLERANCE_SECONDS = env.int("WECHATPAY_TOLERANCE_SECONDS", default=300)
# Where WeChat Pay sends refund results (our /finance/webhooks/wechatpay/); empty = the address set
# in the merchant platform.
WECHATPAY_REFUND_NOTIFY_URL = env("WECHATPAY_REFUND_NOTIFY_URL", default="")
# UnionPay 全渠道 acp 5.1.0 back notifications (finance/providers/unionpay.py): our merchant code
# (merId), and UnionPay's verification root and middle certificates (acp_prod_root.cer,
# acp_prod_middle.cer from the SDK package, PEM; the middle may hold more than one certificate).
# Empty = not configured: notifications refused.
UNIONPAY_MER_ID = env("UNIONPAY_MER_ID", default="")
UNIONPAY_ROOT_CERT = env("UNIONPAY_ROOT_CERT", default="")
UNIONPAY_MIDDLE_CERT = env("UNIONPAY_MIDDLE_CERT", default="")
# E-invoices (数电发票, finance/invoices): the provider (finance.invoices.services.PROVIDERS), the
# goods name on the invoice, and the rate for order lines whose platform stated none (empty: such
# orders cannot be invoiced until a rate is set).
INVOICE_PROVIDER = env("INVOICE_PROVIDER", default="nuonuo")
INVOICE_GOODS_NAME = env("INVOICE_GOODS_NAME", default="商品")
INVOICE_DEFAULT_TAX_RATE = env("INVOICE_DEFAULT_TAX_RATE", default="")
# Nuonuo open platform (finance/invoices/nuonuo.py): app key and secret (X-Nuonuo-Sign), the access
# token, the seller's tax id (salerTaxNum and the userTax header), name, phone, address, the clerk
# (开票员) and the goods' tax classification code (商品编码, needed for a partial red-letter).
NUONUO_API_URL = env("NUONUO_API_URL", default="https://sdk.nuonuo.com/open/v1/services")
NUONUO_APP_KEY = env("NUONUO_APP_KEY", default="")
NUONUO_APP_SECRET = env("NUONUO_APP_SECRET", default="")
NUONUO_ACCESS_TOKEN = env("NUONUO_ACCESS_TOKEN", default="")
NUONUO_SELLER_TAX_ID = env("NUONUO_SELLER_TAX_ID", default="")
NUONUO_SELLER_NAME = env("NUONUO_SELLER_NAME", default="")
NUONUO_SELLER_PHONE = env("NUONUO_SELLER_PHONE", default="")
NUONUO_SELLER_ADDRESS = env("NUONUO_SELLER_ADDRESS", default="")
NUONUO_CLERK = env("NUONUO_CLERK", default="")
NUONUO_GOODS_CODE = env("NUONUO_GOODS_CODE", default="")
# invoiceLine (票种) of 数电 e-invoices: pc 电子发票(普通发票), bs 电子发票(增值税专用发票).
NUONUO_INVOICE_LINE_NORMAL = env("NUONUO_INVOICE_LINE_NORMAL", default="pc")
NUONUO_INVOICE_LINE_SPECIAL = env("NUONUO_INVOICE_LINE_SPECIAL", default="bs")
# Finance reports and the dashboard's money panels are in this ISO 4217 currency; other
# currencies are converted at the daily rates of finance.rates (docs/product.md, "Currencies").
BUSINESS_CURRENCY = env("BUSINESS_CURRENCY", default="CNY").strip().upper()
if len(BUSINESS_CURRENCY) != 3 or not BUSINESS_CURRENCY.isascii() or not BUSINESS_CURRENCY.isalpha():
    raise ImproperlyConfigured(
        f"BUSINESS_CURRENCY is an ISO 4217 code such as CNY, not {BUSINESS_CURRENCY!r}."
    )
# The reconciliation's grouped comparison runs as this many id ranges side by side on PostgreSQL
# (parallel workers of one query, in the run's transaction): the database server's cores. 1: one.
RECONCILE_QUERY_PARTS = env.int("RECONCILE_QUERY_PARTS", default=2)
# A day's rate is the latest one on or before it, at most this many days old (weekends, holidays,
# monthly rates); older ones are not used and the amount shows as not converted.
EXCHANGE_RATE_MAX_AGE_DAYS = env.int("EXCHANGE_RATE_MAX_AGE_DAYS", default=31)
# The ECB's euro reference rates (eurofxref-daily.xml, eurofxref-hist-90d.xml under this URL).
ECB_RATES_URL = env("ECB_RATES_URL", default="https://www.ecb.europa.eu/stats/eurofxref/")
ECB_TIMEOUT_SECONDS = env.float("ECB_TIMEOUT_SECONDS", default=30.0)

# --- Returns --------------------------------------------------------------------------------
# No-reason returns: calendar days after delivery in the channel's time zone (a ReturnPolicy row
# overrides it per channel). Intact returns wait in QC hold for a re-check within QC_RECHECK_HOURS.
RETURN_WINDOW_DAYS = env.int("RETURN_WINDOW_DAYS", default=7)
QC_RECHECK_HOURS = env.float("QC_RECHECK_HOURS", default=2.0)
# Photos a customer or operator attaches to a return: size of each file and how many.
RETURN_ATTACHMENT_MAX_MB = env.float("RETURN_ATTACHMENT_MAX_MB", default=5.0)
RETURN_ATTACHMENT_MAX_COUNT = env.int("RETURN_ATTACHMENT_MAX_COUNT", default=6)
# Invoice and receipt images attached to a return are read by OCR on the imports queue
# (returns.evidence): bigger files fail the read, bigger images are scaled down first, and a read
# that takes longer than the limit fails (the worker kills it RETURN_OCR_TIME_LIMIT + 15 s in).
RETURN_OCR_ENABLED = env.bool("RETURN_OCR_ENABLED", default=True)
RETURN_OCR_MAX_MB = env.float("RETURN_OCR_MAX_MB", default=8.0)
RETURN_OCR_MAX_PIXELS = env.int("RETURN_OCR_MAX_PIXELS", default=40_000_000)
RETURN_OCR_MAX_SIDE = env.int("RETURN_OCR_MAX_SIDE", default=2000)
RETURN_OCR_TIME_LIMIT = env.int("RETURN_OCR_TIME_LIMIT", default=60)
# The company's legal names as they appear on its invoices (销售方名称); a seller that matches
# neither one of them nor the channel's shop name is flagged on the RMA.
RETURN_EVIDENCE_SELLER_NAMES = env.list("RETURN_EVIDENCE_SELLER_NAMES", default=[])
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
# Shipment write-back (integrations.writeback): the tracking page sent with a carrier that has no
# tracking URL in the carrier code map; {carrier} is its tracking company code, {number} the
# tracking number. Empty: no URL for such carriers.
WRITEBACK_TRACKING_URL = env("WRITEBACK_TRACKING_URL", default="")
# Shipments not heard from for this long are polled (a safety net for missed pushes).
TRACKING_POLL_HOURS = env.float("TRACKING_POLL_HOURS", default=2.0)
# A parcel with no carrier scan this long after shipping raises an alert (a carrier's own value wins).
FIRST_SCAN_ALERT_MINUTES = env.int("FIRST_SCAN_ALERT_MINUTES", default=5)
# Parcels with no scan this long after shipping are listed for follow-up (and the dashboard's window).
NO_FIRST_SCAN_LIST_HOURS = env.int("NO_FIRST_SCAN_LIST_HOURS", default=24)
# Customer notifications: e-mail through EMAIL_BACKEND; SMS and WeCom only when their URL is set.
NOTIFY_FROM_EMAIL = env("NOTIFY_FROM_EMAIL", default="Conduit <no-reply@conduit.local>")
NOTIFY_LANGUAGE = env("NOTIFY_LANGUAGE", default=LANGUAGE_CODE)
# Region (ISO 3166 alpha-2) for phones written without a country code when the address names none.
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", default="CN")
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_KEY = env("SMS_GATEWAY_KEY", default="")
WECOM_ROBOT_URL = env("WECOM_ROBOT_URL", default="")
# Staff alerts by SMS / WeCom (core.AlertRoute): their language, and the desk's address for the
# link to the alerts queue (no link when empty).
STAFF_ALERT_LANGUAGE = env("STAFF_ALERT_LANGUAGE", default="zh-hans")
DESK_BASE_URL = env("DESK_BASE_URL", default="")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- Operational health (ops/: GET /health/, the desk's Operations page, the health watch) --
# Beat's heartbeat task runs every 30 s; older than this, beat (or the worker taking its tasks) is
# stale: /health/ answers 503 and the health watch alerts the managers.
OPS_BEAT_STALE_SECONDS = env.int("OPS_BEAT_STALE_SECONDS", default=180)
# Celery task outcomes are rated over this many minutes; the watch alerts when more than this
# share of them were retries or failures, once at least OPS_RATE_MIN_TASKS outcomes were counted.
OPS_RATE_WINDOW_MINUTES = env.int("OPS_RATE_WINDOW_MINUTES", default=5)
OPS_RETRY_RATE_ALERT = env.float("OPS_RETRY_RATE_ALERT", default=0.03)
OPS_FAILURE_RATE_ALERT = env.float("OPS_FAILURE_RATE_ALERT", default=0.03)
OPS_RATE_MIN_TASKS = env.int("OPS_RATE_MIN_TASKS", default=20)
# Messages waiting in a broker queue above which /health/ answers 503 and the watch alerts (the
# watch alerts on rows waiting in a database backlog above it too).
OPS_QUEUE_DEPTH_ALERT = env.int("OPS_QUEUE_DEPTH_ALERT", default=1000)
# A polled channel further behind its platform than this raises an alert.
OPS_SYNC_LAG_ALERT_MINUTES = env.int("OPS_SYNC_LAG_ALERT_MINUTES", default=30)
# A session waiting this long for a row or table lock (PostgreSQL) raises an alert.
OPS_LOCK_WAIT_ALERT_SECONDS = env.int("OPS_LOCK_WAIT_ALERT_SECONDS", default=30)
# Per-minute task outcome counters are kept this long.
OPS_TASK_OUTCOMES_KEEP_HOURS = env.int("OPS_TASK_OUTCOMES_KEEP_HOURS", default=48)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"


# Uploads (statements, return photos, order and count sheets) must be readable by a worker on
# another machine: they are kept in the database (core/storage.py), or in an S3-compatible bucket
# through django-storages when AWS_STORAGE_BUCKET_NAME is set.
def upload_storage(env) -> dict:
    bucket = env("AWS_STORAGE_BUCKET_NAME", default="")
    if not bucket:
        return {"BACKEND": "core.storage.DatabaseStorage"}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default="") or None,  # MinIO, R2, OSS, COS…
            "region_name": env("AWS_S3_REGION_NAME", default="") or None,
            # Empty keys: boto3 finds credentials itself (instance role, ~/.aws, AWS_* variables).
            "access_key": env("AWS_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env("AWS_S3_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,  # links handed out (the admin's) are signed and expire
            "file_overwrite": False,  # a second upload under the same name gets a name of its own
        },
    }


STORAGES = {
    "default": upload_storage(env),
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
# HTTPS in production: plain HTTP is redirected, and browsers are told to use HTTPS only (HSTS)
# for this many seconds (start small, e.g. 3600, then 31536000 once every subdomain has HTTPS).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that ends TLS: the header it sets to "https" (e.g. X-Forwarded-Proto). Set it only
# when that proxy always sets or strips the header, or a client could claim to be on HTTPS.
_proxy_ssl_header = env("DJANGO_SECURE_PROXY_SSL_HEADER", default="").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
# Load balancers probe the health endpoint over plain HTTP, straight at the web server.
SECURE_REDIRECT_EXEMPT = [r"^health/(live/)?$"]
# Content-Security-Policy (core/csp.py). The desk loads only its own static files and has no
# inline script or style. The admin and the API's docs and browsable pages are third-party
# templates with inline code: they get the relaxed policy. An empty DJANGO_CSP sends no header.
CONTENT_SECURITY_POLICY = env(
    "DJANGO_CSP",
    default="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY_RELAXED = env(
    "DJANGO_CSP_RELAXED",
    default="default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY_RELAXED_PATHS = ["/admin/", "/api/"]
# Report violations to the browser console only, without blocking (to try a stricter policy).
CONTENT_SECURITY_POLICY_REPORT_ONLY = env.bool("DJANGO_CSP_REPORT_ONLY", default=False)
# Reverse proxies in front of Django that each append their caller to X-Forwarded-For (0: none,
# REMOTE_ADDR is the client). Login throttling and webhook rate limits key on this address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Failed sign-ins (desk and admin) of one user name from one address before that pair is refused,
# even with the right password, for the window (django-axes, counted in the database).
LOGIN_THROTTLE_ATTEMPTS = env.int("LOGIN_THROTTLE_ATTEMPTS", default=5)
LOGIN_THROTTLE_WINDOW_SECONDS = env.int("LOGIN_THROTTLE_WINDOW_SECONDS", default=900)
# Failed sign-ins from one address across all user names (password spraying) before it is refused.
LOGIN_THROTTLE_ADDRESS_ATTEMPTS = env.int("LOGIN_THROTTLE_ADDRESS_ATTEMPTS", default=50)
AXES_HANDLER = "core.auth.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # the handler reads them in this order
AXES_FAILURE_LIMIT = "core.auth.login_failure_limit"
AXES_COOLOFF_TIME = "core.auth.login_cooloff"
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "core.auth.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every manage.py command
# Attempts during a lockout are refused without being written (no row growth, no extension).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Refused (unsigned or badly signed) webhook and callback requests stored per endpoint and client
# address each minute; beyond it they are answered 429 and leave nothing behind.
REJECTED_REQUESTS_PER_MINUTE = env.int("REJECTED_REQUESTS_PER_MINUTE", default=20)
# Fernet keys (comma-separated, Fernet.generate_key()) for secrets at rest: the first encrypts,
# all decrypt. Empty: a key derived from DJANGO_SECRET_KEY (demo only; `check --deploy` warns).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "core.api.authentication.PreparedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.RoleModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Bodies that nest lists or objects are JSON only: each such view narrows parser_classes.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONBodyParser",
        "core.api.parsers.FormBodyParser",
        "core.api.parsers.MultiPartBodyParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.ConduitAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env("API_ANON_RATE", default="60/minute")},
    # The API's own throttle reads the caller's address through the same trusted proxies (without
    # it DRF would take the caller's X-Forwarded-For at its word).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
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
    # One name per choice set, wherever a serializer uses it.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "OrderEventKindEnum": "orders.models.OrderEventKind",
        "PriorityEnum": "orders.models.Priority",
        "ShipmentStatusEnum": "fulfilment.models.ShipmentStatus",
        "ReservationStateEnum": "inventory.models.ReservationState",
        "MovementKindEnum": "inventory.models.MovementKind",
        "PaymentProviderEnum": "finance.models.PaymentProvider",
        "PaymentStatusEnum": "finance.models.PaymentStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# The embedded broker is kombu's filesystem transport: worker and beat run with no server process.
# Production: CELERY_BROKER_URL=redis://… or amqp://…
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Named queues, so a flood of one kind of work (a 100k-row import, a platform's backlog) does not
# hold up another: run workers with -Q for the queues they take (README, "Production setup").
# Routed by task name patterns, first match wins; a new task named like these lands with them.
CELERY_TASK_QUEUE_NAMES = ("intake", "outbox", "imports", "sync", "default")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # intake: stored inbound messages (platform webhooks, carrier pushes) → orders and scans
    "integrations.tasks.process_*": {"queue": "intake"},
    "integrations.tasks.*inbound*": {"queue": "intake"},
    "integrations.carriers.tasks.process_*": {"queue": "intake"},
    "*.tasks.ingest_*": {"queue": "intake"},
    # outbox: deliveries of outbound calls and the sweep that picks up due ones
    "*outbox*": {"queue": "outbox"},
    # imports: spreadsheets and statements: parsing, checking, committing
    "*import*": {"queue": "imports"},
    "*upload*": {"queue": "imports"},
    "*cycle_count*": {"queue": "imports"},
    "*sheet*": {"queue": "imports"},
    "returns.tasks.read_*": {"queue": "imports"},  # OCR of return evidence: CPU-bound, seconds each
    # sync: polling platforms, carriers and warehouses; pushing stock to the channels
    "integrations.tasks.sync_*": {"queue": "sync"},
    "integrations.carriers.tasks.poll_*": {"queue": "sync"},
    "integrations.wms.tasks.*": {"queue": "sync"},
    "inventory.tasks.push_*": {"queue": "sync"},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Spreadsheets ---------------------------------------------------------------------------
# Every uploaded sheet is read by core.sheets, which refuses a file over these limits before
# anything is unpacked (zip bombs, sheets whose grid would not fit in memory). Callers with bigger
# files (finance statements) pass their own file and cell limits.
SHEETS_MAX_FILE_BYTES = env.int("SHEETS_MAX_FILE_BYTES", default=10 * 1024 * 1024)
SHEETS_MAX_UNPACKED_BYTES = env.int("SHEETS_MAX_UNPACKED_BYTES", default=100 * 1024 * 1024)
SHEETS_MAX_COMPRESSION_RATIO = env.int("SHEETS_MAX_COMPRESSION_RATIO", default=200)
SHEETS_MAX_CELLS = env.int("SHEETS_MAX_CELLS", default=2_000_000)  # rows × columns of one sheet
SHEETS_MAX_SHARED_STRINGS = env.int("SHEETS_MAX_SHARED_STRINGS", default=1_000_000)
SHEETS_MAX_SHARED_STRINGS_BYTES = env.int("SHEETS_MAX_SHARED_STRINGS_BYTES", default=50 * 1024 * 1024)
# Admin import/export (django-import-export): CSV and XLSX only, through core.sheets.formats —
# exports neutralise every cell a spreadsheet would run as a formula (= + - @, leading tab/CR),
# imports read through the guarded reader. The library's own escaping only strips a leading "="
# and turns every cell into text, so it stays off.
from core.sheets.formats import SafeCSV, SafeXLSX  # noqa: E402

IMPORT_EXPORT_FORMATS = [SafeCSV, SafeXLSX]
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"  # default storage, not /tmp

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failed sign-ins and lockouts are warnings; the successes are in axes' access log table.
        "axes": {"level": "WARNING"},
    },
}
