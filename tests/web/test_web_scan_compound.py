"""Keyword, tag and colour listings query the scope and the term together.

Why: with only a (term, _id) index a signed-in search read every user's matching images
and dropped the others here (2.5x over-read at 100k images); the compound
(scope, term, _id) indexes in core let the server return only the viewer's scope.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_web.services.scan import WindowedScanner, driver_key, split_compound


def test_split_compound_pairs_scope_and_term() -> None:
    owner = ObjectId()
    driver, residual, lower, upper = split_compound(
        {"owner_id": owner, "search_tokens": {"$all": ["cat", "sunset"]}, "has_text": True})
    assert driver == {"owner_id": owner, "search_tokens": "sunset"}
    assert residual == {"search_tokens": {"$all": ["cat"]}, "has_text": True}
    assert (lower, upper) == (0, None)
    driver, residual, _, _ = split_compound(
        {"visibility": "public", "hidden_from_public": {"$ne": True}, "tags": "sea", "colour_families": "red"})
    assert driver == {"visibility": "public", "tags": "sea"}
    assert residual == {"hidden_from_public": {"$ne": True}, "colour_families": "red"}
    # A scope alone stays a single-field driver with the plain memo key.
    driver, residual, _, _ = split_compound({"owner_id": owner})
    assert driver == {"owner_id": owner} and residual == {}
    assert driver_key("", driver) == ("owner_id", str(owner))


class Recording:
    """A real collection whose find() results are counted (what the server sent back)."""

    def __init__(self, coll: Any) -> None:
        self.coll, self.returned = coll, 0

    def find(self, *args: Any, **kwargs: Any) -> Any:
        recording = self

        class Cursor:
            def __init__(self, cursor: Any) -> None:
                self.cursor = cursor

            def sort(self, *a: Any) -> Cursor:
                return Cursor(self.cursor.sort(*a))

            def limit(self, n: int) -> Cursor:
                return Cursor(self.cursor.limit(n))

            def __iter__(self) -> Any:
                docs = list(self.cursor)
                recording.returned += len(docs)
                return iter(docs)

        return Cursor(self.coll.find(*args, **kwargs))


def test_a_search_reads_only_the_viewers_matches(mongo_db: Any) -> None:
    ensure_indexes(mongo_db)
    mine, other = ObjectId(), ObjectId()
    docs: list[dict[str, Any]] = [{"_id": ObjectId(), "owner_id": mine if i % 5 == 0 else other, "visibility": "private",
             "search_tokens": ["beach"], "share_token": f"t{i}", "sha256": f"s{i}"} for i in range(200)]
    mongo_db[IMAGES].insert_many(docs)
    recording = Recording(mongo_db[IMAGES])
    page = WindowedScanner().newest(recording, {"owner_id": mine, "search_tokens": "beach"},  # type: ignore[arg-type]
                                    49, {"_id": 1})
    expected: list[ObjectId] = sorted((d["_id"] for d in docs if d["owner_id"] == mine), reverse=True)
    assert [d["_id"] for d in page] == expected
    assert len(page) == 40
    assert recording.returned == 40  # none of the other owner's 160 images came back
