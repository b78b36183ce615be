"""Django settings for Nodeless, read from the environment (see the README for every variable).

NODELESS_ENV selects the posture:
- production (default): DEBUG off, secure cookies, HSTS, SSL redirect, secrets required;
- development: what `make demo` uses; plain HTTP on 127.0.0.1, generated local secrets;
- test: what `make test` uses; like development, plus fast password hashing.
Without DATABASE_URL / CELERY_BROKER_URL the product runs embedded: SQLite and Celery's
file-system broker under var/, so it needs no services at all.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from nodeless_saas.env import (
    check_broker_url,
    database_from_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_optional,
    env_secret,
    env_str,
)

# The workers' settings (Celery's task handling, the shard queues, the periodic schedules and paces),
# kept in a module of their own; Django reads settings from this module, so they are imported whole.
from nodeless_saas.settings_workers import *  # noqa: F403

BASE_DIR = Path(__file__).resolve().parent.parent
NODELESS_ENV = env_choice("NODELESS_ENV", "production", ("production", "development", "test"))
IS_PRODUCTION = NODELESS_ENV == "production"
VAR_DIR = Path(env_str("NODELESS_VAR_DIR", str(BASE_DIR / "var")))
DATA_DIR = BASE_DIR / "data"

DEBUG = env_bool("DJANGO_DEBUG", default=False)
if DEBUG and IS_PRODUCTION:
    raise ImproperlyConfigured("DJANGO_DEBUG=true is refused when NODELESS_ENV=production")


def _local_secret(filename: str) -> str:
    """A random secret kept under var/ so development restarts keep sessions and encrypted data."""
    path = VAR_DIR / filename
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


_secret_key = env_secret("DJANGO_SECRET_KEY")
if _secret_key is None:
    if IS_PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required when NODELESS_ENV=production"
        )
    _secret_key = _local_secret("secret_key")
SECRET_KEY = _secret_key

# Keys for data encrypted at rest (kubeconfigs). Comma-separated Fernet keys: the first encrypts,
# all decrypt, so a key is rotated by prepending a new one and running `manage.py rotate_encryption_keys`.
_encryption_keys = env_list("NODELESS_ENCRYPTION_KEYS", [])
if not _encryption_keys:
    if IS_PRODUCTION:
        raise ImproperlyConfigured(
            "NODELESS_ENCRYPTION_KEYS is required when NODELESS_ENV=production; generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    _digest = hashlib.sha256(("nodeless-encryption:" + SECRET_KEY).encode()).digest()
    _encryption_keys = [base64.urlsafe_b64encode(_digest).decode()]
NODELESS_ENCRYPTION_KEYS = _encryption_keys

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    # Otherwise every request, the health check's included, is answered 400 Bad Request.
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is required when NODELESS_ENV=production: the host name(s) of the site, "
        "e.g. nodeless.example.com"
    )
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("NODELESS_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "tenants",
    "clusters",
    "policies",
    "billing",
    "workers",
    "ui",
]
# The development side (demo, trace and savings replays, `manage.py simulate`): never in production,
# whose image installs none of the simulator's requirements.
if not IS_PRODUCTION:
    INSTALLED_APPS.append("lab")

MIDDLEWARE = [
    # First: nothing below may read an X-Forwarded-* header an untrusted peer wrote.
    "nodeless_saas.proxies.ProxyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tenants.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "tenants.races.RaceMiddleware",
]

ROOT_URLCONF = "nodeless_saas.urls"
WSGI_APPLICATION = "nodeless_saas.wsgi.application"
ASGI_APPLICATION = "nodeless_saas.asgi.application"

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
                "tenants.context_processors.organization",
            ],
        },
    },
]

# --- data stores -------------------------------------------------------------------------------
_database_url = env_optional("DATABASE_URL")
if _database_url:
    DATABASES = {"default": database_from_url(_database_url)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "nodeless.sqlite3",
            # Web, worker, beat and the simulator share the file: wait for locks instead of failing.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_optional("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "nodeless_saas.redis_cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- accounts ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if NODELESS_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Sign-in lockout (django-axes, tenants/lockout.py). Per account: this many failures within the
# cool-off window lock the account, from every address (rotating addresses gains nothing), for the
# cool-off period after the last failure; a password reset unlocks it at once. Per client address:
# this many failures against any accounts lock the address (higher: offices share one address).
AXES_FAILURE_LIMIT = env_int("NODELESS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT", 50, minimum=1)
NODELESS_LOGIN_COOLOFF_MINUTES = env_int("NODELESS_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = NODELESS_LOGIN_COOLOFF_MINUTES / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns that a lock by account alone lets one address try many accounts: the per-address
# limit (NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT) is ours, in tenants.lockout, so the warning is noise.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_HANDLER = "tenants.lockout.SignInLockoutHandler"
AXES_USERNAME_CALLABLE = "tenants.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "nodeless_saas.proxies.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tenants.lockout.locked_out_response"
AXES_VERBOSE = False
AXES_ENABLED = env_bool("NODELESS_LOGIN_THROTTLING", default=True)
# Sign-up and password-reset throttles (django-ratelimit; rates in tenants/throttling.py). The test
# suite signs up from one address hundreds of times: its throttle tests switch them on.
RATELIMIT_ENABLE = env_bool("NODELESS_FORM_THROTTLING", default=NODELESS_ENV != "test")

INVITATION_TTL_DAYS = env_int("NODELESS_INVITATION_TTL_DAYS", 7, minimum=1, maximum=90)

# --- e-mail ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Nodeless <no-reply@nodeless.local>")

# --- security headers --------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=IS_PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
# The health check is asked over plain HTTP from inside the container (docker-compose.yml): answer it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Addresses or CIDR networks of the reverse proxies in front of gunicorn (the TLS-terminating one).
# Only from them are X-Forwarded-For and X-Forwarded-Proto believed (nodeless_saas/proxies.py): the
# middleware drops those headers from every other peer, so the header below cannot be forged.
NODELESS_TRUSTED_PROXIES = env_networks("NODELESS_TRUSTED_PROXIES", [])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https://console.aws.amazon.com"],
        "base-uri": ["'self'"],
    }
}

# --- static files --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the source folders when collectstatic has not run (demo, tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = not IS_PRODUCTION

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.OrganizationRolePermission"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, bounded in size and depth (tenants/api/parsers.py); forms and uploads are pages' business.
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.BoundedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiTokenRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nodeless API",
    "DESCRIPTION": "Nodeless control plane API. Authenticate with `Authorization: Bearer nls_…`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tenants.api.schema.document_errors",
    ],
}
API_TOKEN_LAST_USED_RESOLUTION_SECONDS = 60
# Calls per API token: "<count>/<second|minute|hour|day>" (DRF's form; "1200/min" is 20 a second).
NODELESS_API_TOKEN_RATE = env_str("NODELESS_API_TOKEN_RATE", "1200/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", NODELESS_API_TOKEN_RATE):
    raise ImproperlyConfigured(
        f"NODELESS_API_TOKEN_RATE={NODELESS_API_TOKEN_RATE!r} is not a rate; write it as e.g. 1200/min"
    )

# --- Celery ------------------------------------------------------------------------------------
# Where the broker is and where beat keeps its schedule; the rest of Celery's settings are in
# nodeless_saas/settings_workers.py.
_broker_url = env_optional("CELERY_BROKER_URL")
if _broker_url:
    CELERY_BROKER_URL = check_broker_url(_broker_url)
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # A host name, though the file-system transport ignores it, keeps kombu from warning on every connect.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT = "nodeless_saas.file_broker:Transport"  # kombu's, publishing atomically
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # the embedded broker polls a folder: keep the demo snappy
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- cloud and cluster access --------------------------------------------------------------------
# Our own AWS identity: customers' roles trust this principal, with their organization's external ID.
NODELESS_AWS_ACCOUNT_ID = env_str("NODELESS_AWS_ACCOUNT_ID", "111122223333")
NODELESS_AWS_PRINCIPAL_ARN = env_str(
    "NODELESS_AWS_PRINCIPAL_ARN", f"arn:aws:iam::{NODELESS_AWS_ACCOUNT_ID}:root"
)
# One endpoint for every AWS API (the simulated cloud in the demo and tests); unset for real AWS.
NODELESS_AWS_ENDPOINT_URL = env_optional("NODELESS_AWS_ENDPOINT_URL")
if NODELESS_AWS_ENDPOINT_URL is None and NODELESS_ENV == "test":
    NODELESS_AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # tests never reach real AWS: a closed loopback port
# JSON file mapping "<region>/<eks cluster name>" to {"endpoint", "ca_pem"}: reaches EKS clusters at
# another address than DescribeCluster reports (simulated clusters; private endpoints through a proxy).
NODELESS_EKS_ENDPOINT_OVERRIDES = env_optional("NODELESS_EKS_ENDPOINT_OVERRIDES")
# Which networks a cluster's API server may be in (`clusters.kube.endpoints`): `public`, `private`
# (RFC 1918, CGNAT, IPv6 ULA: self-hosted installs reach on-prem clusters there), `loopback`,
# `link-local` (cloud metadata services live there). Production refuses loopback and link-local, so a
# kubeconfig cannot make us call our own host or the instance metadata service; the demo and the
# tests run their simulated clusters on loopback.
NODELESS_CLUSTER_NETWORKS = frozenset(
    env_list(
        "NODELESS_CLUSTER_NETWORKS",
        ["public", "private"] if IS_PRODUCTION else ["public", "private", "loopback"],
    )
)
_KNOWN_NETWORKS = frozenset({"public", "private", "loopback", "link-local"})
if not NODELESS_CLUSTER_NETWORKS.issubset(_KNOWN_NETWORKS):
    raise ImproperlyConfigured(
        f"NODELESS_CLUSTER_NETWORKS={','.join(sorted(NODELESS_CLUSTER_NETWORKS))}: use public, private, "
        "loopback and link-local, comma-separated"
    )
# Where the onboarding CloudFormation template is published (an S3 URL), for the quick-create link.
NODELESS_CFN_TEMPLATE_URL = env_str(
    "NODELESS_CFN_TEMPLATE_URL", "https://nodeless-public.s3.amazonaws.com/onboarding/nodeless-role.yaml"
)
# The AWS console the quick-create link opens (the simulation's console in the demo and the tests).
NODELESS_AWS_CONSOLE_URL = env_str("NODELESS_AWS_CONSOLE_URL", "https://console.aws.amazon.com")
# The Kubernetes endpoint's address in the kubeconfig the workloads page offers, when it is not the
# pages' own address + /k8s, and the PEM file of the private CA that signed its certificate (put in
# the kubeconfig). kubectl sends API tokens only over HTTPS: the demo serves its pages over plain
# HTTP and the endpoint over HTTPS on a port of its own, with a certificate of its own CA.
NODELESS_KUBE_API_URL = env_str("NODELESS_KUBE_API_URL", "")
NODELESS_KUBE_API_CA_FILE = env_str("NODELESS_KUBE_API_CA_FILE", "")
# kubectl exec sessions one organization may hold open in one endpoint process: each holds one of its
# threads (docker-compose's kube: 64 per process) for as long as it lasts, and one organization must
# not take them all from the others.
NODELESS_KUBE_EXEC_SESSIONS = env_int("NODELESS_KUBE_EXEC_SESSIONS", 16, minimum=1)
# Watches and followed logs (each holds a thread as long as it lasts) one organization may hold open in
# one endpoint process: an Argo CD watches every kind it manages (~30), so this leaves room for a few.
NODELESS_KUBE_WATCHES = env_int("NODELESS_KUBE_WATCHES", 48, minimum=1)

NODELESS_LEASE_SECONDS = env_int("NODELESS_LEASE_SECONDS", 60, minimum=1)
# How often a reconcile pass lists the cluster's instances (0: every pass, what the tests use).
NODELESS_INSTANCE_LIST_SECONDS = env_int(
    "NODELESS_INSTANCE_LIST_SECONDS", 0 if NODELESS_ENV == "test" else 10, minimum=0
)

# How long a reconcile pass waits for a cloud read (the instance listing, the interruption queue)
# before it goes on without it: well under the task's soft time limit, so a slow cloud never holds a
# pass, its lease and its worker until the limit kills it.
NODELESS_CLOUD_READ_WAIT_SECONDS = env_int("NODELESS_CLOUD_READ_WAIT_SECONDS", 20, minimum=1)

# --- logging -----------------------------------------------------------------------------------
LOG_LEVEL = env_choice("NODELESS_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "nodeless_saas.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "kubernetes": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
