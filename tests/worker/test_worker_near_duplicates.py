"""Near-duplicate lookup (picsource_worker.duplicates): the pure hash store, and the
per-process copy kept current against the real MongoDB-wire server."""

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_worker.duplicates import (
    MAX_LINKS,
    MERGE_EVERY,
    NO_MATCHES,
    NearDuplicates,
    NearMatches,
    OwnerHashes,
    parse_phash,
)

BASE = 0x0F0F_F0F0_AAAA_5555


def hexed(value: int) -> str:
    return f"{value:016x}"


def test_parse_phash_takes_only_16_hex_digits() -> None:
    assert parse_phash("00000000000000ff") == 255
    assert parse_phash("ff") is None
    assert parse_phash("zzzzzzzzzzzzzzzz") is None
    assert parse_phash(None) is None


def test_owner_hashes_finds_what_is_within_the_limit_across_merges() -> None:
    known = OwnerHashes()
    near, far = ObjectId(), ObjectId()
    known.add(near, BASE ^ 0b111, None)  # 3 bits away
    known.add(far, BASE ^ 0x1FF, None)  # 9 bits away
    noise = [ObjectId() for _ in range(MERGE_EVERY + 5)]
    for i, image in enumerate(noise):  # forces a merge into the arrays half-way
        known.add(image, (BASE ^ ((1 << 20) - 1)) + i * (1 << 32), None)
    assert known.within(BASE, 8) == [near]
    assert known.within(BASE, 9) == [near, far]  # closest first
    assert known.ids.dtype.itemsize == 1 and known.ids.shape[1] == 12  # ids survive as bytes


def test_ids_ending_in_zero_bytes_come_back_whole() -> None:
    known = OwnerHashes()
    image = ObjectId(b"\x01" * 10 + b"\x00\x00")
    known.add(image, BASE, None)
    assert known.within(BASE, 0) == [image]


def test_owner_hashes_lists_an_image_once_at_its_closest_and_closest_first() -> None:
    known = OwnerHashes()
    moved, near = ObjectId(), ObjectId()
    known.add(moved, BASE ^ 0b1111, None)  # 4 bits away, then re-analysed to 1 bit away
    known.add(near, BASE ^ 0b11, None)
    known.add(moved, BASE ^ 0b1, None)
    assert known.within(BASE, 8) == [moved, near]


def _insert(db: Any, owner: ObjectId, phash: str | None, links: list[ObjectId] | None = None) -> ObjectId:
    image = ObjectId()
    db[IMAGES].insert_one({"_id": image, "owner_id": owner, "sha256": str(image), "status": "ready",
                           "share_token": str(image), "analysis": {"phash": phash},
                           "analysed_at": datetime.now(UTC), "near_duplicates": links or []})
    return image


def test_images_analysed_after_the_first_read_are_found_and_stale_ones_are_not(mongo_db) -> None:  # type: ignore[no-untyped-def]
    ensure_indexes(mongo_db)
    owner, other_owner = ObjectId(), ObjectId()
    finder = NearDuplicates(ImageDocuments(mongo_db))
    first = _insert(mongo_db, owner, hexed(BASE ^ 1))
    _insert(mongo_db, other_owner, hexed(BASE))  # another owner's copy is never a candidate
    me = ObjectId()
    assert finder.find(owner, me, hexed(BASE)) == NearMatches([first], [first])
    # Analysed after that read, by another process: the next look finds it, closest first.
    second = _insert(mongo_db, owner, hexed(BASE))
    assert finder.find(owner, me, hexed(BASE)) == NearMatches([second, first], [second, first])
    # Re-analysed to a far hash, and deleted: this process's old copy does not link them.
    mongo_db[IMAGES].update_one({"_id": first}, {"$set": {"analysis.phash": hexed(~BASE & (2**64 - 1)),
                                                          "analysed_at": datetime.now(UTC)}})
    mongo_db[IMAGES].delete_one({"_id": second})
    assert finder.find(owner, me, hexed(BASE)) == NO_MATCHES
    assert finder.find(owner, me, "not-a-hash") == NO_MATCHES
    # The image itself is never its own near-duplicate.
    again = _insert(mongo_db, owner, hexed(BASE))
    assert finder.find(owner, again, hexed(BASE)) == NO_MATCHES


def test_a_link_already_stored_on_the_other_image_is_not_stored_again(mongo_db) -> None:  # type: ignore[no-untyped-def]
    """A re-analysis of the older image finds the newer one, which already lists it: the
    link is close, but stays stored once, so the re-analysis writes what the first did."""
    ensure_indexes(mongo_db)
    owner = ObjectId()
    older = _insert(mongo_db, owner, hexed(BASE))
    newer = _insert(mongo_db, owner, hexed(BASE ^ 1), links=[older])
    unlinked = _insert(mongo_db, owner, hexed(BASE ^ 3))
    found = NearDuplicates(ImageDocuments(mongo_db)).find(owner, older, hexed(BASE))
    assert found == NearMatches([newer, unlinked], [unlinked])


def test_a_burst_of_similar_shots_links_only_the_closest(mongo_db) -> None:  # type: ignore[no-untyped-def]
    ensure_indexes(mongo_db)
    owner = ObjectId()
    closest = _insert(mongo_db, owner, hexed(BASE ^ 1))
    burst = [_insert(mongo_db, owner, hexed(BASE ^ 0b11)) for _ in range(MAX_LINKS + 5)]
    found = NearDuplicates(ImageDocuments(mongo_db)).find(owner, ObjectId(), hexed(BASE))
    assert len(found.close) == MAX_LINKS and found.close[0] == closest
    assert set(found.close[1:]) <= set(burst) and found.to_store == found.close
