"""Read text in photos (signs, posters, screenshots) with RapidOCR's PP-OCR models.

Why RapidOCR: its wheel ships the PP-OCRv4 detection/recognition ONNX files
(Apache-2.0) and runs them on onnxruntime; no download, no PaddlePaddle.  It is
installed with ``--no-deps`` and uses OpenCV from opencv-python-headless.

RapidOCR returns one entry per detected text box.  Boxes are regrouped here into
lines (boxes whose vertical centres lie within half a line height of each other)
so words on one line are joined by spaces and lines by newlines, top to bottom.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from picsource_worker.models.runtime import as_rgb, shrink, single_threaded_opencv

# RapidOCR's default ("min" side >= 736) upscales small images, which is slow;
# "max" keeps the detector at the image's own size, which we bound here.
MAX_SIDE = 1024
MIN_SCORE = 0.6  # recogniser confidence below which a box is dropped (0.5 lets noise in)
_QUIET_LOGGERS = ("RapidOCR", "OrtInferSession")


@dataclass(frozen=True)
class TextBox:
    """One recognised box: its text, confidence and axis-aligned extent."""

    text: str
    score: float
    left: float
    top: float
    bottom: float

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def height(self) -> float:
        return self.bottom - self.top


@functools.cache
def _engine() -> Any:
    single_threaded_opencv()
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    from rapidocr_onnxruntime import RapidOCR  # heavy import, deferred to first use

    engine = RapidOCR(
        print_verbose=False,
        text_score=MIN_SCORE,
        det_limit_type="max",
        # Looser boxes than the default 1.6: with tight crops the recogniser
        # tends to swallow the spaces between words ("GRANDOPENING").
        det_unclip_ratio=2.0,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
    )
    for name in _QUIET_LOGGERS:  # the package re-creates its loggers at DEBUG on import
        logging.getLogger(name).setLevel(logging.WARNING)
    return engine


def to_boxes(result: Sequence[Sequence[Any]] | None) -> list[TextBox]:
    """Convert RapidOCR's ``[[points, text, score], ...]`` into :class:`TextBox` items."""
    boxes = []
    for points, text, score in result or []:
        corners = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        cleaned = " ".join(str(text).split())
        if any(ch.isalnum() for ch in cleaned):  # lone symbols are usually texture
            boxes.append(
                TextBox(
                    text=cleaned,
                    score=float(score),
                    left=float(corners[:, 0].min()),
                    top=float(corners[:, 1].min()),
                    bottom=float(corners[:, 1].max()),
                )
            )
    return boxes


def reading_order(boxes: Sequence[TextBox]) -> str:
    """Lines top to bottom, boxes left to right within a line."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        if lines:
            line = lines[-1]
            line_middle = sum(b.middle for b in line) / len(line)
            line_height = max(b.height for b in line)
            if abs(box.middle - line_middle) <= max(line_height, box.height) / 2:
                line.append(box)
                continue
        lines.append([box])
    return "\n".join(" ".join(b.text for b in sorted(line, key=lambda b: b.left)) for line in lines)


def read_text(image: Image.Image) -> str:
    """All legible text in ``image`` in reading order; ``""`` when there is none."""
    rgb = shrink(as_rgb(image), MAX_SIDE)
    if min(rgb.size) < 8:
        return ""
    bgr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])
    result, _elapsed = _engine()(bgr)
    return reading_order(to_boxes(result))
