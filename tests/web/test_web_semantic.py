"""Semantic search (#13 item 1), the web side: text queries ranked by words and meaning.

Pure: the ranking, the ranked cursor, the filter restriction, the vector matrix and its
retirement by stamp. Against real SecantusDB and MinIO, with the real model: meaning finds
what words miss and says so, filters still apply, ranked pages, and odd input.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import numpy as np
import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.text_embedding import DIMENSIONS, TEXT_MODEL_ID, normalise_rows, pack
from picsource_web.services.errors import BadRequest
from picsource_web.services.semantic import (
    SIMILARITY_FLOOR,
    QueryVectors,
    combine,
    parse_ranked_cursor,
    restrict,
    take_ranked_cursor,
)
from picsource_web.services.vector_index import (
    EXACT_ROWS,
    VectorIndex,
    build_scope,
    hamming,
    sign_bits,
)
from tests.support import images as samples
from tests.support.waiting import wait_until
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.semantic_support import embed_text, search, search_ids
from tests.web.web_support import finish_analysis, tile_ids

A, B, C, D = (ObjectId() for _ in range(4))


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIMENSIONS).astype(np.float32)
    return v / np.linalg.norm(v)


# --- pure -------------------------------------------------------------------------------
def test_words_and_meaning_combine_and_the_floor_keeps_loose_matches_out() -> None:
    semantic = {B: 0.62, C: SIMILARITY_FLOOR - 0.01, D: 0.45}
    ranked = combine([A, D], semantic, allowed={B, C, D})
    assert ranked.ids == (D, B, A)  # words + meaning, meaning alone, words alone
    assert ranked.by_meaning == frozenset({D, B})
    assert combine([], {B: 0.9}, allowed=set()).ids == ()  # not allowed by the filters: out
    assert combine([A], {}, allowed=set()).ids == (A,)
    older, newer = ObjectId("0" * 24), ObjectId("f" * 24)
    assert combine([older, newer], {}, set()).ids == (newer, older)  # ties: newer first
    assert len(combine([ObjectId() for _ in range(300)], {}, set(), limit=200).ids) == 200


def test_ranked_cursors_are_their_own_kind() -> None:
    assert parse_ranked_cursor("~48") == 48
    assert parse_ranked_cursor("AAAAAAAAAAAAAAAA") is None  # a listing cursor: not ours
    for bad in ("~", "~x", "~-1", "~999", "~1000", "~48 "):
        with pytest.raises(BadRequest):
            parse_ranked_cursor(bad)
    args, offset = take_ranked_cursor({"q": "dog", "cursor": "~2"})
    assert (args, offset) == ({"q": "dog"}, 2)
    assert take_ranked_cursor({"cursor": "AAAAAAAAAAAAAAAA"}) == ({"cursor": "AAAAAAAAAAAAAAAA"}, None)


def test_restrict_keeps_the_filter_s_own_id_range() -> None:
    ids = [A, B]
    assert restrict({"owner_id": 1}, ids) == {"_id": {"$in": ids}, "owner_id": 1}
    assert list(restrict({"owner_id": 1, "tags": "x"}, ids)) == ["_id", "owner_id", "tags"]  # id first
    assert restrict({"_id": {"$gte": A}}, ids) == {"_id": {"$in": ids, "$gte": A}}
    assert restrict({"_id": A}, ids) == {"$and": [{"_id": {"$in": ids}}, {"_id": A}]}


def test_a_scope_matrix_finds_the_nearest_and_skips_foreign_vectors() -> None:
    E = ObjectId()
    rows = [(B, pack(unit(2)), None, []), (A, pack(unit(1)), TEXT_MODEL_ID, []), (C, pack(unit(3)), "other-model", []),
            (D, b"short", TEXT_MODEL_ID, []), (E, None, TEXT_MODEL_ID, [])]
    scope = build_scope("s1", rows)
    assert scope.ids == (A, B, C, D, E) and scope.raw.shape == (5, DIMENSIONS)  # all rows, in _id order
    assert scope.nbytes == 5 * (384 + 4 + 48 + 12) + (1 + 0) * 8  # no words: one offset
    assert {i for i, _ in scope.nearest(unit(3), k=5, floor=-1.0)} == {A, B}  # the others have no vector
    near = scope.nearest(unit(2), k=5, floor=0.5)
    assert [i for i, _ in near] == [B] and near[0][1] > 0.99
    assert [i for i, _ in scope.nearest(unit(1), k=1, floor=-1.0)] == [A]
    assert build_scope("s", []).nearest(unit(1), 5, 0.0) == []


def test_a_scope_keeps_its_ids_as_bytes_and_gives_back_whole_ids() -> None:
    """Ids ending in zero bytes (which "S12" keys drop) come back whole from every kind of
    read of a scope that holds them as bytes."""
    zeros = [ObjectId(bytes([9] * 11 + [0])), ObjectId(bytes([9] * 8 + [0] * 4)), ObjectId(bytes(12))]
    rows = [(i, pack(unit(n + 1)), TEXT_MODEL_ID, ["zero"]) for n, i in enumerate(zeros)]
    scope = build_scope("s", rows)
    assert len(scope) == 3 and scope.ids == tuple(sorted(zeros))
    assert [i for i, _ in scope.nearest(unit(1), k=1, floor=0.5)] == [zeros[0]]
    assert scope.newest_with(["zero"], 3) == (sorted(zeros, reverse=True), 3)
    assert scope.holding(["zero"], zeros) == zeros


def test_a_scope_adds_a_handful_of_objects_for_the_garbage_collector_whatever_its_size() -> None:
    rows = [(ObjectId(), pack(unit(n % 7 + 1)), TEXT_MODEL_ID, [f"w{n % 50}", "all"]) for n in range(3000)]
    gc.collect()
    before = len(gc.get_objects())
    scope = build_scope("s", rows)
    gc.collect()
    assert len(scope) == 3000 and len(gc.get_objects()) - before < 50


def test_a_large_scope_is_searched_through_its_sign_bits_and_scored_exactly() -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((EXACT_ROWS + 2000, DIMENSIONS)).astype(np.float32)
    ids = [ObjectId() for _ in range(len(vectors))]
    scope = build_scope("s", [(i, pack(v), TEXT_MODEL_ID, []) for i, v in zip(ids, vectors, strict=True)])
    target = vectors[4321] / np.linalg.norm(vectors[4321])
    query = target + 0.02 * rng.standard_normal(DIMENSIONS).astype(np.float32)
    query /= np.linalg.norm(query)
    found = scope.nearest(query, k=3, floor=0.0)
    assert found[0][0] == ids[4321] and found[0][1] > 0.9
    exact = normalise_rows(vectors) @ query
    assert abs(found[0][1] - float(exact[4321])) < 0.01  # scored exactly, not estimated
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_sign_distances_count_every_differing_bit_of_every_row() -> None:
    rng = np.random.default_rng(9)
    vectors = rng.standard_normal((300, DIMENSIONS)).astype(np.float32)
    query = rng.standard_normal(DIMENSIONS).astype(np.float32)
    expected = ((vectors > 0) != (query > 0)).sum(axis=1)
    columns = np.ascontiguousarray(sign_bits(vectors).T)
    assert hamming(columns, sign_bits(query)[0]).tolist() == expected.tolist()
    assert hamming(columns, sign_bits(-vectors[7])[0])[7] == DIMENSIONS - (vectors[7] == 0).sum()


def test_the_index_rebuilds_a_scope_only_under_a_new_stamp() -> None:
    loads: list[dict[str, object]] = []

    def load(flt: dict[str, object]) -> list[tuple[ObjectId, bytes, str, list[str]]]:
        loads.append(flt)
        return [(A, pack(unit(len(loads))), TEXT_MODEL_ID, ["dog"])]

    index = VectorIndex(load, scopes=2)
    first = index.vectors("owner:1", "owner:1@s1", {"owner_id": 1})
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}) is first and len(loads) == 1
    second = index.vectors("owner:1", "owner:1@s2", {"owner_id": 1})
    assert second is not first and len(loads) == 2
    index.vectors("public", "public@p1", {"visibility": "public"})
    index.vectors("owner:2", "owner:2@x", {"owner_id": 2})  # two scopes kept: owner:1 goes
    index.vectors("owner:1", "owner:1@s2", {"owner_id": 1})
    assert len(loads) == 5 and index.memory() == 2 * (384 + 4 + 48 + 12 + 2 * 8 + 4 + 100)  # + one word each


def test_a_scope_read_for_the_first_time_answers_nothing_past_the_wait_and_lands_later() -> None:
    """A first search of a large scope on a slow server reads it whole (14 s at 100k on
    SecantusDB): a first page waits ``wait`` for it, then is answered without it (by
    words alone, services/listings.py) while the one read goes on; a later page still
    waits for it, since a ranked cursor's offset means nothing without the ranking."""
    release, loads = threading.Event(), []

    def load(flt: dict[str, object]) -> list[tuple[ObjectId, bytes, str, list[str]]]:
        loads.append(flt)
        release.wait(10)
        return [(A, pack(unit(1)), TEXT_MODEL_ID, ["dog"])]

    index = VectorIndex(load)
    began = time.monotonic()
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}, wait=0.2) is None
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}, wait=0.05) is None
    assert time.monotonic() - began < 5 and len(loads) == 1  # one read, not one per search
    later_page: list[object] = []  # no wait: the caller needs the ranking itself
    waiter = threading.Thread(target=lambda: later_page.append(
        index.vectors("owner:1", "owner:1@s1", {"owner_id": 1})))
    waiter.start()
    time.sleep(0.2)
    assert later_page == []
    release.set()
    waiter.join(10)
    assert later_page and later_page[0] is not None
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}, wait=0.05) is later_page[0]
    assert len(loads) == 1 and index.builds == 1


def test_a_first_read_that_fails_is_tried_again_by_the_next_search() -> None:
    calls: list[int] = []

    def load(flt: dict[str, object]) -> list[tuple[ObjectId, bytes, str, list[str]]]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the server went away")
        return [(A, pack(unit(1)), TEXT_MODEL_ID, ["dog"])]

    index = VectorIndex(load)
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}, wait=2.0) is None
    assert index.vectors("owner:1", "owner:1@s1", {"owner_id": 1}, wait=2.0) is not None
    assert len(calls) == 2


def test_query_vectors_are_embedded_once() -> None:
    calls: list[list[str]] = []

    class Fake:
        def embed(self, texts: list[str]) -> np.ndarray:
            calls.append(list(texts))
            return np.stack([unit(len(calls))])

    queries = QueryVectors(lambda: Fake(), entries=2)  # type: ignore[arg-type,return-value]
    first = queries.vector("Dog  at the Beach")
    assert queries.vector("dog at the beach") is first and calls == [["dog at the beach"]]
    queries.vector("b")
    queries.vector("c")
    queries.vector("dog at the beach")
    assert len(calls) == 4  # the LRU held two


# --- through the web stack --------------------------------------------------------------
def analysed(svc: object, client: WebClient, seed: int, *, labels: list[str], caption: str,
             families: list[str] | None = None, **fields: str) -> str:
    image = client.upload_id(samples.noisy_jpeg(seed), **fields)
    finish_analysis(svc, image, labels=[(label, 0.8) for label in labels], caption=caption,  # type: ignore[arg-type]
                    families=families)
    embed_text(svc, image)  # type: ignore[arg-type]
    return image


@pytest.fixture
def beach(app: Flask, alice: WebClient) -> dict[str, str]:
    svc = app_services(app)
    return {
        "dog": analysed(svc, alice, 700, labels=["golden retriever", "seashore"],
                        caption="A photo of a golden retriever on a seashore.", families=["yellow", "blue"]),
        "soup": analysed(svc, alice, 701, labels=["consomme"], caption="A bowl of soup.", families=["brown"]),
        "tax": analysed(svc, alice, 702, labels=["envelope"], caption="A photo of an envelope.",
                        title="tax return 2024", families=["white"]),
        "dog_words": analysed(svc, alice, 703, labels=["pickup truck"], caption="A photo of a truck.",
                              title="the dog's car", families=["red"]),
    }


def test_meaning_finds_what_words_miss_and_says_so(app: Flask, alice: WebClient, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    items = search(api, "dog at the beach")
    ids = [item["id"] for item in items]
    assert ids[0] == beach["dog"], items
    assert beach["soup"] not in ids and beach["tax"] not in ids
    matched = {item["id"]: item["matched"] for item in items}
    assert matched[beach["dog"]] == ["meaning"]
    if beach["dog_words"] in matched:  # found by the word "dog" in its title
        assert matched[beach["dog_words"]][0] == "title"
    page = alice.get("/search?q=dog+at+the+beach").get_data(as_text=True)
    assert tile_ids(page)[0] == beach["dog"]
    assert "Matched by meaning" in page


def test_a_first_search_is_not_held_up_by_the_first_read_of_its_scope(
        app: Flask, alice: WebClient, beach: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A process's first search of a scope whose vectors take long to read is answered by
    words alone within the wait, saying so on the page, and by meaning once the read has
    landed."""
    from picsource_web.services import listings

    monkeypatch.setattr(listings, "COLD_WAIT_SECONDS", 0.3)
    index = app_services(app).images.listings.semantic.index
    release, read = threading.Event(), index._load

    def slow_read(flt: Any) -> Any:
        release.wait(10)
        return list(read(flt))

    monkeypatch.setattr(index, "_load", slow_read)
    api = ApiClient(app, token_for(app, "alice"))
    began = time.monotonic()
    first = search(api, "dog at the beach")  # no image holds both words
    assert time.monotonic() - began < 5
    assert all("meaning" not in item["matched"] for item in first) and beach["dog"] not in {i["id"] for i in first}
    assert "data-meaning-pending" in alice.get("/search?q=dog+at+the+beach").get_data(as_text=True)
    assert api.get("/api/v1/images?q=dog+at+the+beach").get_json()["meaning_pending"] is True
    release.set()
    wait_until(lambda: search_ids(api, "dog at the beach")[:1] == [beach["dog"]], 10, "the ranking by meaning")
    page = alice.get("/search?q=dog+at+the+beach").get_data(as_text=True)
    assert tile_ids(page)[0] == beach["dog"] and "data-meaning-pending" not in page
    assert api.get("/api/v1/images?q=dog+at+the+beach").get_json()["meaning_pending"] is False
    assert "meaning_pending" not in api.get("/api/v1/images").get_json()  # not a search


def test_without_the_text_model_searches_go_by_words_and_promise_nothing(
        app: Flask, alice: WebClient, beach: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A text model that cannot load turns meaning off for good: words still find, and no
    page says that meaning is getting ready."""
    semantic = app_services(app).images.listings.semantic

    def missing_model() -> Any:
        raise OSError("model.onnx is missing")

    monkeypatch.setattr(semantic, "queries", QueryVectors(missing_model))
    api = ApiClient(app, token_for(app, "alice"))
    assert search_ids(api, "tax return") == [beach["tax"]]
    assert not semantic.available
    assert api.get("/api/v1/images?q=dog+at+the+beach").get_json()["meaning_pending"] is False
    page = alice.get("/search?q=dog+at+the+beach").get_data(as_text=True)
    assert beach["dog"] not in tile_ids(page) and "data-meaning-pending" not in page


def test_exact_words_still_find_and_rank_with_meaning(app: Flask, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    items = search(api, "dog")
    assert {beach["dog"], beach["dog_words"]} <= {item["id"] for item in items}
    words = next(item for item in items if item["id"] == beach["dog_words"])
    assert "title" in words["matched"]
    assert search_ids(api, "tax return") == [beach["tax"]]


def test_filters_still_apply_to_meaning(app: Flask, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    assert search_ids(api, "dog at the beach", colour="brown") == []
    assert beach["dog"] in search_ids(api, "dog at the beach", colour="yellow")
    assert search_ids(api, "dog at the beach", has_text="yes") == []
    assert search_ids(api, "dog at the beach", **{"from": "2001-01-01", "to": "2001-12-31"}) == []
    assert search_ids(api, "dog at the beach", favourite="yes") == []


def test_a_nonsense_query_matches_nothing_by_meaning(app: Flask, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    assert search_ids(api, "qzxv blorft") == []


def test_a_ranked_page_past_its_time_answers_at_once_and_is_ranked_again_after(
        app: Flask, alice: WebClient, beach: dict[str, str]) -> None:
    """The time limit is a backstop (stamps retire pages): the request that finds its
    ranked page past it is not the one that waits for the ranking and the read."""
    first = tile_ids(alice.get("/search?q=dog+at+the+beach").get_data(as_text=True))
    cache = app_services(app).images.listings.cache
    (version,) = [key for key in cache._data if "|ranked|" in str(key)]
    _expires, page = cache._data[version]
    cache._data[version] = (time.monotonic() - 1, page)  # a second past its time
    stale = cache.stale_hits
    assert tile_ids(alice.get("/search?q=dog+at+the+beach").get_data(as_text=True)) == first
    assert cache.stale_hits == stale + 1
    wait_until(lambda: cache._data[version][0] > time.monotonic(), 10, "the page ranked again")


def test_ranked_results_page_by_their_own_cursor(app: Flask, alice: WebClient, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    everything = search_ids(api, "dog")
    assert len(everything) >= 2
    first = api.get("/api/v1/images?q=dog&limit=1").get_json()
    assert [i["id"] for i in first["items"]] == everything[:1] and first["next_cursor"] == "~1"
    second = api.get("/api/v1/images?q=dog&limit=1&cursor=~1").get_json()
    assert [i["id"] for i in second["items"]] == everything[1:2]
    assert assert_problem(api.get("/api/v1/images?q=dog&cursor=~999"), 400, "validation_error")["reason"] == "invalid_cursor"
    not_ranked = assert_problem(api.get("/api/v1/images?cursor=~1"), 400, "validation_error")  # no text search
    assert not_ranked["reason"] == "invalid_cursor" and "search by words" in not_ranked["detail"]
    html = alice.get("/search?q=dog&limit=1").get_data(as_text=True)
    assert "cursor=~1" in html or "cursor=%7E1" in html
    assert tile_ids(alice.get("/search?q=dog&limit=1&cursor=~1").get_data(as_text=True)) == everything[1:2]


def test_a_changed_text_is_found_by_its_new_meaning(app: Flask, alice: WebClient, beach: dict[str, str]) -> None:
    svc = app_services(app)
    api = ApiClient(app, token_for(app, "alice"))
    assert beach["soup"] not in search_ids(api, "puppy playing in the sand")
    alice.post(f"/images/{beach['soup']}/edit", {"title": "puppy playing in the sand", "visibility": "private"})
    embed_text(svc, beach["soup"])  # the worker's embed job after the edit
    assert search_ids(api, "puppy playing in the sand")[0] == beach["soup"]


@pytest.mark.parametrize("text", ["", "   ", "🐶🏖️", "犬 ビーチ", "собака на пляже", "a" * 300,
                                  "dog " * 12, "%00", "~1", "'; drop"])
def test_odd_queries_get_answers_never_a_500(app: Flask, alice: WebClient, beach: dict[str, str], text: str) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    response = api.get("/api/v1/images", query_string={"q": text})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert alice.get("/search", query_string={"q": text}).status_code == 200


def test_too_long_queries_are_refused_clearly(app: Flask, alice: WebClient, beach: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    for text in ("a" * 301, " ".join(f"word{i}" for i in range(13))):
        problem = assert_problem(api.get("/api/v1/images", query_string={"q": text}), 400, "validation_error")
        assert problem["reason"] == "query_too_long" and problem["detail"].startswith("q:")


def test_a_word_scan_that_runs_too_long_leaves_the_ranking_to_meaning(app: Flask, beach: dict[str, str]) -> None:
    images = app_services(app).images
    flt = {"owner_id": ObjectId(images.get_owned(beach["dog"], _owner(app)).get("owner_id")), "search_tokens": "dog"}
    assert images.listings.word_matches(flt, 5) == [ObjectId(beach["dog_words"])]
    assert images.listings.word_matches(flt, 5, seconds=1e-6) == []  # timed out: no words, no error


def _owner(app: Flask) -> Any:
    from picsource_web.services.users import Viewer

    return Viewer(app_services(app).users.by_username("alice"))
