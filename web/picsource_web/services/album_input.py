"""What a user may send about an album, parsed strictly (pure functions, shared by the
HTML forms and the JSON API so both accept exactly the same input).

Album fields: title, description (the image limits), visibility, whether a share-link
holder may download originals, and the day the share link stops working. Image id lists
for add and remove: at most MAX_IDS_PER_CALL, each a 24-hex id, any bad one named by its
position before anything is written. Album pages: sort, order, cursor and limit.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId

from picsource_core.albums import MAX_IDS_PER_CALL, SORT_FIELDS
from picsource_core.images import VISIBILITIES
from picsource_web.services.errors import BadRequest
from picsource_web.services.metadata import clean_description, clean_title

FIELDS = ("title", "description", "visibility", "allow_download", "share_expires_on")
SORTS = tuple(SORT_FIELDS)
ORDERS = ("newest", "oldest")
DEFAULT_LIMIT, MAX_LIMIT = 48, 100
_HEX24 = re.compile(r"[0-9a-f]{24}")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class AlbumInputError(BadRequest):
    """A 400 that names the field (or parameter) at fault, for the API's ``errors`` list."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__("validation_error", f"{field}: {problem}")
        self.field = field
        self.problem = problem


def expiry_from_day(day: date | None) -> datetime | None:
    """A link that expires "on" a day works through that whole day (UTC)."""
    return None if day is None else datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def day_from_expiry(expires_at: datetime | None) -> date | None:
    return None if expires_at is None else (expires_at - timedelta(days=1)).date()


def _day(value: Any, today: date) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise AlbumInputError("share_expires_on", "must be a date like 2030-05-31, or empty for never")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise AlbumInputError("share_expires_on", f"{value} is not a date") from None
    if not today <= day <= date(2999, 12, 31):
        raise AlbumInputError("share_expires_on", f"must be today ({today}) or later")
    return day


def parse_album_fields(body: Mapping[str, Any], *, today: date, partial: bool) -> dict[str, Any]:
    """The stored changes for the fields present in ``body`` (a form or a JSON object).
    ``partial``: only what is given (a PATCH); else title is required and the rest default.
    allow_download takes true/false (JSON) or "1"/"0" (forms)."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise AlbumInputError(unknown[0], f"unknown field; accepted: {', '.join(FIELDS)}")
    changes: dict[str, Any] = {}
    for name in ("title", "description", "visibility"):
        if name in body and not isinstance(body[name], str):
            raise AlbumInputError(name, "must be a string")
    if "title" in body or not partial:
        changes["title"] = clean_title(body.get("title"))
        if not changes["title"]:
            raise AlbumInputError("title", "an album needs a title")
    if "description" in body:
        changes["description"] = clean_description(body["description"])
    if "visibility" in body:
        if body["visibility"] not in VISIBILITIES:
            raise AlbumInputError("visibility", f"must be one of {', '.join(VISIBILITIES)}")
        changes["visibility"] = body["visibility"]
    if "allow_download" in body:
        value = body["allow_download"]
        if value not in (True, False, "1", "0") or isinstance(value, int) and not isinstance(value, bool):
            raise AlbumInputError("allow_download", "must be true or false")
        changes["allow_download"] = value in (True, "1")
    if "share_expires_on" in body:
        changes["share_expires_at"] = expiry_from_day(_day(body["share_expires_on"], today))
    if partial and not changes:
        raise BadRequest("validation_error", f"Send at least one of: {', '.join(FIELDS)}.")
    return changes


def parse_image_ids(values: Any, field: str = "image_ids") -> list[ObjectId]:
    """A list of image ids (de-duplicated, order kept); 400 for a non-list, an empty or an
    overlong list (more than MAX_IDS_PER_CALL), or an item (by its index) that is no id."""
    if not isinstance(values, list):
        raise AlbumInputError(field, 'must be a list of image ids, such as ["65f0…"]')
    if not values:
        raise AlbumInputError(field, "choose at least one image")
    if len(values) > MAX_IDS_PER_CALL:
        raise AlbumInputError(field, f"at most {MAX_IDS_PER_CALL} images per call, got "
                              f"{len(values)}; send the rest in another call")
    ids: dict[ObjectId, None] = {}
    for index, value in enumerate(values):
        if not isinstance(value, str) or not _HEX24.fullmatch(value):
            raise AlbumInputError(f"{field}[{index}]", f"{repr(value)[:40]} is not an image id")
        ids[ObjectId(value)] = None
    return list(ids)


@dataclass(frozen=True)
class AlbumQuery:
    """One page of an album: ``sort`` "taken" or "added", newest or oldest first;
    ``after`` is the cursor's position (a date taken, or a membership's number; image id)."""

    sort: str = "taken"
    order: str = "newest"
    after: tuple[datetime | int, ObjectId] | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def newest_first(self) -> bool:
        return self.order == "newest"


#: A cursor's first byte names its sort; 1 was "added" by date before memberships were
#: numbered (picsource_core.albums), so such cursors are refused, not misread.
CURSOR_TAGS = {"taken": 0, "added": 2}


def encode_cursor(sort: str, value: datetime | int, image_id: ObjectId) -> str:
    """The position after one image: which sort, its sort value (a date taken in
    milliseconds, or a membership's number) and its id."""
    number = (value - EPOCH) // timedelta(milliseconds=1) if isinstance(value, datetime) else value
    raw = bytes([CURSOR_TAGS[sort]]) + number.to_bytes(8, "big", signed=True) + image_id.binary
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(text: str, sort: str) -> tuple[datetime | int, ObjectId]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    try:
        if len(raw) != 21 or raw[0] != CURSOR_TAGS[sort]:
            raise ValueError(text)
        number = int.from_bytes(raw[1:9], "big", signed=True)
        value: datetime | int = number
        if sort == "taken":  # exact: no float on the way
            value = EPOCH + timedelta(milliseconds=number)
        elif number < 0:
            raise ValueError(text)
        if encode_cursor(sort, value, ObjectId(raw[9:])) != text:
            raise ValueError(text)
    except (ValueError, OverflowError):
        raise AlbumInputError("cursor", "malformed, or from another sort order; start again "
                              "from the first page") from None
    return value, ObjectId(raw[9:])


def _choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name) or choices[0]
    if value not in choices:
        raise AlbumInputError(name, f"must be one of {', '.join(choices)}")
    return value


def parse_album_query(params: Mapping[str, str]) -> AlbumQuery:
    """An album page from request parameters; 400 naming the bad one."""
    sort, order = _choice(params, "sort", SORTS), _choice(params, "order", ORDERS)
    limit = DEFAULT_LIMIT
    if params.get("limit"):
        text = params["limit"]
        if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= MAX_LIMIT:
            raise AlbumInputError("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(text)
    after = _decode_cursor(params["cursor"], sort) if params.get("cursor") else None
    return AlbumQuery(sort=sort, order=order, after=after, limit=limit)


def query_params(query: AlbumQuery, cursor: str | None = None) -> dict[str, str]:
    """The page as URL parameters (defaults left out), for "more" and "first page" links."""
    params = {"sort": query.sort, "order": query.order, "limit": str(query.limit)}
    defaults = {"sort": SORTS[0], "order": ORDERS[0], "limit": str(DEFAULT_LIMIT)}
    params = {k: v for k, v in params.items() if v != defaults[k]}
    return {**params, "cursor": cursor} if cursor else params
