"""Helpers for web tests: play the worker's part by writing real analysis results.

``finish_analysis`` stores real WebP thumbnails and the analysis fields in the exact
document shape the worker writes (picsource_worker/results.py), through core's
``ImageDocuments.apply_analysis`` — the same method the worker calls — so the pages are tested
against the real data contract without running the models.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from PIL import Image

from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import IMAGES
from picsource_core.storage import thumbnail_key
from picsource_web.services.container import Services

_TILE = re.compile(r'data-image-id="([0-9a-f]{24})"')


def tile_ids(html: str) -> list[str]:
    """The image ids of a grid page's tiles, in page order."""
    return _TILE.findall(html)


def finish_analysis(svc: Services, image_id: str | ObjectId, *, labels: list[tuple[str, float]] | None = None,
                    caption: str = "A photo", ocr_text: str | None = None,
                    palette: list[dict[str, Any]] | None = None, exif: dict[str, Any] | None = None,
                    families: list[str] | None = None,
                    synonyms: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    oid = ObjectId(str(image_id))
    doc = svc.db[IMAGES].find_one({"_id": oid})
    assert doc is not None
    original = Image.open(io.BytesIO(svc.store.get_bytes(doc["original_key"]))).convert("RGB")
    thumbs: dict[str, Any] = {}
    for size in (256, 1280):
        copy = original.copy()
        copy.thumbnail((size, size))
        buf = io.BytesIO()
        copy.save(buf, "WEBP")
        key = thumbnail_key(oid, size)
        svc.store.put_bytes(key, buf.getvalue(), "image/webp")
        thumbs[str(size)] = {"key": key, "width": copy.width, "height": copy.height, "bytes": buf.tell()}
    palette = palette if palette is not None else [
        {"hex": "#c02828", "share": 0.8, "name": "firebrick", "family": "red"},
        {"hex": "#ffffff", "share": 0.2, "name": "white", "family": "white"},
    ]
    fields = {
        "analysis": {
            "format": doc["format"], "width": doc["width"], "height": doc["height"], "frames": 1,
            "exif": exif or {}, "palette": palette, "phash": "0" * 16, "dhash": "0" * 16,
            "labels": [{"label": name, "score": score, **({"synonyms": (synonyms or {})[name]} if (synonyms or {}).get(name) else {})}
                       for name, score in (labels or [])],
            "faces": 0, "ocr_text": ocr_text, "safety": 0.01, "caption": caption, "step_errors": {},
        },
        "thumbnails": thumbs,
        "colour_families": families if families is not None else sorted({p["family"] for p in palette}),
        "has_text": bool(ocr_text),
        "taken_at": None,
        "embedding": None,
    }
    result = ImageDocuments(svc.db).apply_analysis(oid, fields)
    assert result is not None
    return result
