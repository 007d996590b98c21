"""Settings, all from the environment (healthchecks style), with an embedded default that needs nothing.

With no environment at all: SQLite in WAL mode under ./var, the ORM task queue, local files, the offline
renderer. At scale: DATABASE_URL (PostgreSQL), REDIS_URL, S3 storage (see the README's table).
"""

import os
import secrets
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Everything the embedded default writes (database, files, generated secrets) lives here.
DATA_DIR = Path(os.environ.get("IMAGEGEN_DATA_DIR", BASE_DIR / "var"))


def local_secret(filename: str, make) -> str:
    """A secret kept in DATA_DIR, created on first use, so the embedded default runs with no set-up.

    Production deployments pass the value through the environment instead.
    """
    path = DATA_DIR / filename
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = envbool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret("secret_key", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_NAME = os.environ.get("SITE_NAME", "imagegen")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "django_ratelimit",
    "imagegen_site",
    "profiles",
    "chats",
    "images",
    "ops",
    "moderation",  # the operator's blocklist and the moderation call before any provider call (issue 12)
    "sharing",  # read-only share links for an image or a tagged collection (issue 12)
]

MIDDLEWARE = [
    "ops.logs.RequestIdMiddleware",  # first, so every later log line of the request carries its id
    "ops.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy with a per-request nonce (imagegen_site/security.py)
    "imagegen_site.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "imagegen_site.urls"
WSGI_APPLICATION = "imagegen_site.wsgi.application"

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

# Database: SQLite by default. WAL + IMMEDIATE transactions + a long busy timeout is the combination that gave
# zero "database is locked" errors with a web server and workers writing at once (measured; see the README).
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "timeout": 20,
}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
            # Kept open between requests, as with DATABASE_URL: a fresh SQLite connection re-reads the schema and
            # runs the PRAGMAs above, ~1.5 ms a request (issue 10, P1/P5). Each gunicorn worker has its own.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: shared across processes (rate limits need that). The database cache by default, Redis at scale.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "imagegen_cache"}}

# Background work: the Django Tasks API. The ORM backend and `manage.py db_worker` by default; at scale,
# TASKS_BACKEND=rq queues in Redis (django-tasks-rq) and `serve` starts RQ workers instead (`rqworker`).
TASK_BACKEND_ALIASES = {"db": "django_tasks_db.DatabaseBackend", "rq": "django_tasks_rq.RQBackend"}
_tasks_backend = os.environ.get("TASKS_BACKEND", "db")
TASKS = {
    "default": {
        "BACKEND": TASK_BACKEND_ALIASES.get(_tasks_backend, _tasks_backend),
        "QUEUES": ["default"],
    }
}
if TASKS["default"]["BACKEND"].startswith("django_tasks_rq"):
    if not REDIS_URL:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("TASKS_BACKEND=rq needs REDIS_URL (the queue lives in Redis).")
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
# django-rq's queues (used only by the RQ backend): the task queue "default" lives in REDIS_URL's database.
# RQ_DEFAULT_TIMEOUT outlasts a job's lease, so RQ never kills a generation the sweeper still counts as running.
RQ_QUEUES = {
    "default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": envint("IMAGEGEN_JOB_LEASE_S", 660) + 240}
}

# Files: local disk under DATA_DIR/media by default. MEDIA_URL is deliberately not served: every image goes
# through a view that checks its owner.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": MEDIA_ROOT, "allow_overwrite": True}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# S3-compatible storage when a bucket is named: a private bucket, presigned 5-minute URLs minted on every page
# render; the database stores keys, never URLs. Keys come from boto3's usual sources (AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY in the environment, a profile, an instance role).
IMAGEGEN_S3_BUCKET = os.environ.get("IMAGEGEN_S3_BUCKET", "")
if IMAGEGEN_S3_BUCKET:
    from .storage_config import s3_storage

    STORAGES["default"] = s3_storage(
        IMAGEGEN_S3_BUCKET,
        endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL", ""),
        region=os.environ.get("AWS_S3_REGION_NAME", ""),
        prefix=os.environ.get("IMAGEGEN_S3_PREFIX", ""),
    )
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS")  # old keys while sessions and signed links roll over
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Django 6.0's default now: an address typed into a URLField without a scheme ("ollama.lan/v1") is read as
# https://, not http://. Transitional (Django 5.x only; setting it warns once at start-up instead of on every form
# built). Remove it with Django 6.0.
FORMS_URLFIELD_ASSUME_HTTPS = True
# Django warns that the transitional setting itself is deprecated (it goes in 6.0, where https is the default);
# that is the plan, so the one line printed by every manage.py command is silenced.
warnings.filterwarnings("ignore", message="The FORMS_URLFIELD_ASSUME_HTTPS transitional setting is deprecated")
# Only when the reverse proxy overwrites X-Forwarded-Proto on every request; otherwise clients could claim https.
if envbool("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy on every page (django-csp; SECURITY.md T36, T39). The templates have no inline script or
# style, so the policy is strict; image files answer with their own "default-src 'none'; sandbox".
from .security import content_security_policy, s3_media_origins  # noqa: E402

CONTENT_SECURITY_POLICY = content_security_policy(
    extra_img_src=[
        *s3_media_origins(
            os.environ.get("IMAGEGEN_S3_BUCKET", ""),
            endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL", ""),
            region=os.environ.get("AWS_S3_REGION_NAME", ""),
        ),
        *envlist("IMAGEGEN_CSP_IMG_SRC"),  # e.g. a CDN in front of the bucket
    ]
)

# Production (DJANGO_ENV=production): secrets and host names from the environment, HTTPS only, HSTS, secure
# cookies; `manage.py check --deploy --fail-level WARNING` is clean (tests/security/test_deploy.py). The embedded
# default on http://127.0.0.1 keeps all of this off.
PRODUCTION = os.environ.get("DJANGO_ENV", "").strip().lower() == "production"
if PRODUCTION:
    from django.core.exceptions import ImproperlyConfigured

    _missing = [name for name in ("SECRET_KEY", "ALLOWED_HOSTS") if not os.environ.get(name, "").strip()]
    if _missing:
        raise ImproperlyConfigured(f"DJANGO_ENV=production needs {', '.join(_missing)} in the environment.")
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_ENV=production refuses DEBUG=true.")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "True")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # A year, subdomains included, preload-ready; start lower (SECURE_HSTS_SECONDS=3600) on a first roll-out.
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "True")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "True")

REST_FRAMEWORK = {
    # Browser sessions (CSRF enforced) and personal API tokens from Settings → API tokens (hashed at rest).
    # The token class comes first so an unauthenticated request gets 401 with `WWW-Authenticate: Bearer`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "profiles.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "imagegen_site.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "imagegen API",
    "DESCRIPTION": "Chats, /image generations and the gallery. Every object belongs to the signed-in user.",
    "VERSION": "0.1.0",
    # Swagger UI from the installed sidecar package, not a CDN: the product works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice sets share the field name "provider": every provider, and those a key can be stored for.
    "ENUM_NAME_OVERRIDES": {
        "ProviderEnum": "images.providers.PROVIDER_CHOICES",
        "KeyProviderEnum": "profiles.services.KEY_PROVIDER_CHOICES",
    },
}

# Image generation
IMAGEGEN_MAX_PROMPT_CHARS = envint("IMAGEGEN_MAX_PROMPT_CHARS", 4000)
# Queued + running generations one user may have at once (0 = no limit); more is refused with rate_limited.
IMAGEGEN_MAX_ACTIVE_PER_USER = envint("IMAGEGEN_MAX_ACTIVE_PER_USER", 4)
IMAGEGEN_MAX_MESSAGE_CHARS = envint("IMAGEGEN_MAX_MESSAGE_CHARS", 32000)
IMAGEGEN_MAX_IMAGE_PIXELS = 4096 * 4096
IMAGEGEN_THUMBNAIL_PX = 512
# Optional monthly spending cap per user in USD (images/usage.py): empty means no cap. Operators can override it per
# user in the admin ("Usage per user"). Spend is the ledger's estimate (images/pricing.py), per calendar month in
# TIME_ZONE; free providers (offline, self-hosted) are never blocked.
IMAGEGEN_MONTHLY_CAP_USD = os.environ.get("IMAGEGEN_MONTHLY_CAP_USD", "").strip() or None
# Optional images per user per day (0 = off), every provider counted, midnight to midnight in TIME_ZONE; over it:
# 429 quota_exceeded with Retry-After until midnight. Per-user override in the admin ("Usage per user").
IMAGEGEN_DAILY_IMAGE_LIMIT = envint("IMAGEGEN_DAILY_IMAGE_LIMIT", 0)
# The image modal's images stay out of the gallery until saved; the sweeper deletes unsaved ones after this long.
IMAGEGEN_UNSAVED_IMAGE_TTL_S = envint("IMAGEGEN_UNSAVED_IMAGE_TTL_S", 24 * 3600)
# A worker task rewrites a chat's summary after this many new turns (chats/summary.py); 0 = never.
IMAGEGEN_SUMMARY_EVERY_TURNS = envint("IMAGEGEN_SUMMARY_EVERY_TURNS", 4)

# Jobs (images/jobs.py). A claimed job holds a lease longer than the longest provider call (imagegen_site/http.py
# caps a call at 600 s); when it expires the sweeper assumes the worker died and requeues or fails the job.
IMAGEGEN_JOB_LEASE_S = envint("IMAGEGEN_JOB_LEASE_S", 660)
IMAGEGEN_SWEEP_INTERVAL_S = envint("IMAGEGEN_SWEEP_INTERVAL_S", 60)
# A queued job not started this long after it was due was probably never enqueued (lost on_commit, broker down).
IMAGEGEN_QUEUED_GRACE_S = envint("IMAGEGEN_QUEUED_GRACE_S", 120)
# Files no image row refers to are deleted once older than this (a crash between storage and commit leaves them).
IMAGEGEN_ORPHAN_FILE_AGE_S = envint("IMAGEGEN_ORPHAN_FILE_AGE_S", 24 * 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "ops.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "ops.logs.JsonFormatter"},
    },
    # Masks API keys, bearer tokens and key=… pairs in every record, whoever logs it (SECURITY.md T14).
    "filters": {
        "redact_secrets": {"()": "imagegen_site.logredact.RedactSecretsFilter"},
        "request_id": {"()": "ops.logs.RequestIdFilter"},
    },
    # LOG_FORMAT=json: one JSON object per line (ops/logs.py), for log shippers.
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT", "plain") == "json" else "plain",
            "filters": ["redact_secrets", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}

# Provider keys are encrypted with these (comma-separated Fernet keys; the first encrypts, all decrypt).
# Separate from SECRET_KEY; the embedded default keeps a generated one in DATA_DIR.
# Whether they came from the generated file of the embedded default; a production start refuses that
# (profiles/checks.py).
FIELD_ENCRYPTION_KEYS_FROM_FILE = not envlist("FIELD_ENCRYPTION_KEYS")
FIELD_ENCRYPTION_KEYS = envlist("FIELD_ENCRYPTION_KEYS") or [
    local_secret("field_encryption_key", lambda: __import__("cryptography.fernet").fernet.Fernet.generate_key().decode())
]
# Self-hosted servers (A1111, ComfyUI, Ollama) on private addresses, as "host:port"; operators only.
IMAGEGEN_PRIVATE_ALLOWLIST = envlist("IMAGEGEN_PRIVATE_ALLOWLIST")

# Accounts: open sign-up unless the operator turns it off; password reset mails go to the console until an
# SMTP server is configured.
IMAGEGEN_SIGNUP_ENABLED = envbool("IMAGEGEN_SIGNUP_ENABLED", "True")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "imagegen@localhost")

# Rate limits (django-ratelimit), per user: every endpoint and view that starts a generation, and failed logins
# per client address. The counters live in their own cache, shared by all processes: Redis when REDIS_URL is
# set; otherwise the database, through a cache whose increment is serialised (imagegen_site/cache.py), because
# the embedded default has no Redis and a per-process cache would multiply the limit by the process count.
IMAGEGEN_GENERATE_RATE = os.environ.get("IMAGEGEN_GENERATE_RATE", "10/m")
IMAGEGEN_LOGIN_RATE = os.environ.get("IMAGEGEN_LOGIN_RATE", "5/5m")
# API key checks / "test connection" per user (each is an outbound call to an address the user may choose; T22).
IMAGEGEN_KEY_CHECK_RATE = os.environ.get("IMAGEGEN_KEY_CHECK_RATE", "10/h")
# Content-Security-Policy violation reports per client address (imagegen_site/csp_reports.py).
IMAGEGEN_CSP_REPORT_RATE = os.environ.get("IMAGEGEN_CSP_REPORT_RATE", "30/m")
# POST /api/generate-image waits this long for its image (gunicorn's --timeout in `serve` is set above it).
IMAGEGEN_SYNC_WAIT_S = envint("IMAGEGEN_SYNC_WAIT_S", 170)
# Before any provider call, prompts are checked against the admin's blocklist and, when the user has an OpenAI key,
# OpenAI's /v1/moderations (free). Set False to skip the moderation call (the blocklist always applies).
IMAGEGEN_MODERATION_API = envbool("IMAGEGEN_MODERATION_API", "True")
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_ENABLE = envbool("RATELIMIT_ENABLE", "True")
CACHES["ratelimit"] = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "rl"}
    if REDIS_URL
    else {"BACKEND": "imagegen_site.cache.AtomicDatabaseCache", "LOCATION": "imagegen_ratelimit"}
)
# django_ratelimit.W001 only says "not in our list": Django's own RedisCache increments with Redis INCR (atomic),
# and AtomicDatabaseCache serialises its increment. LocMem/File/DB/Dummy still fail with django_ratelimit.E003.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# Operations (ops/): /metrics answers staff sessions and `Authorization: Bearer $METRICS_TOKEN` (Prometheus);
# "Export my data" ZIPs stay downloadable this many hours.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
IMAGEGEN_EXPORT_TTL_HOURS = envint("IMAGEGEN_EXPORT_TTL_HOURS", 24)
