"""What albums accept, as pure functions (no server): fields, id lists, page parameters and
the cursor, which must bring back exactly the position it was made from."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest
from bson import ObjectId

from picsource_core.albums import MAX_IDS_PER_CALL
from picsource_web.services.album_input import (
    AlbumInputError,
    day_from_expiry,
    encode_cursor,
    expiry_from_day,
    parse_album_fields,
    parse_album_query,
    parse_image_ids,
    query_params,
)

TODAY = date(2026, 12, 2)


def test_a_cursor_round_trips_to_the_millisecond() -> None:
    when, image_id = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC), ObjectId()
    cursor = encode_cursor("taken", when, image_id)
    assert parse_album_query({"cursor": cursor}).after == (when, image_id)
    old = datetime(1901, 1, 1, tzinfo=UTC)  # before 1970: a negative offset
    assert parse_album_query({"cursor": encode_cursor("taken", old, image_id)}).after == (old, image_id)


@pytest.mark.parametrize("cursor", ["", "AAAA", "!" * 28, "B" * 28, "A" * 27 + "="])
def test_a_malformed_cursor_is_named(cursor: str) -> None:
    with pytest.raises(AlbumInputError) as err:
        parse_album_query({"cursor": cursor or "x"})
    assert err.value.field == "cursor"


def test_a_cursor_from_another_sort_is_refused() -> None:
    image_id = ObjectId()
    cursor = encode_cursor("added", 20_000, image_id)
    with pytest.raises(AlbumInputError, match="another sort order"):
        parse_album_query({"cursor": cursor})
    assert parse_album_query({"cursor": cursor, "sort": "added"}).after == (20_000, image_id)
    # "added" by date, before memberships were numbered: refused, not read as a number
    dated = base64.urlsafe_b64encode(b"\x01" + (1_700_000_000_000).to_bytes(8, "big") + image_id.binary)
    with pytest.raises(AlbumInputError, match="start again"):
        parse_album_query({"cursor": dated.decode().rstrip("="), "sort": "added"})


@pytest.mark.parametrize(("params", "field"), [({"sort": "best"}, "sort"), ({"order": "up"}, "order"),
                                               ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                                               ({"limit": "²"}, "limit")])
def test_bad_page_parameters_are_named(params: dict[str, str], field: str) -> None:
    with pytest.raises(AlbumInputError) as err:
        parse_album_query(params)
    assert err.value.field == field


def test_links_carry_only_what_differs_from_the_defaults() -> None:
    assert query_params(parse_album_query({})) == {}
    query = parse_album_query({"sort": "added", "order": "newest", "limit": "10"})
    assert query_params(query, "CUR") == {"sort": "added", "limit": "10", "cursor": "CUR"}


def test_album_fields_are_cleaned_and_checked() -> None:
    assert parse_album_fields({"title": "  Trip\x00 "}, today=TODAY, partial=False) == {"title": "Trip"}
    changes = parse_album_fields({"visibility": "unlisted", "allow_download": "1",
                                  "share_expires_on": "2026-12-02"}, today=TODAY, partial=True)
    assert changes == {"visibility": "unlisted", "allow_download": True,
                       "share_expires_at": datetime(2026, 12, 3, tzinfo=UTC)}
    assert parse_album_fields({"share_expires_on": ""}, today=TODAY, partial=True) == {"share_expires_at": None}
    for body, field in (({"title": ""}, "title"), ({"title": 3}, "title"), ({"title": "x", "colour": "red"}, "colour"),
                        ({"title": "x", "allow_download": 1}, "allow_download"),
                        ({"title": "x", "share_expires_on": "2026-12-01"}, "share_expires_on"),
                        ({"title": "x", "share_expires_on": "20261203"}, "share_expires_on"),
                        ({"title": "x", "share_expires_on": "2026-02-30"}, "share_expires_on")):
        with pytest.raises(AlbumInputError) as err:
            parse_album_fields(body, today=TODAY, partial=False)
        assert err.value.field == field, body


def test_a_link_works_through_its_last_day() -> None:
    expires = expiry_from_day(TODAY)
    assert expires == datetime(2026, 12, 3, tzinfo=UTC) and day_from_expiry(expires) == TODAY
    assert expiry_from_day(None) is None and day_from_expiry(None) is None


def test_image_id_lists_are_bounded_and_each_item_named() -> None:
    a, b = str(ObjectId()), str(ObjectId())
    assert parse_image_ids([a, b, a]) == [ObjectId(a), ObjectId(b)]
    assert len(parse_image_ids([str(ObjectId()) for _ in range(MAX_IDS_PER_CALL)])) == MAX_IDS_PER_CALL
    for values, field in (([], "image_ids"), ("a,b", "image_ids"), ([a, 5], "image_ids[1]"),
                          ([a.upper()], "image_ids[0]"),
                          ([a] * (MAX_IDS_PER_CALL + 1), "image_ids")):
        with pytest.raises(AlbumInputError) as err:
            parse_image_ids(values)
        assert err.value.field == field, values
