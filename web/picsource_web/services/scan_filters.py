"""How a listing filter is split for a windowed read (services/scan.py), pure functions.

A windowed read names one indexed equality (the "driver": a keyword, tag or colour paired
with the owner or visibility scope where core has the compound index, else the scope) and
a range on the listing's key field; every other predicate is checked here on the
documents the window returns (``residual_match``), so the server never falls back to a
wider index. Key fields are 12-byte ObjectIds whose top bytes are seconds (``KeyField``):
``_id`` (date added) and the ``timeline`` (date taken, picsource_core.timeline).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from picsource_core.timeline import FIRST_PHOTO, TIMELINE, key_at

SECOND = 1 << 64  # ObjectId as a 96-bit integer: the top 32 bits are Unix seconds
# Oldest-first walks start here unless told otherwise: no image id predates PicSource.
EPOCH = int.from_bytes(ObjectId.from_datetime(datetime(2020, 1, 1, tzinfo=UTC)).binary, "big")
# Drivers in order of preference: the most selective indexed equality wins.
DRIVERS = ("search_tokens", "tags", "colour_families", "owner_id", "visibility")
# A keyword/tag/colour driver is paired with the listing's scope (owner or visibility)
# when both are plain equalities: core's compound (scope, field, _id) indexes then
# answer the query exactly, so no other owner's images are read and filtered here.
SCOPE_FIELDS = ("owner_id", "visibility")
COMPOUND_FIELDS = ("search_tokens", "tags", "colour_families")


def oid_int(oid: ObjectId) -> int:
    return int.from_bytes(oid.binary, "big")


def int_oid(value: int) -> ObjectId:
    return ObjectId(max(0, min(value, (1 << 96) - 1)).to_bytes(12, "big"))


@dataclass(frozen=True)
class KeyField:
    """A field listings are ordered by: its name, how many integer units one second spans
    (the seconds sit in its top 4 or 5 bytes), the key of an instant, and where oldest-first
    walks start."""

    name: str
    second: int
    at: Callable[[datetime], int]
    epoch: int


KEYS = {
    "_id": KeyField("_id", SECOND, lambda moment: oid_int(ObjectId.from_datetime(moment)), EPOCH),
    TIMELINE: KeyField(TIMELINE, 1 << 56, lambda moment: oid_int(key_at(moment)),
                       oid_int(key_at(FIRST_PHOTO))),
}


def split_filter(flt: Mapping[str, Any], key: str = "_id") -> tuple[str, Any, dict[str, Any], int, int | None]:
    """(driver field, driver value, residual predicates, lower bound incl., upper bound excl.)
    with the bounds taken from the ``key`` field's range."""
    rest = {k: v for k, v in flt.items() if k != key}
    bounds = flt.get(key) or {}
    lower = 0
    if "$gte" in bounds:
        lower = oid_int(bounds["$gte"])
    if "$gt" in bounds:
        lower = max(lower, oid_int(bounds["$gt"]) + 1)
    upper = oid_int(bounds["$lt"]) if "$lt" in bounds else None
    for field in DRIVERS:
        if field in rest:
            value = rest.pop(field)
            if isinstance(value, dict) and "$all" in value:
                tokens = sorted(value["$all"], key=len, reverse=True)  # longest: likely rarest
                if len(tokens) > 1:
                    rest[field] = {"$all": tokens[1:]}
                value = tokens[0]
            return field, value, rest, lower, upper
    raise ValueError(f"no indexed equality in filter {sorted(flt)}")


def split_compound(flt: Mapping[str, Any], key: str = "_id") -> tuple[dict[str, Any], dict[str, Any], int, int | None]:
    """Like split_filter, but the driver is a dict of one or two indexed equalities."""
    field, value, residual, lower, upper = split_filter(flt, key)
    driver = {field: value}
    if field in COMPOUND_FIELDS:
        for scope in SCOPE_FIELDS:
            if scope in residual and not isinstance(residual[scope], dict):
                driver = {scope: residual.pop(scope), field: value}
                break
    return driver, residual, lower, upper


def driver_key(prefix: str, driver: Mapping[str, Any]) -> tuple[str, str]:
    """The window memo's key; a single-field driver keeps the plain (field, value) form."""
    return prefix + "+".join(driver), "|".join(str(v) for v in driver.values())


def residual_match(doc: Mapping[str, Any], residual: Mapping[str, Any]) -> bool:
    """The few predicate forms build_filter produces: equality (membership for arrays), $all,
    $ne (MongoDB's meaning: a missing field matches, an array must not contain it) and a
    range ($gte/$gt/$lt: the date taken while reading in date-added order)."""
    for field, want in residual.items():
        have = doc.get(field)
        if isinstance(want, dict) and {"$gte", "$gt", "$lt"} & want.keys():
            if have is None or not _in_range(have, want):
                return False
        elif isinstance(want, dict) and "$ne" in want:
            if have == want["$ne"] or (isinstance(have, list) and want["$ne"] in have):
                return False
        elif isinstance(want, dict) and "$all" in want:
            if not isinstance(have, list) or not all(v in have for v in want["$all"]):
                return False
        elif isinstance(have, list):
            if want not in have:
                return False
        elif have != want:
            return False
    return True


def _in_range(have: Any, want: Mapping[str, Any]) -> bool:
    try:
        return (("$gte" not in want or have >= want["$gte"]) and ("$gt" not in want or have > want["$gt"])
                and ("$lt" not in want or have < want["$lt"]))
    except TypeError:  # another BSON type than the bound's never matches a range
        return False


def with_fields(projection: Mapping[str, Any] | None, key: str,
                 residual: Mapping[str, Any]) -> dict[str, Any] | None:
    """The caller's projection plus what the scan reads itself: the key and residual fields."""
    if projection is None:
        return None
    return {**projection, **({key: 1} if key != "_id" else {}), **dict.fromkeys(residual, 1)}
