"""The in-memory word index of a search scope (services/word_index.py, #13).

Pure: exact-token matching (every token, no prefixes, no case folding of its own), odd
stored values, the newest-first order a ranked search reads. Against real SecantusDB: the
index built through the repository's own scope read finds exactly what the listing's
token filter (services/query.build_filter) finds on the same documents.
"""

from __future__ import annotations

import random
from typing import Any

from bson import ObjectId

from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_core.queue import JobQueue
from picsource_core.text_embedding import TEXT_MODEL_ID, pack
from picsource_core.trash import TRASHED_AT
from picsource_web.services.images import ImageRepository
from picsource_web.services.query import ImageQuery, build_filter, public_listing
from picsource_web.services.users import ANONYMOUS
from picsource_web.services.vector_index import build_scope
from picsource_web.services.word_index import build_words, stored_tokens
from tests.web.test_web_semantic import unit


def rows(index: Any, tokens: list[str]) -> list[int]:
    return [int(r) for r in index.rows_with(tokens)]


# --- pure -------------------------------------------------------------------------------
def test_a_row_matches_when_it_holds_every_token_exactly() -> None:
    index = build_words([["dog", "beach"], ["dog"], ["beach", "dog", "dog"], [], ["dogs", "Dog"]])
    assert rows(index, ["dog"]) == [0, 1, 2]
    assert rows(index, ["dog", "beach"]) == rows(index, ["beach", "dog"]) == [0, 2]
    assert rows(index, ["do"]) == [] and rows(index, ["dogs"]) == [4]  # no prefixes, no stemming
    assert rows(index, ["dog", "cat"]) == []  # an unknown token: nothing
    assert rows(index, []) == []
    assert rows(index, ["dog", "dog"]) == [0, 1, 2]


def test_stored_values_count_as_mongodb_compares_them() -> None:
    assert stored_tokens(["dog", 3, ["cat"], None, "sea"]) == ["dog", "sea"]
    assert stored_tokens("dog") == ["dog"]
    assert stored_tokens(None) == [] and stored_tokens({"dog": 1}) == []
    assert rows(build_words([]), ["dog"]) == []


def test_a_scope_lists_word_matches_newest_first_with_or_without_a_vector() -> None:
    old, mid, new = ObjectId("0" * 23 + "1"), ObjectId("0" * 23 + "2"), ObjectId("0" * 23 + "3")
    scope = build_scope("s", [(new, None, None, ["dog"]), (old, pack(unit(1)), TEXT_MODEL_ID, ["dog", "sea"]),
                              (mid, pack(unit(2)), TEXT_MODEL_ID, "dog")])
    assert scope.ids == (old, mid, new)  # rows in _id order
    assert scope.newest_with(["dog"], 2) == ([new, mid], 3)
    assert scope.newest_with(["sea", "dog"], 5) == ([old], 1)
    assert scope.newest_with(["cat"], 5) == ([], 0)
    assert [i for i, _ in scope.nearest(unit(1), 5, 0.5)] == [old]  # no vector: never near
    # Ids ending in zero bytes ("S12" drops them) are still told apart and found.
    zero, zeros = ObjectId("0" * 20 + "0100"), ObjectId("0" * 20 + "0000")
    ended = build_scope("s", [(zero, None, None, ["dog"]), (old, None, None, ["dog"]), (zeros, None, None, ["dog"])])
    assert ended.holding(["dog"], [zero, zeros, ObjectId("0" * 20 + "0101"), old]) == [zero, zeros, old]
    assert scope.holding(["dog"], [new, zero, old, ObjectId()]) == [new, old]
    assert scope.holding(["sea"], [new, mid, old]) == [old] and scope.holding(["dog"], []) == []


# --- against SecantusDB -----------------------------------------------------------------
VOCABULARY = ["dog", "beach", "sea", "cat", "car", "red", "tree", "2024", "café", "cafe", "dogs", "do"]


def test_word_hits_are_exactly_the_listing_token_filter_s(mongo_db: Any) -> None:
    ensure_indexes(mongo_db)
    rng = random.Random(13)
    docs: list[dict[str, Any]] = []
    for n in range(300):
        doc: dict[str, Any] = {"_id": ObjectId(), "owner_id": ObjectId(), "visibility": "public", TRASHED_AT: None, "share_token": f"s{n}",
                               "search_tokens": rng.sample(VOCABULARY, rng.randint(0, 5))}
        if n % 50 == 0:  # odd stored values the index must treat as MongoDB does
            doc["search_tokens"] = rng.choice(["dog", ["dog", ["sea"], 7], None])
        if n % 7 == 0:
            doc["text_vector"], doc["text_model"] = pack(unit(n)), TEXT_MODEL_ID
        docs.append(doc)
    mongo_db[IMAGES].insert_many(docs)
    repo = ImageRepository(mongo_db, None, JobQueue(mongo_db))  # type: ignore[arg-type]
    scope = build_scope("s", repo.listings.text_vectors({**public_listing(), TRASHED_AT: None}))
    assert len(scope.ids) == len(docs)
    queries = [[w] for w in VOCABULARY] + [rng.sample(VOCABULARY, k) for k in (2, 2, 2, 3, 3) for _ in range(4)]
    for tokens in queries:
        flt = build_filter(ImageQuery(scope="public", tokens=tokens), ANONYMOUS)
        expected = [d["_id"] for d in mongo_db[IMAGES].find(flt, {"_id": 1}).sort("_id", -1)]
        found, held = scope.newest_with(tokens, len(docs))
        assert found == expected and held == len(expected), tokens
    assert any(scope.newest_with(q, 1)[1] for q in queries[:3])  # the data does hold matches
