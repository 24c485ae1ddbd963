"""Settings shared by every environment. Everything configurable comes from the
environment, read once here (see README "Configuration")."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", default=False)
# A development-only fallback; production.py refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnop"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "cdp_project.core",
    "tenants",
    "jobs",
    "contracts",
    "profiles",
    "identity",
    "channels",
    "ingest",
    "runtime",
    "segments",
    "privacy",
    "cdp_project.demo",
]

MIDDLEWARE = [
    "cdp_project.core.observability.RequestObservabilityMiddleware",
    "cdp_project.core.middleware.ProblemResponsesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "cdp_project.core.middleware.RefuseUnstorableInputMiddleware",
    "cdp_project.core.middleware.ChunkedBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The machine API (its paths start with one of these) authenticates every request by its API
# key or runtime token: it never reads a session, a CSRF cookie, `request.user` or messages.
# The web process (cdp_project/asgi.py) runs its requests through MIDDLEWARE without the
# middlewares that serve only the admin's browser sessions, about 0.4 ms of CPU a request.
CDP_MACHINE_PATH_PREFIXES = ("/api/v1/", "/v1/")
CDP_SESSION_ONLY_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "cdp_project.urls"
WSGI_APPLICATION = "cdp_project.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'cdp.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent requests on the embedded database wait for the write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env_bool("CDP_DATABASE_POOL", default=False):
    # A psycopg connection pool per process (Django's `pool` option), instead of one persistent
    # connection per thread. Off by default: the web process's view threads are long-lived
    # (cdp_project.asgi), so each keeps its connection; a pool pays a checkout and a session
    # reset on every request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("CDP_DATABASE_POOL_SIZE", 4, minimum=1),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Human dates with their time zone everywhere in the console (cdp_project/formats/en/formats.py).
FORMAT_MODULE_PATH = ["cdp_project.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Django's own guard for form posts; the JSON API enforces CDP_MAX_BODY_BYTES in its parser.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CDP_MAX_BODY_BYTES", 1_048_576, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiKeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["cdp_project.core.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cdp_project.core.problems.problem_exception_handler",
    # Server endpoints answer no OPTIONS/CORS preflight: API keys never belong in a browser.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ResultFly CDP API",
    "DESCRIPTION": (
        "Server-to-server ingest and administration (API keys) and the campaign runtime "
        "(user-context JWTs). Errors are RFC 9457 problem details."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cdp_project.core.schema.add_problem_responses",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "RuntimeJWT": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "User-context token for one participant of one campaign, minted by "
                    "POST /api/v1/runtime/sessions. Only for /api/v1/runtime/context and "
                    "/api/v1/runtime/variables."
                ),
            }
        }
    },
}

# `json` (one JSON object a line, production's default) or `text`; every record carries the
# request id of the request it was written for (README "Logs").
CDP_LOG_FORMAT = env_str("CDP_LOG_FORMAT") or "text"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cdp_project.core.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": CDP_LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
if CDP_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"CDP_LOG_FORMAT must be json or text, got {CDP_LOG_FORMAT!r}.")

# --- ResultFly CDP limits (DESIGN.md §10). Every input is bounded. ---
CDP_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
# Threads that run views in each web worker process (cdp_project.asgi): requests beyond these
# wait, their bodies already read, for a free thread. Each thread keeps one database connection.
# Hot-path reads (cdp_project.core.compiled) are prepared once per PostgreSQL connection. Turn
# off behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode < 1.21).
CDP_DATABASE_PREPARE = env_bool("CDP_DATABASE_PREPARE", default=True)
CDP_WEB_THREADS = env_int("CDP_WEB_THREADS", 4, minimum=1)
# Allocations between two young-generation collections in the web workers and the background
# worker (Python's default is 700); see cdp_project.core.process.garbage_collector_tune.
CDP_GC_THRESHOLD = env_int("CDP_GC_THRESHOLD", 50_000, minimum=1)
CDP_MAX_BATCH_EVENTS = env_int("CDP_MAX_BATCH_EVENTS", 1000, minimum=1)
CDP_MAX_EVENT_BYTES = env_int("CDP_MAX_EVENT_BYTES", 65_536, minimum=256)
CDP_MAX_STRING_LENGTH = env_int("CDP_MAX_STRING_LENGTH", 8_192, minimum=16)
CDP_MAX_NESTING_DEPTH = env_int("CDP_MAX_NESTING_DEPTH", 16, minimum=4)
CDP_MAX_INTEGER_DIGITS = env_int("CDP_MAX_INTEGER_DIGITS", 19, minimum=1)
# Largest magnitude of a non-integer JSON number (1e15: beyond it doubles lose whole-number precision).
CDP_MAX_NUMBER_MAGNITUDE = env_int("CDP_MAX_NUMBER_MAGNITUDE", 10**15, minimum=1)
CDP_MAX_TIMESTAMP_PAST_DAYS = env_int("CDP_MAX_TIMESTAMP_PAST_DAYS", 3_650, minimum=1)
CDP_MAX_TIMESTAMP_FUTURE_SECONDS = env_int("CDP_MAX_TIMESTAMP_FUTURE_SECONDS", 86_400, minimum=0)
# The quarantine of refused items (ingest/quarantine.py): how many a tenant keeps, and for how long.
CDP_QUARANTINE_MAX_ITEMS = env_int("CDP_QUARANTINE_MAX_ITEMS", 100_000)
CDP_QUARANTINE_RETENTION_DAYS = env_int("CDP_QUARANTINE_RETENTION_DAYS", 30, minimum=1)
# Requests per minute per API key, shared by all processes (the database cache); 0 disables throttling.
CDP_API_KEY_RATE_PER_MINUTE = env_int("CDP_API_KEY_RATE_PER_MINUTE", 60_000)
# Rows an erasure job deletes per transaction (bounded chunks keep locks short and resumable).
CDP_ERASURE_CHUNK_ROWS = env_int("CDP_ERASURE_CHUNK_ROWS", 2000, minimum=1)
# How often (seconds) an API key's last_used_at is written: keeps a write off every request.
CDP_API_KEY_LAST_USED_RESOLUTION_SECONDS = env_int("CDP_API_KEY_LAST_USED_RESOLUTION_SECONDS", 60)
CDP_RUNTIME_TOKEN_LIFETIME_SECONDS = env_int("CDP_RUNTIME_TOKEN_LIFETIME_SECONDS", 900, minimum=30)
if CDP_RUNTIME_TOKEN_LIFETIME_SECONDS > 900:
    raise ImproperlyConfigured(
        f"CDP_RUNTIME_TOKEN_LIFETIME_SECONDS must be at most 900 (15 min), got {CDP_RUNTIME_TOKEN_LIFETIME_SECONDS}."
    )
# HS256 key of the runtime JWTs. Development derives one from SECRET_KEY (never the key
# itself); production.py requires its own, so rotating one never rotates the other.
CDP_RUNTIME_JWT_SIGNING_KEY = (
    env_str("CDP_RUNTIME_JWT_SIGNING_KEY")
    or hmac.new(SECRET_KEY.encode(), b"resultfly-runtime-jwt-signing-key", hashlib.sha256).hexdigest()
)
# simplejwt's own settings. runtime.tokens pins the algorithm, audience and issuer in code
# and signs with CDP_RUNTIME_JWT_SIGNING_KEY; these mirror them so nothing in simplejwt
# ever falls back to SECRET_KEY or to another algorithm.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": CDP_RUNTIME_JWT_SIGNING_KEY,
    "VERIFYING_KEY": "",
    "AUDIENCE": "resultfly-runtime",
    "ISSUER": "resultfly-cdp",
    "ACCESS_TOKEN_LIFETIME": dt.timedelta(seconds=CDP_RUNTIME_TOKEN_LIFETIME_SECONDS),
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "UPDATE_LAST_LOGIN": False,
}

# Bearer token that GET /metrics requires when set (empty: open, e.g. on a private network).
CDP_METRICS_TOKEN = env_str("CDP_METRICS_TOKEN") or ""

# --- Background jobs (jobs app, README "Background jobs"). django-tasks' database backend
# carries the tasks in the same database, so a job enqueued in a transaction commits with it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# A running job renews its lease at each progress report; past it, the job counts as
# abandoned (its worker died) and the sweeper of any worker queues it again.
CDP_JOB_LEASE_SECONDS = env_int("CDP_JOB_LEASE_SECONDS", 60, minimum=1)
CDP_JOB_SWEEP_SECONDS = env_int("CDP_JOB_SWEEP_SECONDS", 15, minimum=1)
# Transient failures (deadlocks, a lost connection) are retried with exponential backoff.
CDP_JOB_MAX_ATTEMPTS = env_int("CDP_JOB_MAX_ATTEMPTS", 5, minimum=1)
CDP_JOB_RETRY_BASE_SECONDS = env_int("CDP_JOB_RETRY_BASE_SECONDS", 2, minimum=0)
CDP_JOB_RETRY_MAX_SECONDS = env_int("CDP_JOB_RETRY_MAX_SECONDS", 300, minimum=0)
# Profiles per transaction (and per checkpoint) of a derived-attribute backfill or recompute.
CDP_DERIVED_CHUNK_PROFILES = env_int("CDP_DERIVED_CHUNK_PROFILES", 500, minimum=1)

# --- Segment exports (README "Segments and exports"). The streaming export answers up to this
# many rows; a larger one answers 422 export_too_large pointing to the export job, which writes
# the file to CDP_EXPORT_DIR (shared by the web and worker processes: a volume on many hosts)
# in checkpointed slices of CDP_EXPORT_JOB_CHUNK_ROWS rows.
CDP_EXPORT_STREAM_MAX_ROWS = env_int("CDP_EXPORT_STREAM_MAX_ROWS", 100_000, minimum=1)
CDP_EXPORT_DIR = Path(env_str("CDP_EXPORT_DIR") or VAR_DIR / "exports")
CDP_EXPORT_JOB_CHUNK_ROWS = env_int("CDP_EXPORT_JOB_CHUNK_ROWS", 10_000, minimum=1)
# Export files hold customer data: each is deleted this long after it was written.
CDP_EXPORT_RETENTION_HOURS = env_int("CDP_EXPORT_RETENTION_HOURS", 72, minimum=1)
