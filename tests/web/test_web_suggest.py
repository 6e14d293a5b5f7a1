"""Search UX (#13 item 4): autocomplete from the viewer's own tags and labels, and search
results that say where they matched.

Pure: the vocabulary and prefix matching. Against real SecantusDB and MinIO: the
suggest endpoint (own words only, fresh after every write), the grid's "Matched in"
line and the API's ``matched``.
"""

from __future__ import annotations

import re

from flask import Flask

from picsource_web.services.suggest import Suggestion, build_vocabulary, suggest
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis


def test_the_vocabulary_counts_tags_and_labels_and_prefixes_match_any_word() -> None:
    docs = [{"tags": ["beach", "Café"], "analysis": {"labels": [{"label": "seashore"}, {"label": "sea lion"}]}},
            {"tags": ["beach"], "analysis": {"labels": [{"label": "beach wagon"}]}},
            {"tags": ["beach wagon"]}]
    vocabulary = build_vocabulary(docs)
    assert vocabulary[0] == Suggestion("beach", "tag", 2)
    assert [s.text for s in suggest(vocabulary, "sea")] == ["sea lion", "seashore"]
    assert [s.text for s in suggest(vocabulary, "LION")] == ["sea lion"]  # any word, any case
    assert [s.text for s in suggest(vocabulary, "cafe")] == ["Café"]  # accents folded
    wagon = suggest(vocabulary, "wag")
    assert [(s.text, s.kind) for s in wagon] == [("beach wagon", "tag")]  # a tag wins over the same label
    assert suggest(vocabulary, "  ") == [] and suggest(vocabulary, "zzz") == []
    assert len(suggest(build_vocabulary([{"tags": [f"t{i}" for i in range(30)]}]), "t")) == 10


def test_suggestions_are_the_viewer_s_own_and_follow_writes(app: Flask, alice: WebClient, bob: WebClient) -> None:
    svc = app_services(app)
    image = alice.upload_id(samples.noisy_jpeg(180), title="x", tags="harbour, harvest")
    finish_analysis(svc, image, labels=[("hartebeest", 0.7)])
    bob.upload_id(samples.noisy_jpeg(181), tags="hardware", visibility="public")
    got = alice.get("/api/v1/suggest?q=har").get_json()["suggestions"]
    assert sorted((s["text"], s["kind"]) for s in got) == [("harbour", "tag"), ("hartebeest", "label"),
                                                           ("harvest", "tag")]
    alice.post(f"/images/{image}/edit", {"title": "x", "tags": "harbour, hardy", "visibility": "private"})
    fresh = [s["text"] for s in alice.get("/api/v1/suggest?q=har").get_json()["suggestions"]]
    assert "hardy" in fresh and "harvest" not in fresh  # the edit renewed the stamp
    assert "hardware" not in fresh
    assert ApiClient(app, None).get("/api/v1/suggest?q=har").get_json() == {"suggestions": []}
    api = ApiClient(app, token_for(app, "alice"))
    assert_problem(api.get("/api/v1/suggest?q=" + "a" * 65), 400, "validation_error")
    assert_problem(api.get("/api/v1/suggest?q=a&limit=5"), 400, "validation_error")
    page = alice.get("/").get_data(as_text=True)
    assert 'list="search-suggestions"' in page and '<datalist id="search-suggestions">' in page


def test_search_results_say_where_they_matched(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    sign = alice.upload_id(samples.noisy_jpeg(182), title="street", tags="market")
    finish_analysis(svc, sign, labels=[("street sign", 0.8)], ocr_text="FISH MARKET OPEN")
    page = alice.get("/search?q=market").get_data(as_text=True)
    assert re.search(r"Matched in text in image, tag</p>", page), page[-2000:]
    assert "Matched in" not in alice.get("/").get_data(as_text=True)  # only search results explain
    api = ApiClient(app, token_for(app, "alice"))
    items = api.get("/api/v1/images?q=street").get_json()["items"]
    assert [item["matched"] for item in items] == [["title", "label"]]
    assert "matched" not in api.get("/api/v1/images").get_json()["items"][0]
