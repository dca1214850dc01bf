"""voiceid settings: one file, driven by the environment. Unset variables give the embedded default."""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("VOICEID_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"


def _read_secret(name: str) -> str | None:
    """`NAME` from the environment, or the contents of the file named by `NAME_FILE` (Docker secrets)."""
    if value := env.str(name, default=""):
        return value
    if path := env.str(f"{name}_FILE", default=""):
        return Path(path).read_text().strip()
    return None


_LOCAL_SECRET_FILE = VAR_DIR / "secret_key"  # written by `make run` for the local demo
SECRET_KEY = (
    _read_secret("SECRET_KEY")
    or (_LOCAL_SECRET_FILE.read_text().strip() if _LOCAL_SECRET_FILE.exists() else "")
    or (_DEV_SECRET_KEY if DEBUG else "")
)
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY (or SECRET_KEY_FILE) must be set to a random value of at least 32 characters "
        "when DEBUG is off. `make run` generates one in var/secret_key for the local demo."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "voiceid_site",
    "accounts",
    "domains",
    "speakers",
    "fraudsters",
    "jobs",
    "calls",
    "events",
    "audit",
]

MIDDLEWARE = [
    "voiceid_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "voiceid_site.middleware.ApiMiddleware",  # API calls (POST /) skip the dashboard's layers below
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "voiceid_site.middleware.PrivatePagesMiddleware",  # no page is stored by the browser (Back refetches)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditMiddleware",  # records dashboard and admin actions (audit/catalogue.py)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "voiceid_site.middleware.HtmxSignInMiddleware",  # signed out in another tab: sign in as a whole page
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "voiceid_site.middleware.NulRefusingMiddleware",  # a NUL in a field: a 400 page, not PostgreSQL's 500
]

ROOT_URLCONF = "voiceid_site.urls"
WSGI_APPLICATION = "voiceid_site.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# Database: SQLite in VAR_DIR unless DATABASE_URL names another (PostgreSQL in production).
# https://docs.djangoproject.com/en/6.1/ref/databases/#sqlite-transaction-behavior
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend, waiting for the write lock in short steps (see the module).
            "ENGINE": "voiceid_site.sqlite_backend",
            "NAME": VAR_DIR / "voiceid.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait there (for up to
                # `timeout` seconds) instead of failing with "database is locked" half-way through a transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                # A checkpoint (copying the write-ahead log into the database file, with two fsyncs) runs in
                # the request whose commit fills the log, which then waits on the disk. SQLite's default, every
                # 1,000 pages (4 MB), meant one every ~70 chunks of live calls (each saves a 40 KB stream
                # state): several a second at 50 calls. 10,000 pages (40 MB) let the server take ~15 % more
                # chunks a second (docs/benchmarks.md), for a log file that may reach 40 MB.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;"
                ),
            },
            # Opening a SQLite connection costs ~2.4 ms of CPU (Django registers its SQL functions on every
            # new one): as much as the rest of a PutSessionAudio's database work. Each server thread keeps
            # its own for a minute, as PostgreSQL's are kept; in autocommit it holds no snapshot or lock.
            "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set, else per-process memory.
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a kombu filesystem broker in VAR_DIR by default (single host only); Redis in production.
# https://docs.celeryq.dev/projects/kombu/en/latest/reference/kombu.transport.filesystem.html
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Without this kombu writes its control exchange into the current directory.
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Long batch jobs run with acks_late: keep unacknowledged tasks invisible for longer than any job.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=43200)
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The retention sweepers (jobs/sweepers.py). Purge runs hourly so erased audio is gone well within the
# 24 hours spec §6 allows. A sweep that waited past its next turn (no worker up) is dropped by `expires`:
# the next one does the same work.
# https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html#available-fields
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "sweep-expire": {"task": "jobs.sweep_expire", "schedule": 60 * 60, "options": {"expires": 50 * 60}},
    # Sessions that went silent without EndSession get their end recorded (and its event) within a minute.
    "end-idle-sessions": {"task": "calls.end_idle_sessions", "schedule": 60, "options": {"expires": 50}},
    "sweep-purge": {"task": "jobs.sweep_purge", "schedule": 60 * 60, "options": {"expires": 50 * 60}},
    "sweep-erase": {
        "task": "jobs.sweep_erase",
        "schedule": 24 * 60 * 60,
        "options": {"expires": 23 * 60 * 60},
    },
    # Key rotations whose worker died (no heartbeat for VOICEID_ROTATION_STALL_SECONDS) are started again.
    "resume-stalled-rotations": {
        "task": "domains.resume_stalled_rotations",
        "schedule": 60,
        "options": {"expires": 50},
    },
    # Batch jobs whose worker vanished (no progress for VOICEID_JOB_LEASE_SECONDS) or whose start never
    # reached the broker are queued again; claims on their entries expire, so no entry runs twice.
    "resume-stalled-jobs": {
        "task": "jobs.resume_stalled_jobs",
        "schedule": env.float("VOICEID_JOB_RECOVERY_SECONDS", default=60.0),
        "options": {"expires": 50},
    },
    # Webhook deliveries of events (events/) that failed are retried with backoff.
    "deliver-events": {"task": "events.deliver_due", "schedule": 30, "options": {"expires": 25}},
}

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The dashboard's sign-in; the admin keeps its own.
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "root"
LOGOUT_REDIRECT_URL = "accounts:login"

# A strict Content Security Policy for every page: scripts only from here and with the page's nonce
# (htmx is served from django-htmx's vendored copy), no inline styles, no frames.
# https://docs.djangoproject.com/en/6.1/ref/csp/
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
# Session storage: a one-time API secret shown by the admin must never travel in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# HTTPS hardening, on when the deployment terminates TLS (VOICEID_HTTPS=true).
VOICEID_HTTPS = env.bool("VOICEID_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = VOICEID_HTTPS
SECURE_SSL_REDIRECT = VOICEID_HTTPS
SECURE_HSTS_SECONDS = 31536000 if VOICEID_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = VOICEID_HTTPS
SECURE_HSTS_PRELOAD = VOICEID_HTTPS
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("VOICEID_BEHIND_PROXY", default=False) else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# The AWS JSON API.
VOICEID_ACCOUNT_ID = env.str("VOICEID_ACCOUNT_ID", default="000000000000")
if len(VOICEID_ACCOUNT_ID) != 12 or not VOICEID_ACCOUNT_ID.isdigit():
    raise ImproperlyConfigured("VOICEID_ACCOUNT_ID must be exactly 12 digits, like an AWS account id.")
# SigV4 requests more than this far from the server clock are refused, as AWS does.
VOICEID_SIGV4_MAX_SKEW_SECONDS = env.int("VOICEID_SIGV4_MAX_SKEW_SECONDS", default=15 * 60)
VOICEID_NEXT_TOKEN_MAX_AGE_SECONDS = 24 * 60 * 60
# Request bodies: Voice ID's own requests are small, but PutSessionAudio carries up to 20 MiB of audio,
# base64-encoded (4/3 larger), plus the JSON around it.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=28 * 1024 * 1024 + 64 * 1024)

# Encryption at rest (README "Encryption and retention"). Every domain's data key is wrapped by the master
# key its KmsKeyId names: a key of the local keyring, or of AWS KMS when VOICEID_AWS_KMS is on and the id is
# a KMS ARN. Unknown ids get a new local key only when auto-creation is on: the embedded default (no
# DATABASE_URL) so a first run just works; off in production, where a typo must not mint a key.
VOICEID_KMS_AUTO_CREATE = env.bool("VOICEID_KMS_AUTO_CREATE", default=not env.str("DATABASE_URL", default=""))
VOICEID_LOCAL_MASTER_KEYS = env.str("VOICEID_LOCAL_MASTER_KEYS", default="")
VOICEID_LOCAL_MASTER_KEYS_FILE = env.str("VOICEID_LOCAL_MASTER_KEYS_FILE", default="")
VOICEID_AWS_KMS = env.bool("VOICEID_AWS_KMS", default=False)
VOICEID_KMS_ENDPOINT_URL = env.str("VOICEID_KMS_ENDPOINT_URL", default="")
# How long a process keeps an unwrapped data key: also how long a disabled key keeps working elsewhere.
VOICEID_DATA_KEY_CACHE_SECONDS = env.int("VOICEID_DATA_KEY_CACHE_SECONDS", default=60)
# How long a process reuses an access key it looked up (with its secret) before reading it again: a key
# disabled or deleted in the admin stops working in other processes within this time (at once in the process
# that changed it). 0 reads it on every request.
VOICEID_ACCESS_KEY_CACHE_SECONDS = env.int("VOICEID_ACCESS_KEY_CACHE_SECONDS", default=5)
VOICEID_ROTATION_BATCH_SIZE = env.int("VOICEID_ROTATION_BATCH_SIZE", default=500)
# Pause between re-encryption batches, to leave a busy database room for live traffic.
VOICEID_ROTATION_PAUSE_SECONDS = env.float("VOICEID_ROTATION_PAUSE_SECONDS", default=0.0)
# A re-encryption job silent for this long is presumed dead (worker killed) and started again.
VOICEID_ROTATION_STALL_SECONDS = env.int("VOICEID_ROTATION_STALL_SECONDS", default=300)

# Quotas (spec §8.1). Defaults sit far above AWS's: self-hosted capacity is the operator's call.
VOICEID_QUOTAS = {
    "domains_per_account": env.int("VOICEID_QUOTA_DOMAINS", default=100),
    "speakers_per_domain": env.int("VOICEID_QUOTA_SPEAKERS_PER_DOMAIN", default=100_000_000),
    "watchlists_per_domain": env.int("VOICEID_QUOTA_WATCHLISTS_PER_DOMAIN", default=100),
    "fraudsters_per_watchlist": env.int("VOICEID_QUOTA_FRAUDSTERS_PER_WATCHLIST", default=1_000_000),
    "tags_per_domain": env.int("VOICEID_QUOTA_TAGS_PER_DOMAIN", default=200),
    # Sessions PENDING_CONFIGURATION or ONGOING at once (spec §4.9: 50 by default).
    "active_sessions_per_domain": env.int("VOICEID_QUOTA_ACTIVE_SESSIONS_PER_DOMAIN", default=50),
    # Batch jobs (spec §8.1): SUBMITTED or IN_PROGRESS jobs of each kind at once, and entries per job.
    "active_enrollment_jobs_per_domain": env.int(
        "VOICEID_QUOTA_ACTIVE_ENROLLMENT_JOBS_PER_DOMAIN", default=1
    ),
    "active_registration_jobs_per_domain": env.int(
        "VOICEID_QUOTA_ACTIVE_REGISTRATION_JOBS_PER_DOMAIN", default=1
    ),
    "speakers_per_enrollment_job": env.int("VOICEID_QUOTA_SPEAKERS_PER_ENROLLMENT_JOB", default=10_000),
    "fraudsters_per_registration_job": env.int("VOICEID_QUOTA_FRAUDSTERS_PER_REGISTRATION_JOB", default=500),
}

# Retention (spec §5/§6), applied by the sweepers in jobs/sweepers.py. An ENROLLED speaker not accessed
# for this many calendar years becomes EXPIRED.
VOICEID_SPEAKER_EXPIRY_YEARS = env.int("VOICEID_SPEAKER_EXPIRY_YEARS", default=3)
# A deleted (SUSPENDED) domain, its speakers, fraudsters and stored audio are erased this many days later.
VOICEID_DOMAIN_ERASE_DAYS = env.int("VOICEID_DOMAIN_ERASE_DAYS", default=30)
# Rows per batch, each batch its own short transaction: bounds a sweep's memory and its lock times.
VOICEID_SWEEP_BATCH_SIZE = env.int("VOICEID_SWEEP_BATCH_SIZE", default=1000)
if VOICEID_SPEAKER_EXPIRY_YEARS < 1 or VOICEID_DOMAIN_ERASE_DAYS < 0 or VOICEID_SWEEP_BATCH_SIZE < 1:
    # An expiry of 0 years would expire every enrolled speaker on the next sweep.
    raise ImproperlyConfigured(
        "VOICEID_SPEAKER_EXPIRY_YEARS and VOICEID_SWEEP_BATCH_SIZE must be at least 1, "
        "VOICEID_DOMAIN_ERASE_DAYS at least 0."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "voiceid_site.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "voiceid_site.logs.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own request logger prints the path and status, which we already log per request.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # "Found credentials in environment variables" at every S3/KMS client a job or stream_call makes.
        "botocore.credentials": {"level": "WARNING"},
    },
}

# Call sessions (calls/). A session with no audio and no change for this long counts as ENDED.
VOICEID_SESSION_IDLE_SECONDS = env.int("VOICEID_SESSION_IDLE_SECONDS", default=300)
# Net speech an enrollment by session needs (spec §4.2: 30 s).
VOICEID_ENROLLMENT_SPEECH_SECONDS = env.float("VOICEID_ENROLLMENT_SPEECH_SECONDS", default=30.0)
# Session audio is kept this long (spec §5: 24 h) unless it became enrollment audio.
VOICEID_SESSION_AUDIO_RETENTION_HOURS = env.int("VOICEID_SESSION_AUDIO_RETENTION_HOURS", default=24)
# Voice activity detector for new calls: "energy" (exact across requests), "webrtc" (needs webrtcvad-wheels)
# or "auto" (webrtc when installed).
VOICEID_VAD = env.str("VOICEID_VAD", default="energy")
# The speaker model's weights (scripts/fetch-model puts them in var/models/ at install time).
VOICEID_MODEL_PATH = env.str("VOICEID_MODEL_PATH", default="")

# Batch jobs (jobs/). s3:// URIs resolve to VOICEID_LOCAL_S3_ROOT/<bucket>/<key> unless an S3 endpoint is
# configured, in which case they go to that S3 API (any S3-compatible store) with these credentials.
VOICEID_LOCAL_S3_ROOT = Path(env.str("VOICEID_LOCAL_S3_ROOT", default=str(VAR_DIR / "s3")))
VOICEID_S3_ENDPOINT_URL = env.str("VOICEID_S3_ENDPOINT_URL", default="")
VOICEID_S3_REGION = env.str("VOICEID_S3_REGION", default="us-east-1")
VOICEID_S3_ACCESS_KEY_ID = env.str("VOICEID_S3_ACCESS_KEY_ID", default="")
VOICEID_S3_SECRET_ACCESS_KEY = _read_secret("VOICEID_S3_SECRET_ACCESS_KEY") or ""
# Bucket where the dashboard stores uploaded manifests and recordings (s3://<bucket>/uploads/<random>/…);
# in the embedded default it is the folder VOICEID_LOCAL_S3_ROOT/<bucket>, created on first upload.
VOICEID_UPLOAD_BUCKET = env.str("VOICEID_UPLOAD_BUCKET", default="voiceid-uploads")
# An entry claimed by a worker that stops making progress for this long is given to another worker.
VOICEID_JOB_LEASE_SECONDS = env.int("VOICEID_JOB_LEASE_SECONDS", default=300)
# How many workers may share one job's entries (each takes one `jobs.run_job` task).
VOICEID_JOB_PARALLELISM = env.int("VOICEID_JOB_PARALLELISM", default=8)

# Events (events/, docs/events.md): signed webhook deliveries of Voice ID's EventBridge-shaped events.
VOICEID_EVENT_TIMEOUT_SECONDS = env.float("VOICEID_EVENT_TIMEOUT_SECONDS", default=10.0)
VOICEID_EVENT_MAX_ATTEMPTS = env.int("VOICEID_EVENT_MAX_ATTEMPTS", default=12)
VOICEID_EVENT_RETRY_BASE_SECONDS = env.float("VOICEID_EVENT_RETRY_BASE_SECONDS", default=30.0)
VOICEID_EVENT_RETRY_MAX_SECONDS = env.float("VOICEID_EVENT_RETRY_MAX_SECONDS", default=3600.0)
VOICEID_EVENT_RETENTION_DAYS = env.int("VOICEID_EVENT_RETENTION_DAYS", default=30)

# Audit log (audit/, docs/audit.md). Behind a reverse proxy the client's address is the last entry that
# proxy appended to X-Forwarded-For; otherwise X-Forwarded-For is ignored (a client could write anything).
VOICEID_BEHIND_PROXY = env.bool("VOICEID_BEHIND_PROXY", default=False)
# Events older than this are removed by a daily sweep; 0 keeps them forever. 400 days covers a yearly audit.
VOICEID_AUDIT_RETENTION_DAYS = env.int("VOICEID_AUDIT_RETENTION_DAYS", default=400)
CELERY_BEAT_SCHEDULE["audit-purge"] = {
    "task": "audit.purge_expired",
    "schedule": 24 * 60 * 60,
    "options": {"expires": 23 * 60 * 60},
}
