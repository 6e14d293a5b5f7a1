"""Pure functions of the web services layer: no servers needed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from bson import ObjectId
from PIL import Image

from picsource_core.timeline import key_at, key_time
from picsource_web.services import metadata, passwords, query
from picsource_web.services.errors import BadRequest
from picsource_web.services.uploads import QuotaExceeded, check_quota
from picsource_web.services.users import User, Viewer, parse_object_id
from picsource_web.services.validation import (
    DECODE_SLOTS,
    UploadRejected,
    accepted_formats,
    validate_image,
)
from picsource_web.settings import Settings
from tests.support import images as samples

LIMITS = {"max_bytes": 25_000_000, "max_pixels": 50_000_000}
ALICE = Viewer(User(id=ObjectId(), username="alice", is_admin=False, created_at=None))  # type: ignore[arg-type]


def test_password_hash_round_trip_and_format() -> None:
    encoded = passwords.hash_password("a long passphrase")
    assert encoded.startswith("scrypt$131072$8$1$")  # the OWASP default
    assert passwords.verify_password("a long passphrase", encoded)
    assert not passwords.verify_password("a long passphrasE", encoded)
    assert passwords.hash_password("a long passphrase") != encoded  # salted
    assert not passwords.verify_password("x", "garbage") and not passwords.verify_password("x", "md5$1$2$3$4$5")


def test_password_policy() -> None:
    assert passwords.password_problems("short") == ["Password must be at least 10 characters long."]
    assert passwords.password_problems("aaaaaaaaaaaa")[0].startswith("Password must not be a single")
    assert passwords.password_problems("Alice12345", "alice12345")
    assert passwords.password_problems("correct horse battery", "alice") == []


def test_validation_identifies_by_content_not_name() -> None:
    info = validate_image(samples.png(), **LIMITS)
    assert (info.format, info.content_type, info.width, info.height) == ("PNG", "image/png", 32, 32)
    assert len(info.sha256) == 64
    assert set(accepted_formats()) >= {"JPEG", "PNG", "WEBP", "GIF"}


@pytest.mark.parametrize(("data", "status", "reason"), [
    (b"", 400, "empty"),
    (samples.truncated_jpeg(), 422, "corrupt"),
    (samples.png_bomb(), 422, "too_many_pixels"),
    (samples.TEXT_AS_JPG, 415, "unsupported_format"),
    (samples.SVG, 415, "unsupported_format"),
    (samples.oversize(25_000_000), 413, "too_large"),
])
def test_validation_rejections(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(UploadRejected) as info:
        validate_image(data, **LIMITS)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_formats_outside_the_allowlist_are_415() -> None:
    with pytest.raises(UploadRejected) as info:
        validate_image(samples.encode(Image.new("RGB", (8, 8)), "BMP"), **LIMITS)
    assert info.value.status == 415 and "Accepted formats" in info.value.message


def test_full_decodes_take_turns_and_a_long_wait_is_a_clear_503() -> None:
    """With gthread workers, one process decodes one image at a time (memory bound); an
    upload that cannot get the slot in time is refused as busy, not queued for ever."""
    assert DECODE_SLOTS.acquire(timeout=5)  # another request of this process is decoding
    try:
        with pytest.raises(UploadRejected) as info:
            validate_image(samples.png(), **LIMITS, decode_wait=0.05)
        assert (info.value.status, info.value.reason) == (503, "busy")
    finally:
        DECODE_SLOTS.release()
    assert validate_image(samples.png(), **LIMITS, decode_wait=0.05).format == "PNG"


def test_pixel_bomb_is_refused_from_the_header_quickly() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(UploadRejected):
        validate_image(samples.png_bomb(), max_bytes=25_000_000, max_pixels=1_000_000)
    assert time.perf_counter() - started < 1.0  # never decodes 400 MP


def test_metadata_cleaning() -> None:
    assert metadata.clean_title("  Hello\tworld\x00 ") == "Hello world"
    assert metadata.clean_description("a\r\nb") == "a\nb"
    assert metadata.parse_tags(" Sea, sea ,SKY,, ") == ["sea", "sky"]
    assert metadata.parse_tags(["Café"]) == ["cafe"]
    assert metadata.safe_filename("..\\..\\windows\\system.ini") == "system.ini"
    assert metadata.safe_filename("/etc/../.hidden") == "hidden"
    assert metadata.parse_visibility(None) == "private"
    with pytest.raises(BadRequest):
        metadata.parse_visibility("secret")
    with pytest.raises(BadRequest):
        metadata.clean_title("x" * 201)


def test_cursor_round_trip_and_rejections() -> None:
    oid = ObjectId()
    assert query.decode_cursor(query.encode_cursor(oid)) == oid
    for bad in ("", "abc", "A" * 15, "A" * 17, "!" * 16, "AAAAAAAAAAAAAAA="):
        with pytest.raises(BadRequest):
            query.decode_cursor(bad)


def test_query_to_filter() -> None:
    q = query.parse_query({"q": "Red Cars", "tag": " Trip ", "colour": "RED", "has_text": "no",
                           "from": "2024-01-01", "to": "2024-01-31"}, ALICE)
    flt = query.build_filter(q, ALICE)
    assert flt["owner_id"] == ALICE.user_id
    assert flt["search_tokens"] == {"$all": ["red", "car"]}
    assert flt["tags"] == "trip" and flt["colour_families"] == "red" and flt["has_text"] is False
    # a word search reads in upload order; its dates are the date taken (the timeline key)
    assert "_id" not in flt and q.key == "_id"
    assert key_time(flt["timeline"]["$gte"]).date() == date(2024, 1, 1)
    assert key_time(flt["timeline"]["$lt"]).date() == date(2024, 2, 1)
    assert "$text" not in str(flt)


def test_anonymous_queries_are_public_only() -> None:
    anonymous = Viewer()
    q = query.parse_query({"scope": "mine"}, anonymous)
    assert query.build_filter(q, anonymous) == {"visibility": "public",
                                                 "hidden_from_public": {"$ne": True},
                                                 "trashed_at": None}


def test_cursor_combines_with_date_bounds() -> None:
    old = key_at(datetime(2024, 1, 10, tzinfo=UTC))  # a timeline key (the date-taken order)
    q = query.parse_query({"to": "2024-01-31", "cursor": query.encode_cursor(old)}, ALICE)
    assert query.build_filter(q, ALICE)["timeline"] == {"$lt": old}
    oldest = query.parse_query({"sort": "oldest", "from": "2024-01-01", "cursor": query.encode_cursor(old)}, ALICE)
    bounds = query.build_filter(oldest, ALICE)["timeline"]
    assert bounds["$gt"] == old and "$gte" in bounds
    added = query.parse_query({"by": "added", "from": "2024-01-01", "cursor": query.encode_cursor(old)}, ALICE)
    flt = query.build_filter(added, ALICE)  # by date added: the cursor bounds _id, the date the timeline
    assert flt["_id"] == {"$lt": old} and set(flt["timeline"]) == {"$gte"}


def test_query_params_round_trip() -> None:
    q = query.parse_query({"q": "cat", "colour": "grey", "sort": "oldest", "limit": "10"}, ALICE)
    params = query.query_params(q, cursor="X")
    assert params == {"scope": "mine", "q": "cat", "colour": "grey", "sort": "oldest", "limit": "10", "cursor": "X"}


def test_quota_rule() -> None:
    settings = Settings.from_env({"SECRET_KEY": "k" * 40, "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b",
                                  "QUOTA_IMAGES": "5", "QUOTA_BYTES": "1000"})
    check_quota(settings, (4, 500), 400)
    with pytest.raises(QuotaExceeded, match="quota is 5 images"):
        check_quota(settings, (5, 0), 1)
    with pytest.raises(QuotaExceeded, match="only 100 of your 1,000 bytes"):
        check_quota(settings, (1, 900), 200)


def test_parse_object_id() -> None:
    assert parse_object_id("not-an-id") is None and parse_object_id("0" * 24) == ObjectId("0" * 24)
    assert parse_object_id("g" * 24) is None and parse_object_id(None) is None
