"""Relevance: hybrid search (words and meaning) finds clearly more than words alone.

The relevance set (tests/web/relevance: real photos, the worker's analysis of each, and
human-written queries) is uploaded through the web tier, analysed and embedded as the
worker would, then every query runs through GET /api/v1/images twice: with the semantic
ranking, and with it switched off (words alone, the search before #13). recall@5 is the
share of expected photos among the first five results, averaged over the queries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from tests.support.images import encode
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for
from tests.web.relevance.regenerate import photo
from tests.web.semantic_support import embed_text, search_ids
from tests.web.web_support import finish_analysis

RELEVANCE = Path(__file__).parent / "relevance"


def queries() -> list[tuple[str, list[str]]]:
    rows = []
    for line in (RELEVANCE / "queries.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            query, _, expected = line.partition("|")
            rows.append((query.strip(), [name.strip() for name in expected.split(",") if name.strip()]))
    return rows


def recall_at_5(found: list[str], expected: list[str]) -> float:
    return len(set(found[:5]) & set(expected)) / len(expected)


@pytest.fixture
def gallery(app: Flask, alice: WebClient) -> dict[str, str]:
    """image id -> photo name, every photo uploaded, analysed and embedded."""
    svc = app_services(app)
    names = {}
    for name, meta in json.loads((RELEVANCE / "photos.json").read_text()).items():
        image = photo(name)
        image.thumbnail((320, 320))
        image_id = alice.upload_id(encode(image, "JPEG", quality=85), f"{name}.jpg")
        finish_analysis(svc, image_id, labels=[(label, score) for label, score, _ in meta["labels"]],
                        synonyms={label: synonyms for label, _, synonyms in meta["labels"]},
                        caption=meta["caption"], ocr_text=meta["ocr_text"] or None,
                        families=meta["colour_families"])
        embed_text(svc, image_id)
        names[image_id] = name
    return names


def test_hybrid_search_recalls_clearly_more_than_words_alone(app: Flask, gallery: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    images = app_services(app).images
    semantic = images.listings.semantic
    rows = []
    for query, expected in queries():
        hybrid = [gallery[i] for i in search_ids(api, query, limit="5")]
        images.listings.semantic = None  # words alone
        try:
            words = [gallery[i] for i in search_ids(api, query, limit="5")]
        finally:
            images.listings.semantic = semantic
        rows.append((query, recall_at_5(words, expected), recall_at_5(hybrid, expected), hybrid))
    for query, words_recall, hybrid_recall, hybrid in rows:
        print(f"{query:32s} words {words_recall:.2f}  hybrid {hybrid_recall:.2f}  {hybrid}")
    words_mean = sum(r[1] for r in rows) / len(rows)
    hybrid_mean = sum(r[2] for r in rows) / len(rows)
    print(f"recall@5 over {len(rows)} queries: words alone {words_mean:.2f}, hybrid {hybrid_mean:.2f}")
    assert hybrid_mean >= words_mean + 0.3 and hybrid_mean >= 0.7, (words_mean, hybrid_mean)
    assert all(r[2] >= r[1] for r in rows), "hybrid lost a photo that words alone found"
