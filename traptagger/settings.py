"""TrapTagger settings, read from the environment.

Two modes share this one module:

* **embedded** (the default, nothing set): SQLite under ``var/``, media under
  ``var/media``, an in-memory channel layer and a Celery broker on the local
  file system, so that ``make run`` needs no external service.
* **production** (``TRAPTAGGER_MODE=production``): ``SECRET_KEY`` and
  ``ALLOWED_HOSTS`` must come from the environment; ``DATABASE_URL`` (MySQL),
  ``REDIS_URL`` and the S3 variables are expected.

Every default can be overridden one variable at a time, so that two instances
can run side by side on one machine without sharing state.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from . import key_strength, mail_config, redis_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

MODE = env.str("TRAPTAGGER_MODE", default="embedded")
if MODE not in ("embedded", "production"):
    raise ImproperlyConfigured(
        f"TRAPTAGGER_MODE must be 'embedded' or 'production', not {MODE!r}."
    )
PRODUCTION = MODE == "production"

# All local state (SQLite file, media, broker files, secret key) lives here.
VAR_DIR = Path(env.str("TRAPTAGGER_VAR_DIR", default=str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    """Return the embedded instance's secret key, generating it once under var/."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


_WEAK_KEY_WORDS = ("change", "secret", "insecure", "example", "password", "default")
# Bits of randomness a production SECRET_KEY must hold, as key_strength estimates them.
SECRET_KEY_MIN_BITS = env.int("SECRET_KEY_MIN_BITS", default=128)


def _check_secret_key(key: str) -> None:
    """Refuse a production key that is short, guessable (repeats, sequences) or a placeholder."""
    bits = key_strength.estimated_bits(key)
    if len(key) < 50 or bits < SECRET_KEY_MIN_BITS or any(
            w in key.lower() for w in _WEAK_KEY_WORDS):
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production: {len(key)} characters worth about "
            f"{bits:.0f} bits of randomness (at least 50 characters and "
            f"SECRET_KEY_MIN_BITS={SECRET_KEY_MIN_BITS} bits are needed; repeats, sequences "
            "and placeholder words count for little). Use 50 random characters: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production mode the secret key must come "
            "from the environment: export SECRET_KEY=<a long random string>."
        )
    SECRET_KEY = _embedded_secret_key()
elif PRODUCTION:
    _check_secret_key(SECRET_KEY)

DEBUG = env.bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "DEBUG is on in production mode: error pages would show settings, code and data to "
        "anyone. Remove DEBUG from the environment (or set DEBUG=false); to debug, run the "
        "embedded mode."
    )

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. In production mode list the host names this "
        "instance answers to, e.g. ALLOWED_HOSTS=traptagger.example.org."
    )
if PRODUCTION and any("*" in host for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS holds a wildcard (*). In production list the host names this "
        "instance answers to; a wildcard lets forged Host headers through."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "axes",
    "django_countries",
    "csp",
    "core",
    "accounts.apps.AccountsConfig",
    "surveys",
    "classifiers",
    "annotation",
    "results",
    "training",
    "demo",
    "insights",
]

MIDDLEWARE = [
    "core.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.TextInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.ServiceUnavailableMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: turns a log-in refused by django-axes into the lockout page (accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "traptagger.urls"
ASGI_APPLICATION = "traptagger.asgi.application"
WSGI_APPLICATION = None

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

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    )
}
_db = DATABASES["default"]
if "mysql" in _db["ENGINE"]:
    try:
        import MySQLdb  # noqa: F401
    except ImportError as exc:
        raise ImproperlyConfigured(
            "DATABASE_URL names MySQL but its driver, mysqlclient, is not installed. "
            "Install it with: apt-get install -y libmariadb-dev pkg-config && "
            "pip install -r requirements/mysql.txt"
        ) from exc
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("charset", "utf8mb4")
    _db["OPTIONS"].setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif "sqlite" in _db["ENGINE"]:
    # A file (not :memory:) so that worker and server processes started by
    # tests see the same test database.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    _db.setdefault("OPTIONS", {})
    # WAL lets the web server read while a worker writes.
    _db["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    _db["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    _db["OPTIONS"].setdefault("timeout", 30)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses log-ins of a locked-out address before any password is checked, on
    # every login form (django-axes; accounts.lockout).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- allauth --------------------------------------------------------------
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# allauth's own failed-login limit locks an account for anyone after 5 failures,
# which lets a stranger lock its owner out; django-axes (below) replaces it.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
# "mandatory": a new account logs in once its address is confirmed. With it (and only
# with it) allauth answers a sign-up with an address already registered exactly as a new
# one ("we sent you a confirmation mail") and mails the owner instead, so sign-up does not
# tell strangers who has an account. Accounts made by operators and staff (enquiries,
# create_organisation, add_member) have their address verified when made. Needs working
# mail (EMAIL_URL). "optional" or "none" let sign-up reveal registered addresses.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files and media -------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Media is never served directly: images are org-owned and go through a view
# that checks membership (surveys.views.image_file).
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # served from the finders meanwhile

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env.str("AWS_LOCATION", default=""),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Redis, channels and Celery -------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": redis_config.channel_layer(
            REDIS_URL, prefix=env.str("CHANNELS_PREFIX", default="traptagger")),
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# True when a message sent from any process reaches every consumer. When it
# is False, events raised outside the web server go through the database
# outbox (core.broadcast) and the server relays them.
CHANNEL_LAYER_SHARED = bool(REDIS_URL)
# The cache holds plots and rate-limit counts: shared through Redis when there is one
# (several web nodes), else in the one web process. Redis down: it runs without it
# (core.cache), trying again after CACHE_RETRY_SECONDS.
CACHE_RETRY_SECONDS = env.float("CACHE_RETRY_SECONDS", default=10)
if REDIS_URL:
    CACHES = {"default": {
        "BACKEND": "core.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CHANNELS_PREFIX", default="traptagger") + "-cache",
        "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
    }}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
BROADCAST_RELAY_INTERVAL = env.float("BROADCAST_RELAY_INTERVAL", default=0.5)

CELERY_BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery")))
# (kombu ignores the host of a filesystem URL but warns when there is none)
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/"
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "control"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks for work; also bounds how long a stop waits.
        "polling_interval": 0.2,
    }
    # The file-system transport has no broadcast: no remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = redis_config.broker_transport_options()
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through the project's LOGGING (JSON lines in production) like the web nodes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "annotation-release-expired-leases": {
        "task": "annotation.release_expired_leases",
        "schedule": 60.0,
    },
    "surveys-resume-stale-work": {
        "task": "surveys.resume_stale_work",
        "schedule": 300.0,
    },
    "core-purge-broadcasts": {
        "task": "core.purge_broadcasts",
        "schedule": 600.0,
    },
    # Named as when exports lived in the training app (results.tasks keeps the names).
    "training-expire-exports": {
        "task": "training.expire_exports",
        "schedule": 3600.0,
    },
}

# --- Email --------------------------------------------------------------------
# All outgoing mail from one URL (see traptagger/mail_config.py), e.g.
# EMAIL_URL=smtp+tls://user:password@mail.example.org:587. The default writes mail to
# the log (embedded and development use). A malformed URL is reported in one line at
# start-up (core.startup) and mail goes to the log meanwhile.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
_email, EMAIL_URL_PROBLEM = mail_config.email_settings(EMAIL_URL)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=_email.get("EMAIL_BACKEND") or
                        mail_config.CONSOLE)
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
if _email.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
# Sign-up and password-reset mail leaves inside the request: a mail server that does not
# answer must not hold it for long.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="traptagger@localhost")

# --- Security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # TLS ends at the proxy (deploy/nginx.conf), which says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]  # load balancers probe over plain HTTP
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    # Preloading is a separate commitment to browser vendors; an operator opts in.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Failed log-ins (django-axes; accounts.lockout) ---------------------------
# An address may fail LOGIN_FAILURE_LIMIT times in LOGIN_COOLOFF_MINUTES; further
# attempts from it are refused (429) before any password is checked.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_COOLOFF_MINUTES = env.float("LOGIN_COOLOFF_MINUTES", default=10)
AXES_HANDLER = "accounts.lockout.AtomicAttemptHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = "accounts.lockout.cool_off"
# Per address (any accounts) and per account from that address; never per account
# alone, which would let a stranger anywhere lock its owner out.
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.lockout.login_name"  # admin: username; allauth: login
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The backend flags a refused attempt itself; the handler counted it already.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_SENSITIVE_PARAMETERS = ["username", "login", "ip_address"]
AXES_VERBOSE = False  # no start-up banner on every command
# Addresses: REMOTE_ADDR, which daphne sets from X-Forwarded-For behind the proxy.

# Content-Security-Policy (django-csp): scripts only from this site, never eval
# ('unsafe-eval'), no inline script; images also from the media store (S3) when remote.
# A label or file name that slipped through escaping still could not run.
CSP_IMG_SOURCES = env.list("CSP_IMG_SOURCES", default=[])
_media_origin = env.str("AWS_S3_ENDPOINT_URL", default="") or (
    f"https://{env.str('AWS_STORAGE_BUCKET_NAME')}.s3.amazonaws.com"
    if env.str("AWS_STORAGE_BUCKET_NAME", default="") else "")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],  # the admin sets style attributes
        "img-src": [SELF, "data:", *filter(None, [_media_origin]), *CSP_IMG_SOURCES],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Domain defaults --------------------------------------------------------------
# Pillow refuses images above this many pixels (decompression bombs).
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=120_000_000)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=200)
# Sharing the import workers (surveys.services.import_queue): an import task works
# this long, then goes to the back of the queue; at most this many runs of one
# organisation hold a worker at once, and a run that finds them all taken is
# sent again after IMPORT_DEFER_SECONDS.
IMPORT_SLICE_SECONDS = env.float("IMPORT_SLICE_SECONDS", default=120)
IMPORT_SLOTS_PER_ORGANISATION = env.int("IMPORT_SLOTS_PER_ORGANISATION", default=2)
IMPORT_DEFER_SECONDS = env.float("IMPORT_DEFER_SECONDS", default=15)
# Crops per classifier forward pass; results are saved after each one. Larger batches use
# a GPU better; a worker cut off loses at most one batch's work.
CLASSIFY_BATCH = env.int("CLASSIFY_BATCH", default=64)
# Whole images per forward pass of a registered detector (a model that takes one image at a
# time gets one); detected images are written after each batch.
DETECT_BATCH = env.int("DETECT_BATCH", default=8)
# An import or pipeline stage whose worker has not reported for this long was
# cut off (worker killed); beat re-sends it and the new delivery takes it over.
# Days an export's file is kept for download before the hourly sweep deletes it.
EXPORT_KEEP_DAYS = env.int("EXPORT_KEEP_DAYS", default=7)
# Minutes between independent records in record tables made from the admin.
EXPORT_RECORD_INTERVAL = env.float("EXPORT_RECORD_INTERVAL", default=30.0)
PIPELINE_STALE_SECONDS = env.int("PIPELINE_STALE_SECONDS", default=15 * 60)
# One file of an import: larger files, or files slower to read, are skipped with an issue.
MAX_IMPORT_FILE_BYTES = env.int("MAX_IMPORT_FILE_BYTES", default=200_000_000)
IMPORT_FILE_READ_SECONDS = env.float("IMPORT_FILE_READ_SECONDS", default=120)
# Regexes users give (a survey's site and camera regex; core.user_regex): longer
# ones are refused when set, and one match may take at most this long at run time.
USER_REGEX_MAX_LENGTH = env.int("USER_REGEX_MAX_LENGTH", default=200)
USER_REGEX_TIMEOUT_SECONDS = env.float("USER_REGEX_TIMEOUT_SECONDS", default=0.2)
# A MegaDetector batch output file is read whole; larger files are refused
# (split them with MegaDetector's subset_json_detector_output).
MAX_DETECTIONS_JSON_BYTES = env.int("MAX_DETECTIONS_JSON_BYTES", default=500_000_000)
# Uploaded model files (classifiers, detectors). A zipped SavedModel is refused before
# extraction when its central directory declares more than MODEL_ZIP_MAX_BYTES in all, more
# than MODEL_ZIP_MAX_FILES members, or a member (over 1 MB) compressed more than
# MODEL_ZIP_MAX_RATIO times; extraction stops at MODEL_ZIP_MAX_BYTES written whatever the
# zip declares.
MODEL_ZIP_MAX_BYTES = env.int("MODEL_ZIP_MAX_BYTES", default=4 * 1024**3)
MODEL_ZIP_MAX_FILES = env.int("MODEL_ZIP_MAX_FILES", default=10_000)
MODEL_ZIP_MAX_RATIO = env.int("MODEL_ZIP_MAX_RATIO", default=100)
# An upload's load-and-run checks run in a child process, never in the web process: at most
# this many seconds and this much address space (TensorFlow alone reserves about 2 GB), with
# a scratch folder (under MODEL_CHECK_SCRATCH_DIR, the system's temporary folder when empty)
# as its working and temporary folder, removed afterwards.
MODEL_CHECK_SECONDS = env.int("MODEL_CHECK_SECONDS", default=300)
MODEL_CHECK_MEMORY_MB = env.int("MODEL_CHECK_MEMORY_MB", default=8192)
MODEL_CHECK_SCRATCH_DIR = env.str("MODEL_CHECK_SCRATCH_DIR", default="")
# Relevance threshold of each detector's boxes (a survey's detection_threshold overrides).
# Keys match the start of a box's source, compared in lower case without punctuation, so
# "mdv5a" covers "md_v5a.0.0.pt" and "MDv5a"; the longest matching key wins. Upstream's
# values; the weight-free detectors' scores are not calibrated, so all their boxes count,
# and a Camtrap DP package's boxes are the observations its makers kept (their score is a
# classification probability), so all of those count too.
DETECTION_THRESHOLDS = {
    "mdv5a": 0.2, "megadetectorv5a": 0.2, "mdv5b": 0.1, "megadetectorv5b": 0.1,
    "mdv4": 0.8, "megadetectorv4": 0.8, "motion": 0.0, "whole": 0.0, "camtrapdp": 0.0,
}
DETECTION_THRESHOLD_DEFAULT = 0.1  # any other detector
# A new survey's detector: "default" (zamba's camera-trap YOLOX-tiny, registered at first use,
# classifiers.services.default_detector) or a weight-free one ("motion", "whole").
SURVEY_DETECTOR = env.str("SURVEY_DETECTOR", default="default")
CLUSTER_LEASE_SECONDS = env.int("CLUSTER_LEASE_SECONDS", default=180)
# A tagging socket that dropped (network, server or Redis fault) gives its clusters back
# after this long, so that its page can reconnect and resend its labels first; a page
# closed on purpose, or a log-out, gives them back at once.
LEASE_RELEASE_GRACE_SECONDS = env.float("LEASE_RELEASE_GRACE_SECONDS", default=15)
# Clusters a tagging page holds ahead of need (each under its own lease, its images
# preloaded), so that a key press moves to a cluster already on the screen.
ANNOTATION_PREFETCH_WINDOW = env.int("ANNOTATION_PREFETCH_WINDOW", default=3)
if not 3 <= ANNOTATION_PREFETCH_WINDOW <= 5:
    raise ImproperlyConfigured(
        f"ANNOTATION_PREFETCH_WINDOW is {ANNOTATION_PREFETCH_WINDOW}; set it between 3 and 5 "
        "(clusters a tagging page holds ahead of need).")
# Database threads of each web process for websocket work that may run in parallel
# (a label, a claim): each holds one database connection for the life of the process,
# so a web process opens at most this many plus one (core.db_threads).
WEBSOCKET_DB_THREADS = env.int("WEBSOCKET_DB_THREADS", default=8)
# daphne processes behind one address (manage.py serve_web, serve_local): one per core.
# More than one needs REDIS_URL (core.webserver).
WEB_WORKERS = env.int("WEB_WORKERS", default=os.cpu_count() or 1)
# How long the task progress counted in the cache (annotation.progress) is trusted before
# it is counted again from the database; labels add to it in between.
ANNOTATION_PROGRESS_SECONDS = env.float("ANNOTATION_PROGRESS_SECONDS", default=60)
# Insights: a camera silent for longer than this between two images is taken to have
# stopped (a flagged gap; its days are no trap-nights).
INSIGHTS_GAP_DAYS = env.float("INSIGHTS_GAP_DAYS", default=7)

REST_FRAMEWORK = {
    # Reads and writes per the capability matrix (accounts.taxonomy), for every view.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api.permissions.HoldsCapability"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.auth.TokenRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "accounts.api.common.KeysetPagination",
    "DEFAULT_SCHEMA_CLASS": "accounts.api.schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "accounts.api.common.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TrapTagger API",
    "DESCRIPTION": "Camera-trap surveys, their images, boxes, labels and exports, scoped "
                   "to your organisations. Authenticate with 'Authorization: Token <key>' "
                   "(make keys in the admin under API tokens) or a signed-in session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's scripts are shipped as static files: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "accounts.api.schema.add_error_responses"],
}
# Requests per API token (or signed-in user): "600/min", "10000/day".
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")
# Imports asked for over the API read folders under <IMPORT_ROOT>/<organisation id>/ only;
# unset, the API cannot start imports.
IMPORT_ROOT = env.str("IMPORT_ROOT", default="")
# Files fetched from URLs people give (data pipeline): at most this size and time each.
# Loopback, private, link-local and other non-public addresses are refused, also after
# redirects; hosts listed here (names as written in URLs) skip that check.
FETCH_ALLOWED_HOSTS = env.list("FETCH_ALLOWED_HOSTS", default=[])
FETCH_MAX_BYTES = env.int("FETCH_MAX_BYTES", default=MAX_IMPORT_FILE_BYTES)
FETCH_TIMEOUT_SECONDS = env.float("FETCH_TIMEOUT_SECONDS", default=60)

# LOG_FORMAT=json: one JSON object per line (the production default), for log
# collectors; every request and task writes one line with its id (core.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler",
                             "formatter": "json" if LOG_FORMAT == "json" else "text"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # Celery's own line per task repeats core.logs' "traptagger.task" line.
        "celery.app.trace": {"level": "WARNING"},
    },
}
