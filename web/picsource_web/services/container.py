"""The per-process bundle of clients and services, built by ``create_app`` after the fork.

Why one object: views and the JSON API reach every service through
``context.current_services()`` instead of module globals, so each gunicorn worker (and each test
app) has its own MongoClient and object store, created lazily after any fork.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pymongo.database import Database

from picsource_core.breaker import CircuitBreaker
from picsource_core.mongo import Document, connect
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from picsource_web.services.albums import AlbumService
from picsource_web.services.fragment_cache import FRAGMENT_BUILDS, FragmentCache
from picsource_web.services.images import ImageRepository, new_share_token
from picsource_web.services.invites import InviteService
from picsource_web.services.listing_cache import EXPIRY_SPREAD, ListingCache
from picsource_web.services.page_codec import shared_pages
from picsource_web.services.present import MediaUrls, ProxyUrl
from picsource_web.services.ratelimit import LoginRateLimiter
from picsource_web.services.shared_cache import SharedEntries, SharedLevel, same_bytes
from picsource_web.services.signup_limits import SignupThrottle
from picsource_web.services.timeline import Timeline
from picsource_web.services.tokens import TokenService
from picsource_web.services.uploads import UploadService
from picsource_web.services.users import UserService
from picsource_web.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database[Document]
    store: ObjectStore
    queue: JobQueue
    users: UserService
    tokens: TokenService
    limiter: LoginRateLimiter
    #: Sign-up attempts per client and from everyone (SIGNUP_RATE_LIMIT, SIGNUP_GLOBAL_RATE_LIMIT).
    signup_throttle: SignupThrottle
    #: Invite codes for SIGNUP=invite.
    invites: InviteService
    images: ImageRepository
    #: Albums and their share links (services/albums.py).
    albums: AlbumService
    #: The timeline's month menu and "On this day" (services/timeline.py).
    timeline: Timeline
    uploads: UploadService
    media: MediaUrls
    # Rendered grid tiles keyed by (Page.version, signing window): no session data inside.
    fragments: FragmentCache
    #: Fails requests fast for a few seconds after MongoDB did not answer (resilience.py);
    #: the store has its own (``store.breaker``).
    mongo_breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker("MongoDB"))


def shared_entries(settings: Settings) -> SharedEntries | None:
    """The pod's shared level of the listing caches (services/shared_cache.py), if set."""
    if not settings.listing_shared_dir or not settings.listing_shared_mb:
        return None
    return SharedEntries(Path(settings.listing_shared_dir), settings.listing_shared_mb * 1024**2,
                         settings.listing_cache_seconds)


def build_services(settings: Settings, proxy_url: ProxyUrl,
                   share_token_factory: Callable[[], str] = new_share_token) -> Services:
    """Create clients (lazily connecting: nothing here talks to the network)."""
    db = connect(settings.mongo, app_name="picsource-web")
    store = ObjectStore(settings.storage, breaker=CircuitBreaker("object storage"))
    # Presigned URLs are signed for the host browsers use, which may differ from the
    # in-cluster endpoint; signing is local, so this client never connects.
    presigner = store
    if settings.public_endpoint and settings.public_endpoint != settings.storage.endpoint:
        presigner = ObjectStore(replace(settings.storage, endpoint=settings.public_endpoint))
    queue = JobQueue(db)
    shared = shared_entries(settings)
    images = ImageRepository(db, store, queue, ListingCache(
        settings.listing_cache_entries, settings.listing_cache_seconds, rebuild_after=True, spread=EXPIRY_SPREAD,
        shared=shared_pages(shared, db.codec_options) if shared else None), scan_mode=settings.listing_scan)
    tokens = TokenService(db)
    configured = [account.username for account in (settings.admin, settings.demo) if account]
    return Services(
        settings=settings, db=db, store=store, queue=queue,
        users=UserService(db, cost=settings.password_cost, reserved=configured,
                          on_password_change=tokens.revoke_all),
        tokens=tokens,
        limiter=LoginRateLimiter(db, settings.login_rate_limit, settings.login_delay_cap_seconds),
        signup_throttle=SignupThrottle(db, settings.signup_rate_limit, settings.signup_global_rate_limit),
        invites=InviteService(db),
        images=images,
        albums=AlbumService(images, share_token_factory),
        timeline=Timeline(images, ListingCache(settings.listing_cache_entries, settings.listing_cache_seconds,
                                               rebuild_after=True, spread=EXPIRY_SPREAD)),
        uploads=UploadService(settings, images, share_token_factory),
        media=MediaUrls(presigner=presigner, presign_seconds=settings.presign_seconds,
                        private_presign_seconds=settings.presign_private_seconds,
                        proxy=settings.proxy_images, proxy_url=proxy_url),
        fragments=FragmentCache(ListingCache(
            settings.listing_cache_entries, settings.listing_cache_seconds, spread=EXPIRY_SPREAD,
            background_builds=FRAGMENT_BUILDS,
            shared=SharedLevel(shared, "tiles", same_bytes, same_bytes) if shared else None)),
    )
