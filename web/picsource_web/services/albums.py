"""Albums as a viewer sees them: who may open which album, its pages, and membership writes.

Visibility rule for albums (the privacy tests pin it down): the owner sees and changes
their albums; a ``public`` album may be opened by anyone, read-only; an ``unlisted`` or
public one also through its share link (/a/<token>) until the link's expiry day ends
(then 410 with a clear page); a ``private`` album by nobody else. Everyone else gets the
same 404 as for an album that does not exist.

Opening an album grants its images, and only them: pages built from an album carry a
*grant* in their media URLs (``a.<album id>`` for a public album, ``a.<album id>.<link
token>`` through a link), and ``image_by_grant`` lets an image through only if the album
still grants access and the image is in it and not in the trash. A grant never reaches
any other image of the owner. With ``allow_download`` off, a grant holder gets no
original download (the media route refuses ``download=1``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bson import ObjectId

from picsource_core import stamps
from picsource_core.albums import MAX_ALBUMS_PER_USER, SORT_FIELDS, AlbumDocuments
from picsource_core.images import PRIVATE, PUBLIC, UNLISTED
from picsource_core.mongo import Document
from picsource_core.queue import utcnow
from picsource_core.trash import TRASHED_AT
from picsource_web.services.album_input import AlbumInputError, AlbumQuery, encode_cursor
from picsource_web.services.errors import NotFound, ServiceError
from picsource_web.services.images import ImageRepository, new_share_token
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.listings import TILE_FIELDS
from picsource_web.services.users import Viewer, parse_object_id

GRANT_PREFIX = "a."
#: Answers per image of an add or remove call, besides picsource_core.albums' own.
NOT_FOUND = "not_found"
NO_ALBUM = "No such album, or it is not shared with you."


class LinkExpired(ServiceError):
    """An album link whose expiry day has passed: 410, so the holder knows it existed."""

    def __init__(self) -> None:
        super().__init__(410, "link_expired", "This album link has expired. Ask its owner for a new one.")


class QuotaAlbums(ServiceError):
    def __init__(self) -> None:
        super().__init__(403, "quota_albums", f"You have {MAX_ALBUMS_PER_USER} albums, the most "
                         "allowed; delete one to make another.")


def grant_for(album: Document, token: str | None = None) -> str:
    """The media grant of a page built from ``album`` (opened by id, or through its link)."""
    return f"{GRANT_PREFIX}{album['_id']}" + (f".{token}" if token else "")


def is_grant(share: str | None) -> bool:
    return bool(share and share.startswith(GRANT_PREFIX))


@dataclass(frozen=True)
class AlbumPage:
    items: list[Document]
    next_cursor: str | None
    #: Names the page's content (its cache key) so views can cache what they derive from it.
    version: str = ""


@dataclass(frozen=True)
class AlbumSummary:
    album: Document
    count: int
    cover: Document | None


class AlbumService:
    def __init__(self, images: ImageRepository, token_factory: Callable[[], str] = new_share_token,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.docs = AlbumDocuments(images.db)
        self.images = images
        #: Album pages and counts, like listing pages (services/listing_cache.py): a page is
        #: trusted only under the owner's listing stamp (every image write renews it) and
        #: the album's ``updated_at`` (every change of the album, its members or their trash
        #: marks renews it, picsource_core.albums); a count under ``updated_at`` alone.
        self.cache: ListingCache[Any] = ListingCache(images.listings.cache.entries, images.listings.cache.seconds,
                                                     rebuild_after=images.listings.cache.rebuild_after)
        self.token_factory = token_factory
        #: Decides when links expire; tests move it.
        self.clock = clock

    # --- who may open what --------------------------------------------------------------
    def get_owned(self, album_id: object, viewer: Viewer) -> Document:
        oid = parse_object_id(album_id)
        album = (self.docs.find_one({"_id": oid, "owner_id": viewer.user_id})
                 if oid is not None and viewer.user_id is not None else None)
        if album is None:
            raise NotFound(NO_ALBUM)
        return album

    def get_viewable(self, album_id: object, viewer: Viewer) -> Document:
        """The owner's album, or anyone's public one (read-only for them)."""
        oid = parse_object_id(album_id)
        album = self._find(oid, viewer) if oid is not None else None
        if album is None or not (is_owner(album, viewer) or album.get("visibility") == PUBLIC):
            raise NotFound(NO_ALBUM)
        return album

    def _find(self, oid: ObjectId, viewer: Viewer) -> Document | None:
        """The album document. The owner's own, once settled, is kept in process under
        their listing stamp, which their request already loaded and every album write
        renews (picsource_core.albums): a cached album page then costs no album read.
        Other viewers always read it (a visitor's stamp says nothing about the album)."""
        user = viewer.user
        if user is None or not self.cache.enabled:
            return self.docs.find_one({"_id": oid})
        key = ("album", user.id, user.listing_stamp, oid)
        kept = self.cache.get(key)
        if kept is not None:
            return dict(kept)  # a copy: callers may add to it, the kept one is shared
        album = self.docs.find_one({"_id": oid})
        if album is not None and album.get("owner_id") == user.id and self.docs.settled(album):
            self.cache.put(key, dict(album))
        return album

    def open_link(self, token: str) -> Document:
        """The album behind a share link; 404 unless unlisted or public, 410 once expired."""
        album = self.docs.find_one({"share_token": token}) if token and len(token) <= 64 else None
        if album is None or album.get("visibility") not in (UNLISTED, PUBLIC):
            raise NotFound("This album link is not valid (any more).")
        expires = album.get("share_expires_at")
        if expires is not None and self.clock() >= expires:
            raise LinkExpired()
        return album

    def image_by_grant(self, grant: str, image_id: object,
                       projection: dict[str, int] | None = None) -> tuple[Document, Document]:
        """(image, album) for an image opened through an album grant; 404 unless the album
        grants access now and holds the image, not trashed."""
        parts = grant[len(GRANT_PREFIX):].split(".", 1)
        oid = parse_object_id(image_id)
        album = self.docs.find_one({"_id": parse_object_id(parts[0])}) if parse_object_id(parts[0]) else None
        if album is None or oid is None:
            raise NotFound("No such image.")
        if len(parts) == 2:
            if not secrets.compare_digest(str(album.get("share_token", "")), parts[1]):
                raise NotFound("No such image.")
            try:
                self.open_link(parts[1])
            except LinkExpired:  # the link's page says so; its image URLs just stop
                raise NotFound("No such image.") from None
        elif album.get("visibility") != PUBLIC:
            raise NotFound("No such image.")
        doc = self.images.docs.find_one({"_id": oid, "owner_id": album["owner_id"], TRASHED_AT: None},
                                        projection)
        if doc is None or not self.docs.is_member(album["_id"], oid):
            raise NotFound("No such image.")
        return doc, album

    # --- pages ----------------------------------------------------------------------------
    def _key(self, album: Document, name: str, *, stamped: bool = True,
             viewer: Viewer | None = None) -> tuple[Any, ...]:
        """The cache key; the owner's stamp comes with the owner's own request (loaded with
        the session), else one small read, before the query either way."""
        stamp = ""
        if stamped and viewer is not None and viewer.user is not None and viewer.user.id == album["owner_id"]:
            stamp = viewer.user.listing_stamp
        elif stamped:
            stamp = stamps.read_owner(self.images.db, album["owner_id"])
        return (stamp, album["_id"], album.get("updated_at"), name)

    def page(self, album: Document, query: AlbumQuery,
             projection: dict[str, int] | None = None, viewer: Viewer | None = None) -> AlbumPage:
        """One page of the album's images in the asked order; trashed ones never appear."""
        fields = projection or TILE_FIELDS
        if not self.cache.enabled:
            return self._page(album, query, fields)
        key = self._key(album, f"page|{query!r}|{sorted(fields.items())}", viewer=viewer)
        return self.cache.get_or_build(key, lambda: replace(self._page(album, query, fields), version=repr(key)))

    def _page(self, album: Document, query: AlbumQuery, fields: dict[str, int]) -> AlbumPage:
        members = self.docs.page(album, query.sort, newest_first=query.newest_first,
                                 after=query.after, limit=query.limit + 1)
        more, members = len(members) > query.limit, members[: query.limit]
        ids = [m["image_id"] for m in members]
        found = {doc["_id"]: doc for doc in self.images.docs.find(
            {"_id": {"$in": ids}, "owner_id": album["owner_id"], TRASHED_AT: None}, fields)}
        field = SORT_FIELDS[query.sort]
        last = members[-1] if members else None
        cursor = encode_cursor(query.sort, last[field], last["image_id"]) if more and last else None
        return AlbumPage(items=[found[i] for i in ids if i in found], next_cursor=cursor)

    def cover(self, album: Document) -> Document | None:
        return self.covers([album])[album["_id"]]

    def covers(self, albums: list[Document]) -> dict[ObjectId, Document | None]:
        """Each album's cover: the chosen one (writes unset it when it leaves the album or
        is purged) unless it is in the trash, else the latest image added. One image read
        for all, plus one membership read per album without a usable chosen cover."""
        found = self._visible({a["_id"]: a.get("cover_image_id") or self.docs.first_image(a)
                               for a in albums})
        found.update(self._visible({a["_id"]: self.docs.first_image(a) for a in albums
                                    if a["_id"] not in found and a.get("cover_image_id")}))
        return {a["_id"]: found.get(a["_id"]) for a in albums}

    def _visible(self, picks: dict[ObjectId, ObjectId | None]) -> dict[ObjectId, Document]:
        """album id -> its picked image, for the picks that exist and are not in the trash."""
        ids = [image_id for image_id in picks.values() if image_id is not None]
        docs = {doc["_id"]: doc for doc in self.images.docs.find(
            {"_id": {"$in": ids}, TRASHED_AT: None}, TILE_FIELDS)} if ids else {}
        return {album_id: docs[i] for album_id, i in picks.items() if i in docs}

    def summaries(self, owner_id: ObjectId) -> list[AlbumSummary]:
        """The owner's albums, newest first, each with its image count and cover."""
        albums = self.docs.owned(owner_id)
        counts, covers = self.docs.counts(owner_id), self.covers(albums)
        return [AlbumSummary(album, counts.get(album["_id"], 0), covers[album["_id"]])
                for album in albums]

    def count(self, album: Document) -> int:
        if not self.cache.enabled:
            return self.docs.count(album)
        return int(self.cache.get_or_build(self._key(album, "count", stamped=False),
                                           lambda: self.docs.count(album)))

    def albums_of(self, image: Document) -> list[Document]:
        """The owner's albums holding this image, by title."""
        return self.docs.by_ids(image["owner_id"], self.docs.albums_of(image["_id"]))

    def owned(self, owner_id: ObjectId) -> list[Document]:
        return self.docs.owned(owner_id)

    # --- writes ---------------------------------------------------------------------------
    def create(self, owner_id: ObjectId, fields: dict[str, Any]) -> Document:
        if self.docs.count_owned(owner_id) >= MAX_ALBUMS_PER_USER:
            raise QuotaAlbums()
        now = utcnow()
        album: Document = {
            "_id": ObjectId(), "owner_id": owner_id, "title": "", "description": "",
            "visibility": PRIVATE, "allow_download": False, "share_expires_at": None,
            "cover_image_id": None, "share_token": self.token_factory(), "created_at": now,
            "updated_at": now, **fields,
        }
        self.docs.insert(album)
        return album

    def update(self, album: Document, changes: dict[str, Any]) -> Document:
        """Apply changes; making an album private retires its link for good, as for images."""
        if changes.get("visibility") == PRIVATE and album.get("visibility") != PRIVATE:
            changes = {**changes, "share_token": self.token_factory()}
        updated = self.docs.update(album, changes)
        if updated is None:
            raise NotFound(NO_ALBUM)
        return updated

    def rotate_link(self, album: Document) -> Document:
        """A new share link; the old one stops working at once."""
        return self.update(album, {"share_token": self.token_factory()})

    def set_cover(self, album: Document, image_id: object) -> Document:
        oid = parse_object_id(image_id)
        if oid is None or not self.docs.is_member(album["_id"], oid):
            raise AlbumInputError("cover_image_id", "must be an image in this album (not in the trash)")
        return self.update(album, {"cover_image_id": oid})

    def delete(self, album: Document) -> bool:
        """Delete the album and its memberships; its images stay where they are."""
        return self.docs.delete(album)

    def add(self, album: Document, image_ids: list[ObjectId]) -> dict[ObjectId, str]:
        """Add the owner's images among ``image_ids``: id -> added, already_in_album, or
        not_found (someone else's or no such image: the same answer, so nothing leaks).
        All of the owner's images are added, whatever else the list names."""
        own = self.images.docs.find({"_id": {"$in": image_ids}, "owner_id": album["owner_id"]},
                                    {"_id": 1, "taken_at": 1, "created_at": 1, TRASHED_AT: 1})
        outcome = self.docs.add(album, list(own))
        return {oid: outcome.get(oid, NOT_FOUND) for oid in image_ids}

    def remove(self, album: Document, image_ids: list[ObjectId]) -> dict[ObjectId, str]:
        """Take images out: id -> removed or not_in_album (the images themselves stay)."""
        return self.docs.remove(album, image_ids)


def is_owner(album: Document, viewer: Viewer) -> bool:
    return viewer.user_id is not None and album.get("owner_id") == viewer.user_id
