"""Settings for casemgmt, driven by environment variables (see README, "Configuration").

With no environment set the app runs on SQLite in the project folder and runs Celery tasks
in-process; DATABASE_URL and CELERY_BROKER_URL switch it to PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from casemgmt.env import dev_secret_key, env_bool, env_int, env_list, env_networks, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set unless DEBUG is on")
    # Development only: a key made once per checkout and kept in a git-ignored file beside it.
    SECRET_KEY = dev_secret_key(BASE_DIR / ".dev-secret-key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin under the product's name, the policy library first (casemgmt/admin_site.py).
    "casemgmt.admin_site.CasemgmtAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "policies_app",
    "casemgmt.cases",
    "casemgmt.security",
    "casemgmt.demo",
    "casemgmt.audit",
    "casemgmt.outbox",
    "django_celery_beat",
    "casemgmt.retro",
    "casemgmt.fhir",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # API answers: JSON 413 and 503 for what happens outside the views, no-store on every answer.
    # Before every middleware that touches the database, so it sees their failures.
    "casemgmt.api.middleware.ApiResponseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "casemgmt.security.sessions.SessionIdleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who and from where, for the audit rows the request writes; records refusals (401, 403).
    "casemgmt.audit.recording.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "casemgmt.urls"
WSGI_APPLICATION = "casemgmt.wsgi.application"

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
                "casemgmt.workspace.context_processors.user_roles",
            ],
            # People's words for stored values; workspace is no app, so its library is named here.
            "libraries": {"labels": "casemgmt.workspace.templatetags.labels"},
        },
    },
]

# A secret like the key: DATABASE_URL_FILE reads the URL (and so its password) from a file.
_database_url = env_secret("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL could not be read: {exc}") from exc
    # Parameters sent apart from the SQL, and a statement run DATABASE_PREPARE_THRESHOLD times
    # on a connection is prepared: PostgreSQL then skips planning the statements every
    # request repeats. A pooler in transaction mode
    # (PgBouncer before 1.21) cannot carry prepared statements: set
    # DATABASE_PREPARED_STATEMENTS=0 behind one.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "DATABASE_PREPARED_STATEMENTS", default=True
    ):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True,
            prepare_threshold=env_int("DATABASE_PREPARE_THRESHOLD", 5, minimum=0),
        )
    # JIT compiling costs more than it saves on every query the product runs
    # (docs/decisions/0006-postgresql-jit-off.md). A pooler that refuses the startup option
    # (PgBouncer without ignore_startup_parameters = options): DATABASE_JIT_OFF=0 and
    # `ALTER DATABASE ... SET jit = off` instead.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_JIT_OFF", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The work list's due-time index carries its filter columns (INCLUDE) for PostgreSQL's index-only
# scans; SQLite builds the same index without them, which is all the embedded default needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# "home" sends each role to its own start page (the queue, the admin, the audit log).
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# HIPAA automatic logoff: the session expires after this many idle seconds.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 15 * 60, minimum=60)
# Not every request: casemgmt.security.sessions.SessionIdleMiddleware moves the expiry on at most
# every twentieth of the window (at most a minute), so activity keeps a session alive.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# HTTPS. Each setting has its own variable, and its default is the safe one (only DEBUG, which
# `make run` sets for http://127.0.0.1, relaxes the redirect, as it does the secure cookies).
# Plain HTTP is redirected to HTTPS; /healthz is exempt so a load balancer may probe a process
# directly. Behind a proxy that terminates TLS, BEHIND_TLS_PROXY=1 makes Django trust the
# proxy's X-Forwarded-Proto: without it every request looks like plain HTTP (and the redirect
# loops); with it and no such proxy, a client could claim HTTPS, so it is never on by default.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
# Browsers that have seen the site over HTTPS keep to HTTPS for this long. The header is only
# sent on HTTPS responses, so a development server over plain HTTP is unaffected.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Lockout after repeated failed sign-ins (django-axes), on the pages' and the admin's sign-in
# alike; API bearer tokens involve no password and are not counted. Failures are counted per
# username *and* client address together: someone guessing from one address locks that account
# from that address only, so one attacker cannot lock every nurse out, nor does a colleague's
# typo behind the same office NAT lock anyone else. Spraying one password over many accounts is
# slowed by the per-account limit and the Argon2 hash; docs/security.md covers the rest.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
# 0 keeps an account locked until an administrator unlocks it (admin or `manage.py axes_reset_username`).
_lockout_minutes = env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=0)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "casemgmt.security.lockout.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# The address the audit log records too: REMOTE_ADDR, or X-Forwarded-For only when REMOTE_ADDR
# is one of TRUSTED_PROXIES, so a client cannot choose the address its failures count against.
AXES_CLIENT_IP_CALLABLE = "casemgmt.audit.context.client_ip"

# Content Security Policy (django-csp): scripts and styles only from our own files, no inline
# code, no plugins, no framing. The templates keep to it (tests/reliability/test_csp.py scans
# them; tests/browser/test_csp.py loads the pages and fails on any violation).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        **({"report-uri": [env_str("CSP_REPORT_URI")]} if env_str("CSP_REPORT_URI") else {}),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".staticfiles")))
# Uploaded policy documents and attachments live outside the web root and are never served
# directly: views stream them after a permission check.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".media")))
# Largest attachment (PDF, PNG, JPEG, TIFF) a case accepts, in bytes; larger uploads get 413.
# Default 20 MiB: a scanned multi-page record fits, a stray video does not.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "casemgmt.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "casemgmt.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "casemgmt.api.throttling.ClientRateThrottle",
        "casemgmt.api.throttling.AnonymousRateThrottle",
    ],
    # JSON only, with limits (depth, NUL, lone surrogates, non-finite numbers); the attachment
    # endpoint sets its own multipart parser.
    "DEFAULT_PARSER_CLASSES": ["casemgmt.kernel.json_input.ApiJSONParser"],
}
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1200/min")
API_ANON_RATE_LIMIT = env_str("API_ANON_RATE_LIMIT", "60/min")
for _name, _rate in (("API_RATE_LIMIT", API_RATE_LIMIT), ("API_ANON_RATE_LIMIT", API_ANON_RATE_LIMIT)):
    _count, _, _period = _rate.partition("/")
    if not _count.isdigit() or _period[:1] not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(f"{_name} must look like 100/min (per s, min, hour or day); got {_rate!r}")

# Webhook targets must be public https endpoints unless configured otherwise (local testing).
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# A pending delivery whose message has not led to an attempt this long after it was queued (a
# message lost with a broker that kept nothing, a worker killed mid-delivery) is queued again
# by the sweeper (beat: "webhooks: sweeper").
WEBHOOK_STALL_SECONDS = env_int("WEBHOOK_STALL_SECONDS", 120, minimum=1)

_cache_url = env_secret("CACHE_URL")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL; got {_cache_url!r}")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

SPECTACULAR_SETTINGS = {
    "TITLE": "casemgmt prior authorization API",
    "DESCRIPTION": "Submit prior-authorization requests, follow them to a decision, ask which policy governs a service.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components, so required input strings carry minLength.
    "COMPONENT_SPLIT_REQUEST": True,
    # The v1 API only: the FHIR door describes itself (/fhir/r4/metadata, /cds-services).
    "PREPROCESSING_HOOKS": ["casemgmt.api.schema.v1_endpoints_only"],
    # After drf-spectacular's own (enum components): the rules the server enforces that the
    # fields alone do not state, so a request that fits the schema gets past validation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "casemgmt.api.schema.strict_request_objects",
    ],
    # Swagger UI from the installed sidecar package: the docs work offline, with no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: with no broker configured, tasks run in-process at commit time so a bare machine
# needs nothing but Python. With CELERY_BROKER_URL set, a real worker does the work.
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
# A broker that is down or unreachable must fail a send in seconds, never hang a request: the
# connect and socket timeouts bound each try (the outbox retries once, then leaves the task to
# the relay). A worker, though, waits for the broker as long as it takes instead of exiting.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the task time limit, or Redis redelivers a task that is still running.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": 3,
}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "casemgmt")
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be greater than CELERY_TASK_TIME_LIMIT")
# The task outbox (casemgmt/outbox, docs/decisions/0003-task-outbox.md). The request that
# writes a task sends it after commit, and the worker that starts it marks its row sent; the
# relay (`manage.py outbox_relay`) sends again a row no worker has started this many seconds
# after its commit (the request failed to send it, or the broker lost it). Longer than a task
# normally waits in the queue, or busy queues get duplicates (harmless, but work).
OUTBOX_FAST_PATH_GRACE_SECONDS = 120
# Rows per relay pass, and how long a relay sleeps when a pass found less than that (the
# defaults of `outbox_relay --batch --idle`).
OUTBOX_RELAY_BATCH = 500
OUTBOX_RELAY_IDLE_MS = 250
# A failed send waits 1, 2, 4 ... seconds before the next, at most this long.
OUTBOX_MAX_BACKOFF_SECONDS = 60
# Sent rows are kept this long (to trace a message to the change that sent it), then purged.
OUTBOX_KEEP_SENT_HOURS = 72

# Beat's schedule lives in the database (django-celery-beat), editable in the admin; the
# nightly retrospective review and the sweepers are created there by migrations (casemgmt/retro,
# casemgmt/cases: "webhooks: sweeper").
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# The manager dashboard shows its figures from a stored snapshot (casemgmt.cases.services.
# dashboard_snapshots). One computed at most this many seconds ago is shown while a newer one is
# computed, marked "refreshing"; an older one whose cases have changed is computed again in the
# request. 0: every change is computed in the request.
DASHBOARD_MAX_AGE_SECONDS = env_int("DASHBOARD_MAX_AGE_SECONDS", 60, minimum=0)

# How long after its decision a case may be reopened: for any reason, and for good cause
# (42 CFR 422.616 for Medicare Advantage; the plan may set its own limits).
REOPEN_ANY_REASON_DAYS = env_int("REOPEN_ANY_REASON_DAYS", 365, minimum=1)
REOPEN_GOOD_CAUSE_DAYS = env_int("REOPEN_GOOD_CAUSE_DAYS", 4 * 365, minimum=1)

# Intake flags a service line whose date of service no loaded coverage of the member covers
# (casemgmt.cases.services.eligibility). Off until the plan loads its members' coverage
# (`manage.py load_eligibility`, POST /api/v1/eligibility): without it every line would be flagged.
ELIGIBILITY_CHECK = env_bool("ELIGIBILITY_CHECK", default=False)

# A policy version is published by a second editor, not by the one who submitted it for review
# (policies_app.services.policy_version_publish). A plan too small for two editors turns it off.
POLICY_PUBLISH_NEEDS_SECOND_EDITOR = env_bool("POLICY_PUBLISH_NEEDS_SECOND_EDITOR", default=True)
# The largest policy document the admin import page reads (docs/importer.md); the bytes are held
# server-side between reading and creating the draft, for at most POLICY_IMPORT_HOLD_HOURS.
POLICY_IMPORT_MAX_BYTES = env_int("POLICY_IMPORT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
POLICY_IMPORT_HOLD_HOURS = env_int("POLICY_IMPORT_HOLD_HOURS", 24, minimum=1)

# Retrospective review (casemgmt/retro). A chunk is this many case ids, evaluated in one
# transaction by one task; it must finish well inside CELERY_TASK_TIME_LIMIT.
RETRO_CHUNK_SIZE = env_int("RETRO_CHUNK_SIZE", 2000, minimum=1)
# A queued chunk whose task was sent, or started, longer ago than this is sent again by the
# sweeper. Above the task time limit, so a chunk still running is not normally sent twice
# (and if it is, the second delivery waits on the chunk's row lock and then does nothing).
RETRO_STALL_SECONDS = env_int("RETRO_STALL_SECONDS", CELERY_TASK_TIME_LIMIT + 300, minimum=1)
if RETRO_STALL_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("RETRO_STALL_SECONDS must be greater than CELERY_TASK_TIME_LIMIT")
# After this many starts without finishing, the sweeper gives a chunk up and counts its cases failed.
RETRO_CHUNK_MAX_ATTEMPTS = env_int("RETRO_CHUNK_MAX_ATTEMPTS", 5, minimum=1)
# Failure drills and tests only: hold each chunk's transaction open this many seconds before it
# commits, so a worker can be killed mid-chunk on purpose. 0 in production.
RETRO_CHUNK_PAUSE_SECONDS = env_int("RETRO_CHUNK_PAUSE_SECONDS", 0, minimum=0)

# No member data in the logs: lines name requests by path (never the query string) and cases by
# number, and tracebacks leave out exception messages, which can quote a database row
# (casemgmt/audit/logs.py), unless LOG_EXCEPTION_DETAIL is on (never with real member data).
# Django's "mail the admins" handler is dropped: it would send the whole request, POST body too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "member_data_safe": {
            "()": "casemgmt.audit.logs.MemberDataSafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "exception_detail": env_bool("LOG_EXCEPTION_DETAIL", default=False),
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "member_data_safe"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # django-axes logs every sign-in at INFO; failures and lockouts are WARNING, and are kept.
        "axes": {"level": "WARNING"},
        # WeasyPrint logs each step of every letter's layout at INFO.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# Audit log: the client address is REMOTE_ADDR; X-Forwarded-For is believed only from these
# proxies (comma-separated addresses or networks, e.g. 10.0.0.0/8), which must be the ones that
# set it. Empty: the header is ignored, since any client can send it.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
