"""MongoDB connection and the schema's indexes, shared by web, worker and operator.

The operator creates the indexes when it binds a database; the web tier and the
worker call ensure_indexes at start-up too, so a local run needs no operator.
Only portable features are used (no $text, no server-specific options) so the
same code runs on MongoDB and on MongoDB-wire servers such as SecantusDB.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from picsource_core.config import MongoSettings

IMAGES = "images"
JOBS = "jobs"
USERS = "users"
TOKENS = "api_tokens"
LOGIN_ATTEMPTS = "login_attempts"
#: One small document per listing scope; see picsource_core.stamps.
STAMPS = "listing_stamps"
#: Single-use sign-up invites (only a hash of each code); owned by the web's InviteService.
INVITES = "invites"
#: Fixed-window sign-up counters (per client and global), like LOGIN_ATTEMPTS.
SIGNUP_ATTEMPTS = "signup_attempts"
#: Running totals (the gallery's stored bytes); see picsource_core.usage.
USAGE = "usage_counters"
#: Albums and which images each holds; owned by picsource_core.albums.
ALBUMS = "albums"
ALBUM_IMAGES = "album_images"
#: One load report per web process, for the operator's web autoscaler; see picsource_core.web_load.
WEB_LOAD = "web_load"

Document = dict[str, Any]


def connect(settings: MongoSettings, *, app_name: str = "picsource") -> Database[Document]:
    """A lazily connecting client; create one per process, after any fork."""
    client: MongoClient[Document] = MongoClient(
        settings.uri,
        appname=app_name,
        serverSelectionTimeoutMS=settings.timeout_ms,
        connectTimeoutMS=settings.timeout_ms,
        socketTimeoutMS=max(settings.timeout_ms * 6, 30_000),
        timeoutMS=settings.operation_timeout_ms,
        tz_aware=True,
    )
    return client[settings.database]


def is_outage(err: BaseException) -> bool:
    """Whether a MongoDB error says the server is unreachable or did not answer in time
    (not that the request was wrong): web answers 503, the worker spends no attempt."""
    return isinstance(err, ConnectionFailure) or (isinstance(err, PyMongoError) and err.timeout)


def ping(db: Database[Document]) -> None:
    """Raise a pymongo error when the server cannot be reached."""
    db.client.admin.command("ping")


INDEXES: dict[str, list[IndexModel]] = {
    IMAGES: [
        # Owner's own gallery, newest first; _id is an ObjectId and so time-ordered.
        IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_newest"),
        IndexModel([("visibility", ASCENDING), ("_id", DESCENDING)], name="visibility_newest"),
        # The same by date taken (picsource_core.timeline): the main grid and the public page.
        IndexModel([("owner_id", ASCENDING), ("timeline", DESCENDING)], name="owner_timeline"),
        IndexModel([("visibility", ASCENDING), ("timeline", DESCENDING)], name="visibility_timeline"),
        # Per-owner exact duplicates.
        IndexModel([("owner_id", ASCENDING), ("sha256", ASCENDING)], name="owner_sha256", unique=True),
        IndexModel([("share_token", ASCENDING)], name="share_token", unique=True),
        # Search: multikey over normalised tokens, tags and colour families.
        IndexModel([("search_tokens", ASCENDING), ("_id", DESCENDING)], name="search_tokens"),
        IndexModel([("tags", ASCENDING), ("_id", DESCENDING)], name="tags"),
        IndexModel([("colour_families", ASCENDING), ("_id", DESCENDING)], name="colour_families"),
        # The same within one listing scope: a signed-in search ("mine") or a public one
        # reads only matching documents in scope, never other owners' images.
        *[IndexModel([(scope, ASCENDING), (field, ASCENDING), ("_id", DESCENDING)],
                     name=f"{scope}_{field}")
          for scope in ("owner_id", "visibility")
          for field in ("search_tokens", "tags", "colour_families")],
        # The worker's near-duplicate check reads the owner's hashes analysed since its
        # last read (picsource_worker.duplicates).
        IndexModel([("owner_id", ASCENDING), ("analysed_at", ASCENDING)], name="owner_analysed_at"),
        IndexModel([("original_key", ASCENDING)], name="original_key"),
        # Who links to an image, when it is deleted or analysed again (links are symmetric,
        # but a lookup by these ids would trust that; without an index each delete read
        # every image: 150 ms at 3,000 on SecantusDB).
        IndexModel([("near_duplicates", ASCENDING)], name="near_duplicates"),
        # The worker's purge of images whose time in the trash is up (picsource_core.trash).
        IndexModel([("trashed_at", ASCENDING)], name="trashed_at"),
    ],
    JOBS: [
        IndexModel([("image_id", ASCENDING), ("kind", ASCENDING)], name="image_kind", unique=True),
        IndexModel([("state", ASCENDING), ("run_at", ASCENDING)], name="state_run_at"),
        IndexModel([("state", ASCENDING), ("lease_expires", ASCENDING)], name="state_lease"),
    ],
    USERS: [
        IndexModel([("username_key", ASCENDING)], name="username_key", unique=True),
    ],
    TOKENS: [
        IndexModel([("token_hash", ASCENDING)], name="token_hash", unique=True),
        IndexModel([("user_id", ASCENDING)], name="user_id"),
    ],
    LOGIN_ATTEMPTS: [
        IndexModel([("key", ASCENDING)], name="key", unique=True),
        # TTL: counters vanish on their own once their window has passed.
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    SIGNUP_ATTEMPTS: [
        IndexModel([("key", ASCENDING)], name="key", unique=True),
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    ALBUMS: [
        IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_newest"),
        IndexModel([("share_token", ASCENDING)], name="share_token", unique=True),
        # A purged image stops being a cover (picsource_core.albums.AlbumImages.forget).
        IndexModel([("cover_image_id", ASCENDING)], name="cover_image_id"),
    ],
    ALBUM_IMAGES: [
        IndexModel([("album_id", ASCENDING), ("image_id", ASCENDING)], name="album_image", unique=True),
        # The image's side: trash, restore, analysis and purge update its memberships.
        IndexModel([("image_id", ASCENDING)], name="image_id"),
        # An album page: ranged reads by date taken, or by the membership's number (its
        # order added, picsource_core.albums).
        *[IndexModel([("album_id", ASCENDING), ("hidden", ASCENDING), (field, DESCENDING),
                      ("image_id", DESCENDING)], name=f"album_{field}")
          for field in ("taken_at", "seq")],
        # Image counts of one owner's albums (the Albums page).
        IndexModel([("owner_id", ASCENDING), ("hidden", ASCENDING)], name="owner_hidden"),
    ],
    INVITES: [
        IndexModel([("code_hash", ASCENDING)], name="code_hash", unique=True),
        IndexModel([("created_at", DESCENDING)], name="created_newest"),
    ],
    WEB_LOAD: [
        # TTL: a stopped process's report goes away (readers already skip expired ones).
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
}


def ensure_indexes(db: Database[Document]) -> None:
    """Create every index the schema relies on; idempotent and cheap when present."""
    for collection, models in INDEXES.items():
        db[collection].create_indexes(models)
