"""Web-tier settings, read once from the environment and validated at start-up.

Why a frozen dataclass and not ``app.config``: every value is typed and checked in one
place, so a bad deployment stops at boot with one line naming the variable instead of
failing on the first request that happens to touch it. Tests build their own instance
with ``Settings.from_env({...})`` or ``dataclasses.replace``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from picsource_core.config import ConfigurationError, Env, MongoSettings, StorageSettings
from picsource_core.trash import DEFAULT_TRASH_DAYS, trash_days
from picsource_web.services.passwords import DEFAULT_COST, MIN_N, ScryptCost, password_problems
from picsource_web.services.scan import SCAN_MODES

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: The web tier's default bound on each MongoDB operation: a request that needs a frozen
#: server fails with a 503 after this long (MONGODB_OPERATION_TIMEOUT_MS overrides it).
MONGO_OPERATION_TIMEOUT_MS = 2500
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}
#: The SIGNUP modes (see ``Settings.signup``).
SIGNUP_MODES = ("open", "closed", "invite", "approval")


@dataclass(frozen=True)
class RateLimit:
    """At most ``attempts`` failed sign-ins per ``window_seconds`` per username and per client."""

    attempts: int
    window_seconds: int


def parse_rate_limit(name: str, text: str) -> RateLimit:
    """Parse ``10/15m``-style limits (count / window with an optional s, m or h unit)."""
    match = _RATE_RE.match(text)
    if not match:
        raise ConfigurationError(name, f"must look like 10/15m (attempts/window), got {text!r}")
    attempts, window = int(match.group(1)), int(match.group(2)) * _UNIT_SECONDS[match.group(3)]
    if attempts < 1 or window < 1:
        raise ConfigurationError(name, f"attempts and window must be positive, got {text!r}")
    return RateLimit(attempts=attempts, window_seconds=window)


@dataclass(frozen=True)
class Account:
    """A username/password pair from configuration (first admin, optional demo user)."""

    username: str
    password: str


def _account(env: Env, user_var: str, password_var: str) -> Account | None:
    username, password = env.optional_str(user_var), env.optional_str(password_var)
    if username is None and password is None:
        return None
    if username is None:
        raise ConfigurationError(user_var, f"is required when {password_var} is set")
    if password is None:
        raise ConfigurationError(password_var, f"is required when {user_var} is set")
    problems = password_problems(password, username)
    if problems:
        raise ConfigurationError(password_var, problems[0].replace("Password", "the password", 1))
    return Account(username=username, password=password)


def _shared_dir(env: Env) -> str | None:
    """LISTING_SHARED_DIR, when set: a directory this process can write in."""
    path = env.optional_str("LISTING_SHARED_DIR")
    if path is None:
        return None
    if not os.path.isdir(path):
        raise ConfigurationError("LISTING_SHARED_DIR", f"{path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError("LISTING_SHARED_DIR", f"{path} is not writable")
    return path


def _scrypt_cost(env: Env) -> ScryptCost:
    n = env.int("PASSWORD_SCRYPT_N", DEFAULT_COST.n, minimum=MIN_N, maximum=DEFAULT_COST.n)
    if n & (n - 1):
        raise ConfigurationError("PASSWORD_SCRYPT_N", f"must be a power of two, got {n}")
    return ScryptCost(n=n, r=DEFAULT_COST.r, p=DEFAULT_COST.p)


@dataclass(frozen=True)
class Settings:
    """Everything the web tier reads from the environment."""

    # Signs session cookies and CSRF tokens; identical on every replica.
    secret_key: str
    mongo: MongoSettings
    storage: StorageSettings
    # Largest accepted upload body per image, in bytes (413 above it).
    max_upload_bytes: int = 25 * 1000 * 1000
    # Decompression-bomb guard: largest width*height accepted (422 above it).
    max_image_pixels: int = 50_000_000
    # Per-user quotas; None means unlimited.
    quota_images: int | None = None
    quota_bytes: int | None = None
    #: GALLERY_QUOTA_BYTES: the most bytes of originals all users together may store
    #: (507 above it); None means unlimited. Kept as a running total (picsource_core.usage).
    gallery_quota_bytes: int | None = None
    # Lifetime of presigned object URLs handed to browsers.
    presign_seconds: int = 1800
    #: PRESIGN_PRIVATE_SECONDS: the (shorter) lifetime of presigned URLs to private and
    #: unlisted images, so a leaked link soon stops working.
    presign_private_seconds: int = 300
    # Stream image bytes through the web tier instead of presigned URLs.
    proxy_images: bool = False
    # The object-store URL browsers reach (presigned URLs are signed for it); None = S3_ENDPOINT.
    public_endpoint: str | None = None
    # Mark cookies Secure (set when served over HTTPS).
    session_cookie_secure: bool = False
    #: SIGNUP: who may create an account. ``open``: anyone; ``closed``: nobody (only the
    #: configured accounts); ``invite``: whoever holds an unused, unexpired invite code the
    #: admin created; ``approval``: anyone may register, but signs in only once the admin
    #: has approved the account.
    signup: str = "open"
    #: SIGNUP_RATE_LIMIT: sign-up attempts per client address and window (``5/1h``), and
    #: SIGNUP_GLOBAL_RATE_LIMIT: attempts from everyone together (``100/1h``), a brake on
    #: mass registration from many addresses. Counted in MongoDB, so shared by replicas.
    signup_rate_limit: RateLimit = RateLimit(attempts=5, window_seconds=3600)
    signup_global_rate_limit: RateLimit = RateLimit(attempts=100, window_seconds=3600)
    # Configured accounts; their usernames are reserved (nobody can sign up with them).
    admin: Account | None = None
    demo: Account | None = None
    # PASSWORD_SCRYPT_N: scrypt cost of new password hashes (default OWASP's 2**17;
    # lower only for tests). Sign-in re-hashes passwords stored with other parameters.
    password_cost: ScryptCost = DEFAULT_COST
    #: LOGIN_RATE_LIMIT: failed sign-ins per (username, client) before waits start, and
    #: the idle window after which they are forgotten (services/ratelimit.py).
    login_rate_limit: RateLimit = RateLimit(attempts=10, window_seconds=900)
    #: LOGIN_DELAY_CAP_SECONDS: the longest wait a (username, client) pair or a spraying
    #: client is made to sit out; waits double from 1 s per further failure up to it.
    login_delay_cap_seconds: int = 900
    log_level: str = "info"
    # Number of reverse proxies in front (ingress): their X-Forwarded-For/-Proto are trusted
    # so sign-in rate limits see the real client address. 0 = none (direct Service).
    proxy_hops: int = 0
    # The port that alone answers /metrics and /readyz (gunicorn binds it next to
    # WEB_BIND). In a cluster the Ingress routes only the public port, so neither is
    # reachable from outside. None: every port answers them (local runs, tests).
    internal_port: int | None = None
    # Objects without a metadata document older than this are swept as orphans.
    orphan_minutes: int = 60
    # Listing pages kept per worker process, and how long at most (0 turns the cache off).
    # An entry holds a page's documents and its rendered tiles, both compressed: 10-14 KB
    # and 6-7 KB for 48 tiles (bench_web's public grid and a search), so the default
    # costs ~20 MB per gunicorn worker. Enough for a gallery's different searches: with
    # 128, a mix of 300 (bench_semantic's Zipf mix) missed so often that it overloaded
    # two cores (p99 680 ms at 300 requests/s).
    # Entries are retired at once by any write (see picsource_core.stamps); the time
    # limit only bounds staleness if the database fails between a write and its stamp
    # renewal and the writing process dies before it can renew it (it keeps trying until
    # the database is back). 300 s, like ranked lists: with 60, a gallery's 300 different
    # searches were read again ~8 times a second for that backstop alone, a third of a
    # core on a 2-core machine (bench_semantic's Zipf mix over 30 s: p99 297 ms).
    listing_cache_entries: int = 1024
    listing_cache_seconds: int = 300
    #: LISTING_SHARED_DIR: where the pod's gunicorn workers share the pages and tiles they
    #: cache (services/shared_cache.py); gunicorn's configuration makes one under the
    #: temporary directory when it is unset. None (unset, outside gunicorn): no sharing.
    listing_shared_dir: str | None = None
    #: LISTING_SHARED_MB: the most that directory holds (0 turns sharing off). Entries are
    #: ~7 KB (a page's documents, or its tiles), so 64 MB holds ~9,000.
    listing_shared_mb: int = 64
    #: LISTING_SCAN: how listing pages are read: ``auto`` (windows only on servers that need
    #: them, see services/scan.py), ``index`` (one sorted, limited query) or ``windowed``.
    listing_scan: str = "auto"
    #: TRASH_DAYS: days a trashed image waits before the worker purges it (shown to users;
    #: the worker reads the same variable with the same parser, picsource_core.trash).
    trash_days: int = DEFAULT_TRASH_DAYS
    #: ZIP_MAX_BYTES / ZIP_MAX_SECONDS: the most originals one zip download holds, and how
    #: long its stream may run (services/zipstream.py).
    zip_max_bytes: int = 2 * 1024**3
    zip_max_seconds: int = 1800
    #: WEB_LOAD_REPORT_SECONDS: how often each worker process reports its requests in flight
    #: to MongoDB for the operator's web autoscaler (picsource_web.load); 0 turns reports off.
    load_report_seconds: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = Env(environ)
        secret = env.str("SECRET_KEY")
        if len(secret) < 32:
            raise ConfigurationError("SECRET_KEY", "must be at least 32 characters long")
        quota_images = env.int("QUOTA_IMAGES", 0, minimum=0)
        quota_bytes = env.size("QUOTA_BYTES", 0)
        return cls(
            secret_key=secret,
            mongo=MongoSettings.from_env(environ, operation_timeout_ms=MONGO_OPERATION_TIMEOUT_MS),
            storage=StorageSettings.from_env(environ),
            max_upload_bytes=env.size("MAX_UPLOAD_BYTES", 25 * 1000 * 1000, minimum=1),
            max_image_pixels=env.int("MAX_IMAGE_PIXELS", 50_000_000, minimum=1),
            quota_images=quota_images or None,
            quota_bytes=quota_bytes or None,
            gallery_quota_bytes=env.size("GALLERY_QUOTA_BYTES", 0) or None,
            presign_seconds=env.int("PRESIGN_SECONDS", 1800, minimum=60, maximum=7 * 24 * 3600),
            presign_private_seconds=env.int("PRESIGN_PRIVATE_SECONDS", 300, minimum=60, maximum=7 * 24 * 3600),
            proxy_images=env.bool("PROXY_IMAGES", False),
            public_endpoint=(
                env.url("S3_PUBLIC_ENDPOINT") if env.raw("S3_PUBLIC_ENDPOINT") else None
            ),
            session_cookie_secure=env.bool("SESSION_COOKIE_SECURE", False),
            signup=env.choice("SIGNUP", SIGNUP_MODES, "open"),
            signup_rate_limit=parse_rate_limit(
                "SIGNUP_RATE_LIMIT", env.str("SIGNUP_RATE_LIMIT", "5/1h")
            ),
            signup_global_rate_limit=parse_rate_limit(
                "SIGNUP_GLOBAL_RATE_LIMIT", env.str("SIGNUP_GLOBAL_RATE_LIMIT", "100/1h")
            ),
            admin=_account(env, "ADMIN_USERNAME", "ADMIN_PASSWORD"),
            demo=_account(env, "DEMO_USERNAME", "DEMO_PASSWORD"),
            password_cost=_scrypt_cost(env),
            login_rate_limit=parse_rate_limit(
                "LOGIN_RATE_LIMIT", env.str("LOGIN_RATE_LIMIT", "10/15m")
            ),
            login_delay_cap_seconds=env.int("LOGIN_DELAY_CAP_SECONDS", 900, minimum=1, maximum=86400),
            log_level=env.choice("LOG_LEVEL", _LOG_LEVELS, "info"),
            proxy_hops=env.int("TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=5),
            internal_port=env.int("WEB_INTERNAL_PORT", 0, minimum=0, maximum=65535) or None,
            orphan_minutes=env.int("ORPHAN_SWEEP_MINUTES", 60, minimum=1),
            listing_cache_entries=env.int("LISTING_CACHE_ENTRIES", 1024, minimum=0, maximum=100_000),
            listing_cache_seconds=env.int("LISTING_CACHE_SECONDS", 300, minimum=0, maximum=3600),
            listing_scan=env.choice("LISTING_SCAN", SCAN_MODES, "auto"),
            listing_shared_dir=_shared_dir(env),
            listing_shared_mb=env.int("LISTING_SHARED_MB", 64, minimum=0, maximum=64 * 1024),
            trash_days=trash_days(environ),
            zip_max_bytes=env.int("ZIP_MAX_BYTES", 2 * 1024**3, minimum=1024**2, maximum=1024**4),
            zip_max_seconds=env.int("ZIP_MAX_SECONDS", 1800, minimum=10, maximum=86400),
            load_report_seconds=env.int("WEB_LOAD_REPORT_SECONDS", 5, minimum=0, maximum=60),
        )


def load_settings() -> Settings:
    """Settings from the environment (plus a .env file for local runs); on a bad value,
    print one line naming the variable and exit with status 2 (gunicorn: fail at boot)."""
    from dotenv import load_dotenv

    load_dotenv(override=False)
    try:
        return Settings.from_env(os.environ)
    except ConfigurationError as err:
        print(f"picsource-web: {err}", file=sys.stderr)
        raise SystemExit(2) from None
