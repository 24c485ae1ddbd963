"""Production settings: secrets must come from the environment, and transport is locked down.

`python manage.py check --deploy` with these settings prints no warning.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .env import env_bool, env_int, env_required, env_str

DEBUG = False
SECRET_KEY = env_required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = [host for host in env_required("DJANGO_ALLOWED_HOSTS").split(",") if host.strip()]
CDP_RUNTIME_JWT_SIGNING_KEY = env_required("CDP_RUNTIME_JWT_SIGNING_KEY")
if len(CDP_RUNTIME_JWT_SIGNING_KEY) < 32 or CDP_RUNTIME_JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured(
        "CDP_RUNTIME_JWT_SIGNING_KEY must be at least 32 characters and differ from the secret key."
    )
SIMPLE_JWT = {**SIMPLE_JWT, "SIGNING_KEY": CDP_RUNTIME_JWT_SIGNING_KEY}  # noqa: F405

# One JSON object a line (README "Logs"), unless CDP_LOG_FORMAT=text.
if not env_str("CDP_LOG_FORMAT"):
    CDP_LOG_FORMAT = "json"
    LOGGING["handlers"]["console"]["formatter"] = "json"  # noqa: F405

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health probes come from the load balancer over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Static files (admin, API docs) are served by the app processes themselves.
_AT = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE[:_AT], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[_AT:]]  # noqa: F405
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
