"""The one write path of image documents, on a real MongoDB-wire server: every write renews
the listing stamps it affects, and search tokens follow every change of text or analysis,
in one round trip when nobody wrote in between and in two when somebody did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId

from picsource_core import stamps
from picsource_core.image_documents import ImageDocuments
from picsource_core.images import (
    FAILED,
    PENDING,
    PROCESSING,
    READY,
    near_duplicate_ids,
    new_image_doc,
)
from picsource_core.mongo import STAMPS, USERS

OWNER = ObjectId("65f000000000000000000001")


def _stamps(db: Any) -> tuple[str, str]:
    user = db[USERS].find_one({"_id": OWNER}) or {}
    return stamps.owner_stamp(user), stamps.read_public(db)


def _doc(visibility: str, title: str = "harbour at dawn") -> dict[str, Any]:
    image_id = ObjectId()
    return new_image_doc(
        image_id=image_id, owner_id=OWNER, title=title, description="", tags=["boats"],
        visibility=visibility, share_token=str(image_id), sha256=str(image_id), size=1, width=1,
        height=1, image_format="PNG", content_type="image/png", original_key=f"o/{image_id}",
    )


@pytest.fixture
def docs(mongo_db: Any) -> ImageDocuments:
    mongo_db[USERS].insert_one({"_id": OWNER, "username": "owner"})
    return ImageDocuments(mongo_db)


def _stored(docs: ImageDocuments, visibility: str) -> dict[str, Any]:
    doc = _doc(visibility)
    docs.insert(doc)
    found = docs.find_one({"_id": doc["_id"]})
    assert found is not None
    return found


WRITES: dict[str, Callable[[ImageDocuments, dict[str, Any]], object]] = {
    "edit": lambda d, doc: d.edit(doc, {"title": "new title"}),
    "apply_analysis": lambda d, doc: d.apply_analysis(doc["_id"], {"has_text": True}),
    "apply_analysis seen": lambda d, doc: d.apply_analysis(doc["_id"], {"has_text": True}, seen=doc),
    "mark_failed": lambda d, doc: d.mark_failed(doc["_id"], "boom"),
    "mark_pending": lambda d, doc: d.mark_pending(doc["_id"]),
    "delete": lambda d, doc: d.delete(doc),
    "remove": lambda d, doc: d.remove(doc["_id"]),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_renews_the_owner_stamp_and_the_public_one_only_for_public_images(
    mongo_db: Any, docs: ImageDocuments, write: str
) -> None:
    for visibility, public_renewed in (("public", True), ("private", False)):
        doc = _stored(docs, visibility)
        before = _stamps(mongo_db)
        WRITES[write](docs, doc)
        owner_after, public_after = _stamps(mongo_db)
        assert owner_after != before[0], (write, visibility)
        assert (public_after != before[1]) is public_renewed, (write, visibility)


def test_starting_an_analysis_leaves_the_stamps_alone(mongo_db: Any, docs: ImageDocuments) -> None:
    """pending -> processing: a tile looks the same in both (present.tile), so no cached
    page is stale, and an import does not write the owner's stamp once more per image."""
    doc = _stored(docs, "public")
    before = _stamps(mongo_db)
    seen = docs.start_analysis(doc["_id"])
    assert seen is not None and seen["status"] == "processing"
    assert _stamps(mongo_db) == before


def test_insert_renews_stamps_and_leaving_the_public_page_renews_the_public_one(
    mongo_db: Any, docs: ImageDocuments
) -> None:
    before = _stamps(mongo_db)
    _stored(docs, "private")
    after_insert = _stamps(mongo_db)
    assert after_insert[0] != before[0] and after_insert[1] == before[1]
    public = _stored(docs, "public")
    before = _stamps(mongo_db)
    docs.edit(public, {"visibility": "private"})  # public before the write, private after
    assert _stamps(mongo_db)[1] != before[1]


def test_writes_to_a_missing_image_renew_nothing(mongo_db: Any) -> None:
    docs = ImageDocuments(mongo_db)
    gone = ObjectId()
    assert docs.start_analysis(gone) is None
    assert docs.apply_analysis(gone, {"has_text": True}) is None
    assert docs.apply_analysis(gone, {"has_text": True}, seen={"_id": gone, "updated_at": None}) is None
    docs.mark_failed(gone, "boom")
    docs.remove(gone)
    assert mongo_db[STAMPS].count_documents({}) == 0


def test_status_moves_through_processing_to_ready_or_failed(docs: ImageDocuments) -> None:
    doc = _stored(docs, "private")
    assert doc["status"] == PENDING
    seen = docs.start_analysis(doc["_id"])
    assert seen is not None and seen["status"] == PROCESSING and "embedding" not in seen
    written = docs.apply_analysis(doc["_id"], {"analysis": {"caption": "a lighthouse"}}, seen=seen)
    assert written is not None and written["status"] == READY
    docs.mark_failed(doc["_id"], "x" * 5000)
    stored = docs.find_one({"_id": doc["_id"]})
    assert stored is not None and stored["status"] == FAILED and len(stored["analysis_error"]) == 2000


def _tokens(docs: ImageDocuments, image_id: ObjectId) -> set[str]:
    stored = docs.find_one({"_id": image_id})
    assert stored is not None
    return set(stored["search_tokens"])


def test_analysis_tokens_in_one_write_when_nobody_edited_meanwhile(docs: ImageDocuments) -> None:
    doc = _stored(docs, "private")
    seen = docs.start_analysis(doc["_id"])
    assert seen is not None
    written = docs.apply_analysis(doc["_id"], {"analysis": {"caption": "a lighthouse",
                                                            "labels": [{"label": "beacon"}]}}, seen=seen)
    assert written is not None
    assert {"harbour", "dawn", "boat", "lighthouse", "beacon"} <= _tokens(docs, doc["_id"])
    assert set(written["search_tokens"]) == _tokens(docs, doc["_id"])


def test_analysis_after_an_edit_meanwhile_keeps_both_in_the_tokens(docs: ImageDocuments) -> None:
    doc = _stored(docs, "private")
    seen = docs.start_analysis(doc["_id"])
    assert seen is not None
    current = docs.find_one({"_id": doc["_id"]})
    assert current is not None
    docs.edit(current, {"title": "castle in fog"})  # the owner edits while the job runs
    written = docs.apply_analysis(doc["_id"], {"analysis": {"caption": "a lighthouse"}}, seen=seen)
    assert written is not None and written["title"] == "castle in fog"
    tokens = _tokens(docs, doc["_id"])
    assert {"castle", "fog", "lighthouse"} <= tokens and "harbour" not in tokens


def test_an_edit_after_analysis_meanwhile_keeps_both_in_the_tokens(docs: ImageDocuments) -> None:
    doc = _stored(docs, "private")  # the edit form loaded the document before analysis
    seen = docs.start_analysis(doc["_id"])
    assert seen is not None
    docs.apply_analysis(doc["_id"], {"analysis": {"caption": "a lighthouse"}}, seen=seen)
    updated = docs.edit(doc, {"title": "castle in fog"})
    tokens = _tokens(docs, doc["_id"])
    assert {"castle", "fog", "lighthouse"} <= tokens and "harbour" not in tokens
    assert set(updated["search_tokens"]) == tokens


def test_a_link_list_reads_as_ids_whatever_shape_it_was_stored_in() -> None:
    a, b, c = ObjectId(), ObjectId(), ObjectId()
    stored = [a, {"image_id": b}, str(c), "not-an-id", {"other": 1}, None, 7]
    assert near_duplicate_ids({"near_duplicates": stored}) == [a, b, c]
    assert near_duplicate_ids({}) == []


def _links(docs: ImageDocuments, doc: dict[str, Any]) -> list[ObjectId]:
    found = docs.find_one({"_id": doc["_id"]})
    assert found is not None
    return list(found["near_duplicates"])


def test_a_re_analysis_drops_links_no_longer_close_and_a_deletion_drops_all(docs: ImageDocuments) -> None:
    a, b, c, d = (_stored(docs, "private") for _ in range(4))
    docs.apply_analysis(a["_id"], {"analysis": {"phash": "8000000000000000"}, "near_duplicates": []})
    for later in (b, c):  # analysed after a, so each stores its link to a
        docs.apply_analysis(later["_id"], {"analysis": {"phash": "8000000000000001"}, "near_duplicates": [a["_id"]]})
    docs.apply_analysis(d["_id"], {"analysis": {"phash": "8000000000000001"}, "near_duplicates": [b["_id"]]})
    seen = docs.start_analysis(a["_id"])
    docs.drop_stale_near_duplicate_links(a["_id"], [b["_id"]], seen=seen)  # re-analysed: c no longer close
    assert _links(docs, b) == [a["_id"]] and _links(docs, c) == [] and _links(docs, d) == [b["_id"]]
    assert docs.delete(b) is True  # every link to it goes too
    assert _links(docs, d) == [] and docs.delete(b) is False


def test_a_first_analysis_has_no_links_to_drop(docs: ImageDocuments) -> None:
    a, b = _stored(docs, "private"), _stored(docs, "private")
    docs.apply_analysis(b["_id"], {"analysis": {"phash": "8000000000000000"}, "near_duplicates": [a["_id"]]})
    seen = docs.start_analysis(a["_id"])  # b's list names a: only possible once a had a hash
    assert seen is not None
    docs.drop_stale_near_duplicate_links(a["_id"], [], seen=seen)
    assert _links(docs, b) == [a["_id"]]
