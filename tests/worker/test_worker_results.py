"""The image-document fields built from an Analysis."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from picsource_core.image_embedding import unpack
from picsource_core.search import image_search_tokens
from picsource_worker.pipeline import AnalysisOptions, analyse
from picsource_worker.results import above_safety_threshold, analysis_fields, failure_fields
from tests.support.images import exif_jpeg


def test_fields_for_a_successful_analysis() -> None:
    result = analyse(
        exif_jpeg(), AnalysisOptions(labels=False, faces=False, ocr=False, safety=False)
    )
    result.labels = [("Egyptian cat", 0.51234567), ("seashore", 0.2)]
    result.text = "GRAND OPENING"
    result.embedding = np.arange(1280, dtype=np.float32)
    keys = {256: "thumbnails/x/256.webp", 1280: "thumbnails/x/1280.webp"}
    fields = analysis_fields(result, keys)
    assert fields["thumbnails"]["256"]["key"] == keys[256]
    assert fields["thumbnails"]["1280"]["width"] == 451
    assert fields["analysis"]["labels"] == [
        {"label": "Egyptian cat", "score": 0.5123},
        {"label": "seashore", "score": 0.2, "synonyms": ["coast", "seacoast", "sea-coast"]},
    ]
    assert fields["analysis"]["exif"]["camera_make"] == "Canon"
    assert fields["taken_at"] == datetime(2023, 7, 14, 18, 30, 5)
    assert fields["has_text"] is True and fields["analysis"]["ocr_text"] == "GRAND OPENING"
    assert fields["colour_families"] == result.colour_families
    stored = fields["embedding"]  # 1,280 float16 in 2,560 bytes, unit length
    assert isinstance(stored, bytes) and len(stored) == 2560
    vector = unpack(stored)
    assert vector is not None and abs(float(np.linalg.norm(vector)) - 1) < 1e-3
    assert np.allclose(vector, np.arange(1280) / np.linalg.norm(np.arange(1280)), atol=1e-4)
    tokens = image_search_tokens({"title": "", **fields})
    assert {"egyptian", "cat", "grand", "opening"} <= set(tokens)


def test_fields_for_a_failed_analysis() -> None:
    result = analyse(b"nope", AnalysisOptions())
    fields = failure_fields(result)
    assert fields["analysis"]["step_errors"] == {"decode": "not a recognised image format"}
    assert fields["thumbnails"] == {} and fields["embedding"] is None
    assert fields["hidden_from_public"] is False


def test_safety_threshold_decides_hidden_from_public() -> None:
    assert above_safety_threshold(0.8, 0.8) and above_safety_threshold(0.95, 0.8)
    assert not above_safety_threshold(0.79, 0.8) and not above_safety_threshold(None, 0.0)
    assert above_safety_threshold(0.0, 0.0) and not above_safety_threshold(0.99, 1.0 + 1e-9)
    result = analyse(exif_jpeg(), AnalysisOptions(labels=False, faces=False, ocr=False, safety=False))
    assert analysis_fields(result, {})["hidden_from_public"] is False  # safety did not run
    result.safety = 0.61234
    assert analysis_fields(result, {}, 0.6)["hidden_from_public"] is True
    assert analysis_fields(result, {}, 0.7)["hidden_from_public"] is False
    assert analysis_fields(result, {})["analysis"]["safety"] == 0.6123  # default threshold 0.8
    assert analysis_fields(result, {})["hidden_from_public"] is False
