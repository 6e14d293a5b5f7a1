"""Near-duplicate lookup (picsource_worker.duplicates): the pure hash store, and the
per-process copy kept current against the real MongoDB-wire server."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
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
from picsource_worker.hash_snapshots import HashSnapshots

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


def test_a_saved_copy_reads_back_whole_and_a_broken_one_is_ignored(tmp_path: Path) -> None:
    snapshots, owner = HashSnapshots(tmp_path), ObjectId()
    known = OwnerHashes()
    near = ObjectId(b"\x01" * 10 + b"\x00\x00")
    known.add(near, BASE ^ 1, None)
    known.add(ObjectId(), ~BASE & (2**64 - 1), None)
    assert snapshots.save(owner, known) is False  # never read from the database: nothing to hand on
    known.read_until = datetime(2026, 12, 4, 12, 0, 0, 250000, tzinfo=UTC)
    assert snapshots.save(owner, known) is True
    loaded = snapshots.load(owner)
    assert loaded is not None and loaded.read_until == known.read_until
    assert loaded.within(BASE, 8) == [near] and len(loaded.hashes) == 2
    assert snapshots.load(ObjectId()) is None and snapshots.load("not-an-object-id") is None
    assert list(tmp_path.iterdir()) == [tmp_path / f"{owner}.npz"]  # no temporary file left
    (tmp_path / f"{owner}.npz").write_bytes(b"PK\x03\x04 torn")
    assert snapshots.load(owner) is None
    with (tmp_path / f"{owner}.npz").open("wb") as out:  # readable, but not a copy's shape
        np.savez(out, ids=np.zeros((2, 11), np.uint8), hashes=np.zeros(2, np.uint64), read_until=np.zeros(1))
    assert snapshots.load(owner) is None


def _insert(db: Any, owner: ObjectId, phash: str | None, links: list[ObjectId] | None = None,
            analysed_at: datetime | None = None) -> ObjectId:
    image = ObjectId()
    db[IMAGES].insert_one({"_id": image, "owner_id": owner, "sha256": str(image), "status": "ready",
                           "share_token": str(image), "analysis": {"phash": phash},
                           "analysed_at": analysed_at or datetime.now(UTC), "near_duplicates": links or []})
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


def test_a_successor_starts_from_the_copy_and_reads_only_what_was_analysed_after_it(
        mongo_db: Any, tmp_path: Path) -> None:  # fmt: skip
    ensure_indexes(mongo_db)
    owner = ObjectId()
    before = _insert(mongo_db, owner, hexed(BASE ^ 1))
    first = NearDuplicates(ImageDocuments(mongo_db), snapshots=HashSnapshots(tmp_path))
    assert first.find(owner, ObjectId(), hexed(BASE)).close == [before]
    assert first.save() == 1
    # Written now but dated long before the copy: a full read would find it, the successor's
    # read (from the copy's time on) does not, so it shows which way the successor read.
    backdated = _insert(mongo_db, owner, hexed(BASE), analysed_at=datetime.now(UTC) - timedelta(hours=1))
    after = _insert(mongo_db, owner, hexed(BASE ^ 3))
    successor = NearDuplicates(ImageDocuments(mongo_db), snapshots=HashSnapshots(tmp_path))
    assert successor.find(owner, ObjectId(), hexed(BASE)).close == [before, after]
    without_copy = NearDuplicates(ImageDocuments(mongo_db))
    assert without_copy.find(owner, ObjectId(), hexed(BASE)).close == [backdated, before, after]
