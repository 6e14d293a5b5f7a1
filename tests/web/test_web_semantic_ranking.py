"""How a ranked search finds its candidates and keeps its lists (services/semantic.py, #13).

Pure, with a stand-in encoder and stand-in database reads: word matches come from the
scope's in-memory words and are decided on the documents as read back; a selective
filter hands the word part to the database; one thread ranks a list while the others
wait; lists ranked from a large scope's previous read stay in use until the new read
lands, and a small scope's never outlive a new stamp.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.text_embedding import TEXT_MODEL_ID, pack
from picsource_web.services.semantic import TOKEN_CANDIDATES, QueryVectors, SemanticSearch
from picsource_web.services.vector_index import VectorIndex
from tests.support.waiting import wait_until
from tests.web.test_web_semantic import unit

QUERY = unit(1)
SCOPE = {"owner_id": 1}
#: A search with a filter beyond the scope (a colour): its candidates are read back.
WORDS = {"owner_id": 1, "colour_families": "red", "search_tokens": "dog"}
PLAIN = {"owner_id": 1, "colour_families": "red"}


class Encoder:
    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([QUERY for _ in texts])


class Database:
    """The stored documents (id -> tokens) and the reads a ranked search makes."""

    def __init__(self, docs: Mapping[ObjectId, list[str]], passing: set[ObjectId] | None = None) -> None:
        self.docs = dict(docs)
        self.passing = passing  # what the listing filter lets through (None: everything)
        self.reads: list[list[ObjectId]] = []
        self.scans = 0
        self.gate: threading.Event | None = None

    def matching(self, flt: Mapping[str, Any]) -> dict[ObjectId, Sequence[str]]:
        if self.gate is not None:
            self.gate.wait(30)
        ids = list(flt["_id"]["$in"])
        self.reads.append(ids)
        return {i: self.docs[i] for i in ids if i in self.docs and (self.passing is None or i in self.passing)}

    def newest_ids(self, flt: Mapping[str, Any], need: int) -> list[ObjectId]:
        self.scans += 1
        return sorted((i for i in self.docs if "dog" in self.docs[i] and (self.passing is None or i in self.passing)),
                      reverse=True)[:need]


def search(rows: list[tuple[ObjectId, Any, Any, Any]], sync_rows: int = 10) -> tuple[SemanticSearch, list[int]]:
    loads: list[int] = []

    def load(flt: Mapping[str, Any]) -> list[tuple[ObjectId, Any, Any, Any]]:
        loads.append(1)
        return rows

    index = VectorIndex(load, sync_rows=sync_rows)
    return SemanticSearch(index, QueryVectors(lambda: Encoder())), loads  # type: ignore[arg-type,return-value]


def rank(semantic: SemanticSearch, db: Database, stamp: str = "owner:1@s1",
         plain: Mapping[str, Any] = PLAIN) -> tuple[ObjectId, ...]:
    words = {**plain, "search_tokens": "dog"}
    ranked = semantic.ranked("dog", ["dog"], stamp, SCOPE, words, plain, db.newest_ids, db.matching)
    assert ranked is not None
    return ranked.ids


def test_word_matches_come_from_memory_and_count_as_the_documents_hold_them_now() -> None:
    near, old_dog, new_dog, stale = (ObjectId(f"{n:024x}") for n in range(1, 5))
    rows = [(near, pack(QUERY), TEXT_MODEL_ID, ["cat"]), (old_dog, pack(unit(2)), TEXT_MODEL_ID, ["dog"]),
            (new_dog, None, None, ["dog"]), (stale, None, None, ["dog"])]
    db = Database({near: ["cat"], old_dog: ["dog"], new_dog: ["dog"], stale: ["cat"]})  # stale lost its word
    semantic, _ = search(rows)
    ids = rank(semantic, db)
    assert ids[0] == near and set(ids) == {near, new_dog, old_dog}  # by meaning, then words, newest first
    assert ids[1:] == (new_dog, old_dog)
    assert db.scans == 0 and len(db.reads) == 1  # one read back of every candidate, no word scan


def test_a_search_without_filters_takes_its_candidates_and_words_from_memory_alone() -> None:
    near, near_dog, old_dog, new_dog = (ObjectId(f"{n:024x}") for n in range(1, 5))
    rows = [(near, pack(QUERY), TEXT_MODEL_ID, ["cat"]), (near_dog, pack(QUERY), TEXT_MODEL_ID, ["dog"]),
            (old_dog, pack(unit(2)), TEXT_MODEL_ID, ["dog"]), (new_dog, None, None, ["dog", "sea"])]
    db = Database({})
    semantic, _ = search(rows)
    ids = rank(semantic, db, plain=SCOPE)
    assert ids == (near_dog, near, new_dog, old_dog)  # words and meaning; meaning; words, newest first
    assert db.reads == [] and db.scans == 0  # each page is read through the filter instead


def test_a_selective_filter_leaves_the_word_part_to_the_database() -> None:
    dogs = [ObjectId(f"{n:024x}") for n in range(1, 3 * TOKEN_CANDIDATES)]
    db = Database({i: ["dog"] for i in dogs}, passing={dogs[0]})  # only the oldest passes
    semantic, _ = search([(i, None, None, ["dog"]) for i in dogs], sync_rows=10_000)
    assert rank(semantic, db) == (dogs[0],) and db.scans == 1
    everything = Database({i: ["dog"] for i in dogs})
    fresh, _ = search([(i, None, None, ["dog"]) for i in dogs], sync_rows=10_000)
    assert len(rank(fresh, everything)) == TOKEN_CANDIDATES and everything.scans == 0


def test_one_thread_ranks_a_list_while_the_others_wait_for_it() -> None:
    dog = ObjectId()
    db = Database({dog: ["dog"]})
    semantic, _ = search([(dog, pack(QUERY), TEXT_MODEL_ID, ["dog"])])
    db.gate = threading.Event()
    results: list[tuple[ObjectId, ...]] = []
    threads = [threading.Thread(target=lambda: results.append(rank(semantic, db))) for _ in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: semantic._ranked._building, 10, "a ranked list being built")
    db.gate.set()
    for thread in threads:
        thread.join(30)
    assert results == [(dog,)] * 6 and len(db.reads) == 1


def test_a_large_scope_s_lists_stay_in_use_until_its_new_read_lands() -> None:
    dog = ObjectId()
    db = Database({dog: ["dog"]})
    rows = [(dog, pack(QUERY), TEXT_MODEL_ID, ["dog"])]
    large, loads = search(rows, sync_rows=0)  # every scope is "large": reread in the background
    rank(large, db, "owner:1@s1")
    reads = len(db.reads)
    rank(large, db, "owner:1@s2")  # a write: the list ranked from the s1 read still serves
    assert len(db.reads) == reads
    wait_until(lambda: large.index.vectors("owner:1", "owner:1@s2", SCOPE).stamp == "owner:1@s2", 10,
               "the background read of s2")
    rank(large, db, "owner:1@s2")  # the new read landed: ranked again from it
    assert len(db.reads) == reads + 1 and len(loads) == 2
    small, _ = search(rows, sync_rows=10)
    rank(small, db, "owner:1@s1")
    reads = len(db.reads)
    rank(small, db, "owner:1@s2")  # a small scope is reread first: its lists are exact
    assert len(db.reads) == reads + 1
