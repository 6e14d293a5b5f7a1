"""Turn an `Analysis` into the fields of the image document (pure, unit-tested).

The document shape, shared with the web tier:

* ``analysis``: ``format``, ``width``, ``height``, ``frames``, ``exif`` (camera_make,
  camera_model, lens, taken_at, exposure_time, f_number, iso, focal_length, latitude,
  longitude; only the fields found), ``palette`` ([{hex, share, name, family}]),
  ``phash``, ``dhash``, ``labels`` ([{label, score, synonyms?}]: synonyms only when
  WordNet has some), ``faces``, ``ocr_text``,
  ``safety`` (0..1, higher is less safe), ``caption``, ``step_errors`` ({step: message}),
  ``pipeline`` (picsource_core.reanalysis.ANALYSIS_PIPELINE: which models made it).
* ``thumbnails``: {"256": {key, width, height, bytes}, "1280": {...}}.
* ``colour_families``, ``has_text``: top level, because the web tier filters on them.
* ``taken_at``: top level, the capture time from EXIF for the detail page and the API
  (listings and their date filters go by upload time, the ``_id``).
* ``hidden_from_public``: top level, True when ``safety`` is at or above the gallery's
  threshold (WORKER_SAFETY_THRESHOLD); the web tier leaves such images out of public
  listings (their owner still sees them). False when safety did not run.
* ``embedding``: the classifier's 1280-d L2-normalised feature vector, packed as float16
  bytes (picsource_core.image_embedding), top level so gallery listings can project it
  out; None when labels did not run.
Every field is set whole, so running the same job twice yields the same document.
"""

from __future__ import annotations

from typing import Any

from picsource_core.image_embedding import EMBEDDING
from picsource_core.image_embedding import pack as pack_embedding
from picsource_core.images import DEFAULT_SAFETY_THRESHOLD, HIDDEN_FROM_PUBLIC
from picsource_core.reanalysis import ANALYSIS_PIPELINE, PIPELINE
from picsource_worker.models.classifier import label_synonyms
from picsource_worker.pipeline.analyse import Analysis


def above_safety_threshold(safety: float | None, threshold: float) -> bool:
    """Whether a safety score hides the image from public listings (no score: never)."""
    return safety is not None and safety >= threshold


def _label(name: str, score: float) -> dict[str, Any]:
    """A stored label: its name, score and WordNet synonyms (searched by word and meaning)."""
    synonyms = label_synonyms().get(name)
    return {"label": name, "score": round(score, 4), **({"synonyms": list(synonyms)} if synonyms else {})}


def analysis_fields(analysis: Analysis, thumbnail_keys: dict[int, str],
                    safety_threshold: float = DEFAULT_SAFETY_THRESHOLD) -> dict[str, Any]:
    """Top-level document fields for `analysis`; `thumbnail_keys` maps size -> object key."""
    sub: dict[str, Any] = {
        "format": analysis.format,
        "width": analysis.width,
        "height": analysis.height,
        "frames": analysis.frames,
        "exif": analysis.exif.as_document() if analysis.exif else {},
        "palette": [
            {"hex": c.hex, "share": round(c.share, 4), "name": c.name, "family": c.family}
            for c in analysis.palette
        ],
        "phash": analysis.phash,
        "dhash": analysis.dhash,
        "labels": [_label(name, score) for name, score in analysis.labels],
        "faces": analysis.faces,
        "ocr_text": analysis.text,
        "safety": None if analysis.safety is None else round(analysis.safety, 4),
        "caption": analysis.caption,
        "step_errors": dict(analysis.step_errors),
        PIPELINE: ANALYSIS_PIPELINE,
    }
    thumbs = {
        str(t.size): {
            "key": thumbnail_keys[t.size],
            "width": t.width,
            "height": t.height,
            "bytes": len(t.data),
        }
        for t in analysis.thumbnails
        if t.size in thumbnail_keys
    }
    return {
        "analysis": sub,
        "thumbnails": thumbs,
        "colour_families": list(analysis.colour_families),
        "has_text": bool(analysis.text),
        "taken_at": analysis.exif.taken_at if analysis.exif else None,
        HIDDEN_FROM_PUBLIC: above_safety_threshold(analysis.safety, safety_threshold),
        EMBEDDING: pack_embedding(analysis.embedding),
    }


def failure_fields(analysis: Analysis) -> dict[str, Any]:
    """What we still know about an upload that could not be analysed."""
    return {
        "analysis": {
            "format": analysis.format,
            "step_errors": dict(analysis.step_errors),
        },
        "thumbnails": {},
        "colour_families": [],
        "has_text": False,
        "taken_at": None,
        HIDDEN_FROM_PUBLIC: False,
        EMBEDDING: None,
    }
