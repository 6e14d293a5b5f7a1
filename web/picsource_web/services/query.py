"""Listing and search queries: parsed from untrusted parameters into a MongoDB filter.

Pure functions, shared by the HTML gallery and the JSON API so both accept exactly the
same filters. Words match the stored ``search_tokens`` (multikey index, never $text).
Pagination is by cursor (the last seen sort key), so page N costs the same as page 1.

Two orders (``by``): date taken (the default: the stored ``timeline`` key, see
picsource_core.timeline) or date added (``_id``, time-ordered). Date filters (``from``,
``to``) always mean the date taken: bounds on the timeline key, which the scan uses as its
window when it is also the sort key, and a residual range otherwise. Searches by words,
tag or colour are read in date-added order (their compound indexes pair the word with
``_id``), still filtered by date taken. ``month`` is a starting point, not a filter: the
page begins at that month (the jump menu) and pages on by cursor.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from bson import ObjectId

from picsource_core.images import ARCHIVED, FAVOURITE, HIDDEN_FROM_PUBLIC, PUBLIC
from picsource_core.search import COLOUR_FAMILIES, normalise_tag, query_tokens
from picsource_core.timeline import FIRST_PHOTO, TIMELINE, day_bound
from picsource_core.trash import TRASHED_AT
from picsource_web.services.errors import BadRequest
from picsource_web.services.metadata import MAX_TAG
from picsource_web.services.users import Viewer

MAX_QUERY_LENGTH = 300
MAX_QUERY_TOKENS = 12
DEFAULT_PAGE_SIZE = 48
MAX_PAGE_SIZE = 100
SORTS = ("newest", "oldest")
#: What a listing sorts by: the date taken (the timeline key) or the date added (``_id``).
ORDERS = {"taken": TIMELINE, "added": "_id"}
SCOPES = ("mine", "public")
HAS_TEXT = {"yes": True, "no": False, "any": None}
#: The owner's marks as filters (favourite, archived): the same three answers.
MARKS = HAS_TEXT


def encode_cursor(last_id: ObjectId) -> str:
    return base64.urlsafe_b64encode(last_id.binary).decode("ascii")


def decode_cursor(text: str) -> ObjectId:
    """The ObjectId inside a cursor; BadRequest for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 12 or base64.urlsafe_b64encode(raw).decode("ascii") != text:
        raise BadRequest("invalid_cursor", "The page cursor is malformed; start again from the first page.")
    return ObjectId(raw)


@dataclass(frozen=True)
class ImageQuery:
    scope: str = "mine"
    text: str = ""
    tokens: list[str] = field(default_factory=list)
    tag: str | None = None
    colour: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    has_text: bool | None = None
    #: The owner's marks (scope "mine" only); None: either.
    favourite: bool | None = None
    archived: bool | None = None
    #: The Trash view (the owner's trashed images); every other listing leaves them out.
    trashed: bool = False
    sort: str = "newest"
    #: ORDERS key: "taken" (the timeline) or "added" (upload order).
    by: str = "taken"
    #: The jump menu's starting month (first day), used while there is no cursor.
    month: date | None = None
    cursor: ObjectId | None = None
    limit: int = DEFAULT_PAGE_SIZE

    @property
    def key(self) -> str:
        """The field pages are sorted and cursored on: the timeline unless sorting by date
        added or searching by word, tag or colour (whose indexes pair them with ``_id``)."""
        if self.by == "added" or self.tokens or self.tag or self.colour:
            return "_id"
        return ORDERS[self.by]

    @property
    def is_search(self) -> bool:
        return bool(self.tokens or self.tag or self.colour or self.date_from or self.date_to
                    or self.has_text is not None)


# Dates bound the timeline key (picsource_core.timeline): nothing is taken before photography.
MIN_DATE, MAX_DATE = FIRST_PHOTO.date(), date(2105, 12, 31)


def _whole_number(name: str, value: str, minimum: int, maximum: int) -> int:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and other digits ``int`` refuses."""
    if not re.fullmatch(r"[0-9]{1,9}", value) or not minimum <= int(value) <= maximum:
        raise BadRequest(f"invalid_{name}", f"{name} must be a whole number from {minimum} to {maximum}.")
    return int(value)


def _choice(name: str, value: str, choices: Iterable[str], reason: str | None = None) -> str:
    """One of ``choices``, as the API documents them: no aliases, nothing quietly dropped."""
    allowed = tuple(choices)
    if value not in allowed:
        raise BadRequest(reason or f"invalid_{name}", f"{name} must be one of {', '.join(allowed)}.")
    return value


def _colour(get: Callable[[str], str]) -> str | None:
    """``colour``, or its alias ``color`` (either in any case); both given must agree:
    neither is ever ignored."""
    given = {name: _choice(name, get(name).lower(), COLOUR_FAMILIES, "invalid_colour")
             for name in ("colour", "color") if get(name)}
    if len(set(given.values())) > 1:
        raise BadRequest("invalid_colour", "color is another name for colour: give one of them, "
                         "or the same value in both.")
    return next(iter(given.values()), None)


def _date(name: str, value: str) -> date:
    """YYYY-MM-DD only (ASCII digits): ``date.fromisoformat`` also takes "20240531" and
    ISO weeks, which the API documents as invalid (format: date)."""
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest("invalid_date", f"{name} must be a date like 2024-05-31.") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise BadRequest("invalid_date", f"{name} must be between {MIN_DATE} and {MAX_DATE}.")
    return day


def _month(value: str) -> date:
    """YYYY-MM (ASCII digits), within the date range: the first day of that month."""
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise BadRequest("invalid_month", "month must be a month like 2024-05.")
    first = date(int(value[:4]), int(value[5:]), 1)
    if not MIN_DATE.replace(day=1) <= first <= MAX_DATE:
        raise BadRequest("invalid_month", f"month must be between {MIN_DATE:%Y-%m} and {MAX_DATE:%Y-%m}.")
    return first


def parse_query(params: Mapping[str, str], viewer: Viewer, *, default_scope: str | None = None) -> ImageQuery:
    """Build an ImageQuery from request parameters; BadRequest naming the bad parameter."""
    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    scope = _choice("scope", get("scope") or default_scope or ("mine" if viewer.user else "public"),
                    SCOPES)
    if scope == "mine" and viewer.user is None:
        scope = "public"
    text = get("q")
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest("query_too_long", f"q: the search text is limited to {MAX_QUERY_LENGTH} characters.")
    tokens = query_tokens(text)
    if len(tokens) > MAX_QUERY_TOKENS:
        raise BadRequest("query_too_long", f"q: search for at most {MAX_QUERY_TOKENS} words at once.")
    if len(get("tag")) > MAX_TAG:  # no stored tag is longer: a longer one is a mistake, say so
        raise BadRequest("invalid_tag", f"tag: a tag is at most {MAX_TAG} characters.")
    tag = normalise_tag(get("tag")) or None
    marks = {name: MARKS[_choice(name, get(name).lower(), MARKS)]
             for name in (FAVOURITE, ARCHIVED) if get(name)}
    if marks and scope != "mine":
        raise BadRequest("invalid_scope", f"{', '.join(marks)}: only your own images (scope=mine, "
                         "signed in) can be filtered by favourite or archived.")
    colour = _colour(get)
    date_from = _date("from", get("from")) if get("from") else None
    date_to = _date("to", get("to")) if get("to") else None
    if date_from and date_to and date_from > date_to:
        raise BadRequest("invalid_date", "The 'from' date is after the 'to' date.")
    has_text = HAS_TEXT[_choice("has_text", get("has_text").lower() or "any", HAS_TEXT)]
    sort = _choice("sort", get("sort") or "newest", SORTS)
    by = _choice("by", get("by") or "taken", ORDERS)
    month = _month(get("month")) if get("month") else None
    cursor = decode_cursor(get("cursor")) if get("cursor") else None
    limit = _whole_number("limit", get("limit"), 1, MAX_PAGE_SIZE) if get("limit") else DEFAULT_PAGE_SIZE
    query = ImageQuery(scope=scope, text=text, tokens=tokens, tag=tag, colour=colour,
                       date_from=date_from, date_to=date_to, has_text=has_text, sort=sort,
                       by=by, month=month, cursor=cursor, limit=limit, favourite=marks.get(FAVOURITE))
    # Archived images leave the main grid only: a search, a filter or the Favourites finds them.
    default_archived = None if query.is_search or query.favourite is not None else False
    return replace(query, archived=marks.get(ARCHIVED, default_archived))


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def public_listing() -> dict[str, Any]:
    """What every listing of other people's images requires: public, and not flagged by
    the safety check (``$ne`` so documents analysed before the flag existed still match).
    The owner's own listings and the image page do not apply the flag."""
    return {"visibility": PUBLIC, HIDDEN_FROM_PUBLIC: {"$ne": True}}


def build_filter(query: ImageQuery, viewer: Viewer) -> dict[str, Any]:
    """The MongoDB filter for a query as seen by ``viewer`` (visibility is part of it)."""
    flt: dict[str, Any] = {}
    if query.scope == "mine" and viewer.user_id is not None:
        flt["owner_id"] = viewer.user_id
    else:
        flt.update(public_listing())
    if len(query.tokens) == 1:
        flt["search_tokens"] = query.tokens[0]
    elif query.tokens:
        flt["search_tokens"] = {"$all": query.tokens}
    if query.tag:
        flt["tags"] = query.tag
    if query.colour:
        flt["colour_families"] = query.colour
    if query.has_text is not None:
        flt["has_text"] = query.has_text
    # Only the owner's Trash view lists trashed images; everything else leaves them out.
    flt[TRASHED_AT] = {"$ne": None} if query.trashed and "owner_id" in flt else None
    if "owner_id" in flt:  # marks are the owner's own: never a filter on other people's images
        if query.favourite is not None:
            flt[FAVOURITE] = True if query.favourite else {"$ne": True}
        if query.archived is not None and not query.trashed:  # the Trash lists all of its images
            flt[ARCHIVED] = True if query.archived else {"$ne": True}
    taken: dict[str, ObjectId] = {}  # the date filters: always the date taken
    if query.date_from:
        taken["$gte"] = day_bound(query.date_from)
    if query.date_to:
        taken["$lt"] = day_bound(query.date_to + timedelta(days=1))
    key = query.key
    position = query.cursor
    if position is None and query.month is not None and key == TIMELINE:
        # The jump menu: start in that month; newest first, strictly before the next one.
        start = _next_month(query.month) if query.sort == "newest" else query.month
        position = day_bound(start)
        if query.sort == "oldest":  # the month's first second is included ($gt below)
            position = ObjectId((int.from_bytes(position.binary, "big") - 1).to_bytes(12, "big"))
    key_range = taken if key == TIMELINE else {}
    if position is not None:
        op = "$lt" if query.sort == "newest" else "$gt"
        bound = key_range.get(op)
        if bound is None or (position < bound if op == "$lt" else position > bound):
            key_range[op] = position
    if taken and key != TIMELINE:
        flt[TIMELINE] = taken
    if key_range:
        flt[key] = key_range
    return flt


def query_params(query: ImageQuery, **overrides: str | None) -> dict[str, str]:
    """The query as URL parameters (for 'next page' links), with overrides."""
    params: dict[str, str] = {}
    if query.scope:
        params["scope"] = query.scope
    if query.text:
        params["q"] = query.text
    if query.tag:
        params["tag"] = query.tag
    if query.colour:
        params["colour"] = query.colour
    if query.date_from:
        params["from"] = query.date_from.isoformat()
    if query.date_to:
        params["to"] = query.date_to.isoformat()
    if query.has_text is not None:
        params["has_text"] = "yes" if query.has_text else "no"
    for name, mark in ((FAVOURITE, query.favourite), (ARCHIVED, query.archived)):
        if mark is not None and params.get("scope") == "mine":
            params[name] = "yes" if mark else "no"
    if query.sort != "newest":
        params["sort"] = query.sort
    if query.by != "taken":
        params["by"] = query.by
    if query.month is not None:
        params["month"] = f"{query.month:%Y-%m}"
    if query.limit != DEFAULT_PAGE_SIZE:
        params["limit"] = str(query.limit)
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params
