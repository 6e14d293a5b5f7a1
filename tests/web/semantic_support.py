"""Semantic search in web tests: play the worker's embed job, and read a search's results.

``embed_text`` stores an image's text vector the way the worker does (core's
``document_text``, the shared encoder, ``pack``, written through core's ImageDocuments,
which renews the listing stamps), so the web tier is tested against the real model and
the real data contract without running a worker.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bson import ObjectId

from picsource_core.image_documents import TEXT_MODEL, ImageDocuments
from picsource_core.text_embedding import TEXT_MODEL_ID, TEXT_VECTOR, document_text, encoder, pack
from picsource_web.services.container import Services
from tests.web.api_support import ApiClient


def embed_text(svc: Services, image_id: str | ObjectId) -> None:
    docs = ImageDocuments(svc.db)
    doc = docs.find_one({"_id": ObjectId(str(image_id))})
    assert doc is not None
    fields = {TEXT_VECTOR: pack(encoder(threads=1).embed([document_text(doc)])[0]), TEXT_MODEL: TEXT_MODEL_ID}
    assert docs.set_text_vector(doc, fields)  # the worker's write


def search(api: ApiClient, text: str, **params: str) -> list[dict[str, Any]]:
    """The items of GET /api/v1/images?q=text (200 asserted)."""
    query = "&".join(f"{k}={quote(v)}" for k, v in {"q": text, **params}.items())
    response = api.get(f"/api/v1/images?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(response.get_json()["items"])


def search_ids(api: ApiClient, text: str, **params: str) -> list[str]:
    return [item["id"] for item in search(api, text, **params)]
