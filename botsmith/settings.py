"""Django settings, all read from the environment (a ``.env`` file at the root is read when present).

Every knob has a safe default and a line in the README's "Configuration" table.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
_env_file = Path(os.environ.get("BOTSMITH_ENV_FILE", BASE_DIR / ".env"))
if _env_file.is_file():
    env.read_env(str(_env_file))

# --- Core -------------------------------------------------------------------------------------
_INSECURE_KEYS = {"", "change-me", "django-insecure-dev-key"}
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-key")
if not DEBUG and (SECRET_KEY in _INSECURE_KEYS or len(SECRET_KEY) < 20):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or is the insecure default while DEBUG is off. "
        "Set SECRET_KEY in the environment or in .env (make run writes one for development)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "botsmith.apps.BotsmithConfig",
    "sources.apps.SourcesConfig",
    "notifications.apps.NotificationsConfig",
    "analytics.apps.AnalyticsConfig",
    "retrieval.apps.RetrievalConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "botsmith.urls"
WSGI_APPLICATION = "botsmith.wsgi.application"
ASGI_APPLICATION = "botsmith.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database ---------------------------------------------------------------------------------
# An empty DATABASE_URL means "not set": the SQLite default.
DATABASES = {"default": env.db_url_config(env("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
# A per-process test database name: concurrent test runs never share one, and the file-backed
# SQLite test database is visible to the worker subprocess that integration tests start.
if _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    _db["OPTIONS"] = {
        # Web and worker processes write at once: WAL lets readers proceed during a write,
        # IMMEDIATE takes the write lock at BEGIN so two writers queue instead of deadlocking,
        # and the busy timeout makes the queueing wait instead of raising "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # Connection budget (README "Connection budget"). Web processes share a bounded psycopg pool
    # per process: request threads borrow a connection and give it back, so neither the threaded
    # dev server nor gunicorn threads can grow past DB_POOL_MAX_SIZE. Celery processes drop the
    # pool at start (botsmith.db.use_worker_connections): a pool opened before prefork forks is
    # shared by every child and its threads do not survive the fork, and one child runs one task
    # at a time, so one plain connection per child is the bound there.
    DB_PGBOUNCER = env.bool("DB_PGBOUNCER", default=False)
    _options = _db.setdefault("OPTIONS", {})
    # Shown in pg_stat_activity; Celery processes replace the suffix with their own type
    # (botsmith-worker, botsmith-worker-main, botsmith-beat) so each connection has an owner.
    _options.setdefault("application_name", env("DB_APPLICATION_NAME", default="botsmith-web"))
    _db["CONN_HEALTH_CHECKS"] = True
    if DB_PGBOUNCER:
        # Transaction pooling: a server connection changes between transactions, so named
        # server-side cursors and prepared statements cannot survive; PgBouncer does the pooling.
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _options["prepare_threshold"] = None
        _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    elif env.bool("DB_POOL", default=True):
        _db["CONN_MAX_AGE"] = 0  # required with a pool: closing a connection returns it to the pool
        _options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    else:
        _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    # Celery processes keep their one connection between tasks for this long (seconds).
    DB_WORKER_CONN_MAX_AGE = env.int("DB_WORKER_CONN_MAX_AGE", default=600)
    _db["TEST"] = {"NAME": f"test_{_db['NAME']}_{os.getpid()}"}

# Retry-After of the API's 503 when the database refuses connections (or the pool is exhausted).
DB_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("DB_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Files ------------------------------------------------------------------------------------
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("MAX_FILES_PER_UPLOAD", default=20)

# Object storage (S3) ------------------------------------------------------------------------
# Stored uploads go to an S3 bucket (AWS, SeaweedFS, MinIO, ...) when AWS_STORAGE_BUCKET_NAME is set,
# so web and worker hosts share no filesystem. Names are django-storages' own settings. Objects stay
# private: no ACL is sent (the bucket's default, private), and no view or admin page hands out URLs.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default="") or None  # empty: AWS itself
    # Empty keys: boto3's own chain (instance role, AWS_PROFILE, ~/.aws) finds the credentials.
    AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default="") or None
    AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default="") or None
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default="") or None
    AWS_LOCATION = env("AWS_LOCATION", default="")  # key prefix inside the bucket, e.g. "botsmith/prod"
    AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE", default="") or None  # "path" for most self-hosted
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True  # a URL, should anything ever build one, is signed and expires
    AWS_QUERYSTRING_EXPIRE = 300
    AWS_S3_FILE_OVERWRITE = False  # names are random already; never replace another upload's object
    # storage.open() buffers a whole object; past this size the buffer is a temp file, not memory.
    # (The worker does not use it: sources.services.stored_files streams the object to disk.)
    AWS_S3_MAX_MEMORY_SIZE = env.int("AWS_S3_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
    # A client config replaces django-storages' own, so it repeats the addressing style and signature.
    AWS_S3_CLIENT_CONFIG = _BotoConfig(
        s3={"addressing_style": AWS_S3_ADDRESSING_STYLE}, signature_version=AWS_S3_SIGNATURE_VERSION,
        connect_timeout=env.float("AWS_S3_CONNECT_TIMEOUT", default=5.0),
        read_timeout=env.float("AWS_S3_READ_TIMEOUT", default=60.0),
        retries={"max_attempts": env.int("AWS_S3_MAX_ATTEMPTS", default=5), "mode": "standard"},
    )

# --- Auth, i18n -------------------------------------------------------------------------------
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

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env("UPLOAD_THROTTLE_RATE", default="60/min"),
        "health": env("HEALTH_THROTTLE_RATE", default="120/min"),
        "metrics": env("METRICS_THROTTLE_RATE", default="60/min"),
    },
    "EXCEPTION_HANDLER": "botsmith.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BotSmith API",
    "DESCRIPTION": "Knowledge sources, processing status, notifications and analytics for BotSmith chatbots.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's pinned copies in our static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "SourceStatusEnum": "sources.models.Source.Status",
        "ReportStatusEnum": "analytics.models.AnalyticsReport.Status",
    },
}

# --- Celery -----------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
# django-celery-results, retrying a database hiccup with backoff; when the database stays away
# the task's message is requeued instead of acknowledged (botsmith/results.py).
CELERY_RESULT_BACKEND = "botsmith.results:RetryingDatabaseBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = env.int("RESULT_BACKEND_MAX_RETRIES", default=6)
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 250
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 5000
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=env.int("CELERY_RESULT_EXPIRES_DAYS", default=7))
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60) or None  # 0: hard limit only
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=1000)
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # keep retrying after a Redis outage
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue(name) for name in ("default", "documents", "websites", "notifications", "embeddings")]
CELERY_TASK_ROUTES = {
    "sources.tasks.process_document": {"queue": "documents"},
    "sources.tasks.scrape_website": {"queue": "websites"},
    "notifications.tasks.*": {"queue": "notifications"},
    "retrieval.tasks.embed_source": {"queue": "embeddings"},
}
# DatabaseScheduler plus a per-slot lock, so two beats started by mistake do not double-send.
CELERY_BEAT_SCHEDULER = "botsmith.beat:LockingDatabaseScheduler"
# Redis redelivers an unacknowledged message after the visibility timeout; with late acks it
# must outlast the longest task (hard limit) plus the longest retry countdown, or a healthy
# long task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
}
_key_prefix = env("CELERY_BROKER_KEY_PREFIX", default="")
if _key_prefix:
    # Isolates one deployment (or one test run) from others sharing a Redis database.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _key_prefix
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded fallback broker for machines without Redis (make run says when it is used).
    _broker_dir = Path(env("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(_broker_dir / "queue"),
            "data_folder_out": str(_broker_dir / "queue"),
            "processed_folder": str(_broker_dir / "processed"),
            "control_folder": str(_broker_dir / "control"),
            "store_processed": False,
        }
    )
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Scaling out: RabbitMQ as the broker (README "Scaling out") ---------------------------------
# CELERY_BROKER_URL=amqp://user:password@host:5672/vhost. Redis then holds only what the broker did
# besides queues: the shared cache, worker heartbeats, beat ticks and task counters, at REDIS_URL
# (REDIS_URL= empty: none of those; the cache is per process and readiness pings the workers).
_amqp_schemes = ("amqp://", "amqps://", "pyamqp://")
CELERY_BROKER_IS_RABBITMQ = CELERY_BROKER_URL.startswith(_amqp_schemes)
# Key prefix of the operational Redis keys; on Redis it is the broker's, on RabbitMQ a vhost isolates queues.
OPERATIONS_KEY_PREFIX = _key_prefix
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    OPERATIONS_REDIS_URL = CELERY_BROKER_URL
elif CELERY_BROKER_IS_RABBITMQ and REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    OPERATIONS_REDIS_URL = REDIS_URL
else:
    OPERATIONS_REDIS_URL = ""  # the embedded file-system broker of `make run`, or REDIS_URL= empty
if CELERY_BROKER_IS_RABBITMQ:
    # No Redis-only options (visibility timeout, key prefix). RabbitMQ requeues an unacknowledged
    # message as soon as the consumer's connection closes, so a killed worker's task goes to another
    # one at once; its consumer_timeout (rabbitmq.conf) must outlast CELERY_TASK_TIME_LIMIT instead.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Publisher confirms: apply_async returns once RabbitMQ has the message (written, for quorum queues).
        "confirm_publish": env.bool("CELERY_BROKER_CONFIRM_PUBLISH", default=True),
    }
    CELERY_BROKER_HEARTBEAT = env.int("CELERY_BROKER_HEARTBEAT", default=60)
    if env.bool("CELERY_RABBITMQ_QUORUM_QUEUES", default=False):
        # Replicated, durable queues: the production choice on a RabbitMQ cluster. Celery detects them and
        # uses per-consumer QoS (quorum queues have no global QoS). Topic exchanges let countdowns and ETAs
        # (task retries) use RabbitMQ's native delayed delivery instead of a worker holding the message.
        CELERY_TASK_QUEUES = [
            Queue(q.name, Exchange(q.name, type="topic"), routing_key=q.name,
                  queue_arguments={"x-queue-type": "quorum"})
            for q in CELERY_TASK_QUEUES
        ]
        CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
        CELERY_WORKER_DETECT_QUORUM_QUEUES = True

# --- Cache ------------------------------------------------------------------------------------
# Throttle counters live here: on Redis they are shared by every web process and host, so a limit
# is global. Defaults to the broker's Redis (REDIS_URL with RabbitMQ); the process-local memory cache otherwise.
_redis_schemes = ("redis://", "rediss://", "unix://")
CACHE_URL = env("CACHE_URL", default=OPERATIONS_REDIS_URL or "locmemcache://")
if CACHE_URL.startswith(_redis_schemes):
    CACHES = {
        "default": {
            # RedisCache whose clear() deletes only its own keys (never FLUSHDB) and that fails open.
            "BACKEND": "botsmith.cache.PrefixedRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="botsmith:cache"),
            "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
        }
    }
else:
    CACHES = {"default": env.cache_url_config(CACHE_URL)}

# --- BotSmith limits --------------------------------------------------------------------------
MAX_UPLOAD_SIZE = env.int("MAX_UPLOAD_SIZE", default=50 * 1024 * 1024)
DEFAULT_CHUNK_SIZE = env.int("DEFAULT_CHUNK_SIZE", default=1000)
DEFAULT_CHUNK_OVERLAP = env.int("DEFAULT_CHUNK_OVERLAP", default=150)
MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 8000
CHUNK_INSERT_BATCH_SIZE = env.int("CHUNK_INSERT_BATCH_SIZE", default=2000)
MAX_PDF_PAGES = env.int("MAX_PDF_PAGES", default=2000)
MAX_SHEET_ROWS = env.int("MAX_SHEET_ROWS", default=1_000_000)
TRUNCATE_OVER_LIMIT = env.bool("TRUNCATE_OVER_LIMIT", default=False)
MAX_SOURCES_PER_CHATBOT = env.int("MAX_SOURCES_PER_CHATBOT", default=1000)
MAX_BYTES_PER_CHATBOT = env.int("MAX_BYTES_PER_CHATBOT", default=2 * 1024 * 1024 * 1024)
EXTRACTION_MEMORY_LIMIT_MB = env.int("EXTRACTION_MEMORY_LIMIT_MB", default=1024)
EXTRACTION_CPU_LIMIT_SECONDS = env.int("EXTRACTION_CPU_LIMIT_SECONDS", default=20 * 60)
# Lighter pipeline (issue 14): extraction children forked from a warm template process per worker
# process (false: a fresh interpreter per document); spreadsheets whose largest sheet is bigger
# than the threshold (uncompressed XML bytes) are read by the streaming reader so memory stays flat.
EXTRACTION_WARM_TEMPLATE = env.bool("EXTRACTION_WARM_TEMPLATE", default=True)
XLSX_STREAMING_THRESHOLD_MB = env.int("XLSX_STREAMING_THRESHOLD_MB", default=64)
# OCR (Tesseract): languages as Tesseract's -l argument ("eng+deu"); each needs its tesseract-ocr-<lang> package.
OCR_LANGUAGES = env.str("OCR_LANGUAGES", default="eng")
OCR_COMMAND = env.str("OCR_COMMAND", default="tesseract")
OCR_DPI = env.int("OCR_DPI", default=300)
OCR_WORKERS = env.int("OCR_WORKERS", default=0)  # engine processes per document; 0 = one per core
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=60_000_000)
PROCESSING_MAX_ATTEMPTS = env.int("PROCESSING_MAX_ATTEMPTS", default=3)
# Fair queues: sources of one chatbot in the broker or running at once; the rest wait `queued`. 0: no cap.
MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = env.int("MAX_SOURCES_IN_FLIGHT_PER_CHATBOT", default=4)
HEARTBEAT_INTERVAL_SECONDS = env.float("HEARTBEAT_INTERVAL_SECONDS", default=10.0)
STUCK_PROCESSING_AFTER_SECONDS = env.int("STUCK_PROCESSING_AFTER_SECONDS", default=5 * 60)
STUCK_PENDING_AFTER_SECONDS = env.int("STUCK_PENDING_AFTER_SECONDS", default=30 * 60)
# A pending source whose message is in no queue and held by no worker was lost: requeue it this
# soon (the grace covers the moment between commit and publish), not after the long window.
LOST_PENDING_AFTER_SECONDS = env.int("LOST_PENDING_AFTER_SECONDS", default=120)
SCRAPER_ALLOW_PRIVATE_NETWORKS = env.bool("SCRAPER_ALLOW_PRIVATE_NETWORKS", default=False)
SCRAPER_MAX_PAGES = env.int("SCRAPER_MAX_PAGES", default=200)
SCRAPER_MAX_DEPTH = env.int("SCRAPER_MAX_DEPTH", default=5)
SCRAPER_MAX_BYTES = env.int("SCRAPER_MAX_BYTES", default=10 * 1024 * 1024)
SCRAPER_DELAY_SECONDS = env.float("SCRAPER_DELAY_SECONDS", default=1.0)
SCRAPER_PAGE_TIMEOUT_SECONDS = env.int("SCRAPER_PAGE_TIMEOUT_SECONDS", default=30)
CLEANUP_MIN_DAYS = env.int("CLEANUP_MIN_DAYS", default=1)
CLEANUP_BATCH_SIZE = env.int("CLEANUP_BATCH_SIZE", default=1000)
NOTIFICATIONS_EMAIL_ENABLED = env.bool("NOTIFICATIONS_EMAIL_ENABLED", default=False)
# --- Website rendering (headless Chromium behind the guard proxy, issue #15) ---
# Networks (CIDRs) fetched even when SCRAPER_ALLOW_PRIVATE_NETWORKS is false: one intranet host, a test site.
SCRAPER_ALLOWED_NETWORKS = env.list("SCRAPER_ALLOWED_NETWORKS", default=[])
SCRAPER_CHROMIUM_PATH = env.str("SCRAPER_CHROMIUM_PATH", default="chromium")
SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS = env.float("SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS", default=20.0)
SCRAPER_RENDER_SETTLE_MS = env.int("SCRAPER_RENDER_SETTLE_MS", default=500)
SCRAPER_RENDER_MAX_PAGES = env.int("SCRAPER_RENDER_MAX_PAGES", default=100)  # rendered pages per crawl
SCRAPER_RENDER_CONCURRENCY = env.int("SCRAPER_RENDER_CONCURRENCY", default=2)  # browser pages at once per host
SCRAPER_RENDER_MAX_MEMORY_MB = env.int("SCRAPER_RENDER_MAX_MEMORY_MB", default=1024)  # PSS of one browser
SCRAPER_RENDER_MIN_TEXT_CHARS = env.int("SCRAPER_RENDER_MIN_TEXT_CHARS", default=100)
# Lock files of the per-host page slots; "" = $TMPDIR/botsmith-render-slots.
SCRAPER_RENDER_SLOT_DIR = env.str("SCRAPER_RENDER_SLOT_DIR", default="")

# --- Retrieval --------------------------------------------------------------------------------
# Embeddings: "local" runs all-MiniLM-L6-v2 in process (requirements-models.txt, no torch, no network),
# "openai" calls any OpenAI-compatible /embeddings endpoint, "none" keeps search keyword-only.
EMBEDDINGS_BACKEND = env("EMBEDDINGS_BACKEND", default="local")
EMBEDDINGS_MODEL = env("EMBEDDINGS_MODEL", default="")  # local: all-MiniLM-L6-v2; openai: required
EMBEDDINGS_BATCH_SIZE = env.int("EMBEDDINGS_BATCH_SIZE", default=32)
EMBEDDINGS_THREADS = env.int("EMBEDDINGS_THREADS", default=0) or None  # local backend; 0 = all cores
OPENAI_EMBEDDINGS_BASE_URL = env("OPENAI_EMBEDDINGS_BASE_URL", default="https://api.openai.com/v1")
OPENAI_EMBEDDINGS_API_KEY = env("OPENAI_EMBEDDINGS_API_KEY", default="")
EMBEDDINGS_DIMENSION = env.int("EMBEDDINGS_DIMENSION", default=0) or None  # openai: 0 = learn from the first reply
EMBEDDINGS_TIMEOUT_SECONDS = env.float("EMBEDDINGS_TIMEOUT_SECONDS", default=30.0)
EMBEDDINGS_MAX_RETRIES = env.int("EMBEDDINGS_MAX_RETRIES", default=4)

# --- Search ---------------------------------------------------------------------------------
SEARCH_MAX_QUERY_CHARS = env.int("SEARCH_MAX_QUERY_CHARS", default=1000)
SEARCH_MAX_K = env.int("SEARCH_MAX_K", default=50)
SEARCH_FUSION_DEPTH = env.int("SEARCH_FUSION_DEPTH", default=50)
SEARCH_KEYWORD_MAX_POSTINGS = env.int("SEARCH_KEYWORD_MAX_POSTINGS", default=5000)
SEARCH_VECTOR_CACHE_MB = env.int("SEARCH_VECTOR_CACHE_MB", default=512)
SEARCH_VECTOR_REFRESH_SECONDS = env.float("SEARCH_VECTOR_REFRESH_SECONDS", default=30.0)
EMBEDDINGS_SLICE_SECONDS = env.float("EMBEDDINGS_SLICE_SECONDS", default=300.0)
EMBEDDINGS_CLAIM_STALE_SECONDS = env.int("EMBEDDINGS_CLAIM_STALE_SECONDS", default=180)
EMBEDDINGS_RETRY_FAILED_AFTER_SECONDS = env.int("EMBEDDINGS_RETRY_FAILED_AFTER_SECONDS", default=3600)
EMBEDDINGS_SYNC_BATCH = env.int("EMBEDDINGS_SYNC_BATCH", default=500)

# --- Operating: health, metrics, logs ----------------------------------------------------------
# Workers publish a heartbeat to the broker's Redis; readiness counts those seen within the TTL.
WORKER_HEARTBEAT_INTERVAL_SECONDS = env.float("WORKER_HEARTBEAT_INTERVAL_SECONDS", default=5.0)
WORKER_HEARTBEAT_TTL_SECONDS = env.float("WORKER_HEARTBEAT_TTL_SECONDS", default=20.0)
# Bearer token for /api/health/ details and /metrics; empty disables token access.
MONITORING_TOKEN = env("MONITORING_TOKEN", default="")
# /metrics also answers without a token to these networks (REMOTE_ADDR, not forwarded headers). Empty by
# default: behind a reverse proxy on the same host every request comes from 127.0.0.1.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
LOG_FORMAT = env("LOG_FORMAT", default="plain")  # "plain" or "json" (one JSON object per line)
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}")

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="BotSmith <noreply@localhost>")

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "botsmith.logs.JsonFormatter"},
    },
    "filters": {"task_context": {"()": "botsmith.logs.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["task_context"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
