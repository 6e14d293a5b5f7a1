"""Read text in photos (signs, posters, screenshots) with RapidOCR's PP-OCR models.

Why RapidOCR: its wheel ships the PP-OCRv4 detection/recognition ONNX files
(Apache-2.0) and runs them on onnxruntime; no download, no PaddlePaddle.  It is
installed with ``--no-deps`` and uses OpenCV from opencv-python-headless.

Why not RapidOCR's own ``RapidOCR()`` pipeline: it detects at the size it is given
(1024 px here cost ~200 ms, half the whole analysis) and runs the angle classifier on
every box. We use its detector and recogniser directly:

* detection runs on the image shrunk to ``DETECT_SIDE``: DBNet's cost grows with the
  pixels, and text a person would search for (a sign, a poster, a caption) is still
  several pixels tall there;
* recognition runs only when detection found boxes (most photos have none), on crops
  cut from the full-resolution image the caller passed, so small letters keep every
  pixel the recogniser (48 px line height) can use;
* no angle classifier: upright text is what photos carry, and a 180-degree box reads
  as noise that the score threshold drops.

Boxes are regrouped into lines (boxes whose vertical centres lie within half a line
height of each other) so words on one line are joined by spaces and lines by
newlines, top to bottom.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from picsource_worker.models import graph_rewrites
from picsource_worker.models.runtime import (
    as_rgb,
    loader,
    new_session,
    shrink,
    single_threaded_opencv,
)

#: Long side at which text is detected (the recogniser reads from the caller's pixels).
DETECT_SIDE = 512
MIN_SCORE = 0.6  # recogniser confidence below which a box is dropped (0.5 lets noise in)
#: Looser boxes than RapidOCR's 1.6: with tight crops the recogniser tends to swallow
#: the spaces between words ("GRANDOPENING").
UNCLIP_RATIO = 2.0
_QUIET_LOGGERS = ("RapidOCR", "OrtInferSession")
MODEL_SECTIONS = ("Det", "Rec")  # RapidOCR's config sections of the models we run


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


@dataclass(frozen=True)
class Reading:
    """What one image gave: its text, and how much work it took (boxes found / read)."""

    text: str
    detected: int
    recognised: int


class _Reader:
    """RapidOCR's detector and recogniser, without its pipeline around them."""

    def __init__(self) -> None:
        single_threaded_opencv()
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector, text_detect
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer, text_recognize
        from rapidocr_onnxruntime.utils import OrtInferSession

        class Session(OrtInferSession):  # type: ignore[misc]
            """RapidOCR's session wrapper around a session of ours. Its own sessions have
            the planner but no arena: the detector then peaked at +162 MB per image; the
            same models with the arena and no planner (runtime.new_session): +30 MB, and
            faster. Built instead of theirs, not after them: sessions built and dropped
            left ~24 MB in every analysis process's heap."""

            def __init__(self, config: dict[str, Any]) -> None:
                model = graph_rewrites.optimised(config["model_path"], graph_rewrites.PP_OCR)
                self.session = new_session(model, memory="arena")

        config = _config()
        # Both classes build their session by this module-level name, when constructed.
        text_detect.OrtInferSession = text_recognize.OrtInferSession = Session
        self.detector = TextDetector(config["Det"])
        self.recogniser = TextRecognizer(config["Rec"])
        for name in _QUIET_LOGGERS:  # the package re-creates its loggers at DEBUG on import
            logging.getLogger(name).setLevel(logging.WARNING)

    def detect(self, copy: Image.Image, shape: tuple[int, int]) -> list[np.ndarray]:
        """Quadrilaterals (4x2, clockwise from top-left) around text, found on ``copy``
        (``detection_copy``) and placed on the picture of ``shape`` (height, width)."""
        small = np.asarray(copy, dtype=np.uint8)
        # DBNet wants sides in multiples of 32; scale to [-1, 1] in float32 (RapidOCR's
        # preprocessing works in float64 and costs a third of the detection).
        height, width = (max(32, round(side / 32) * 32) for side in small.shape[:2])
        fitted = cv2.resize(small[:, :, ::-1], (width, height), interpolation=cv2.INTER_LINEAR)
        batch = fitted.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
        pred = self.detector.infer(np.ascontiguousarray(batch.transpose(2, 0, 1)[np.newaxis]))[0]
        post = self.detector.postprocess_op
        if float(pred.max()) < post.box_thresh:  # no box can score enough: skip the contours
            return []
        boxes, _scores = post(pred, shape)
        return list(self.detector.filter_tag_det_res(boxes, shape)) if len(boxes) else []

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        results, _elapsed = self.recogniser(crops)
        return [(str(text), float(score)) for text, score, *_ in results]


def _config() -> dict[str, Any]:
    """RapidOCR's configuration, with its models' absolute paths and our unclip ratio."""
    import rapidocr_onnxruntime  # heavy import, deferred to first use
    from rapidocr_onnxruntime.utils import read_yaml

    package = Path(rapidocr_onnxruntime.__file__).parent
    config: dict[str, Any] = read_yaml(package / "config.yaml")
    for section in MODEL_SECTIONS:
        config[section]["model_path"] = str(package / config[section]["model_path"])
    config["Det"]["unclip_ratio"] = UNCLIP_RATIO
    return config


def model_files() -> list[Path]:
    """The detector's and the recogniser's ONNX files, as the wheel ships them."""
    config = _config()
    return [Path(config[section]["model_path"]) for section in MODEL_SECTIONS]


@loader("ocr")
def _reader() -> _Reader:
    return _Reader()


def crop(image: Image.Image, quad: np.ndarray) -> np.ndarray:
    """The box ``quad`` of ``image`` (RGB) straightened into a BGR strip, as PP-OCR cuts it;
    a strip much taller than wide is turned to read left to right. Only the box's bounding
    rectangle becomes an array, not the whole working image (9 MB at 2000 x 1500)."""
    left, top = (max(0, int(v)) for v in quad.min(axis=0))
    right, bottom = (int(np.ceil(v)) + 1 for v in quad.max(axis=0))
    pixels = np.asarray(image.crop((left, top, min(right, image.width), min(bottom, image.height))))
    quad = quad.astype(np.float32) - np.array([left, top], dtype=np.float32)
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    strip = cv2.warpPerspective(
        pixels, cv2.getPerspectiveTransform(quad, target), (width, height),
        borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC,
    )  # fmt: skip
    if height / width >= 1.5:
        strip = np.rot90(strip)
    return np.ascontiguousarray(strip[:, :, ::-1])


def to_boxes(quads: Sequence[np.ndarray], results: Sequence[tuple[str, float]]) -> list[TextBox]:
    """Pair detected quads with their recognised text; drop unsure and symbol-only boxes."""
    boxes = []
    for quad, (text, score) in zip(quads, results, strict=True):
        corners = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        cleaned = " ".join(text.split())
        if score >= MIN_SCORE and any(ch.isalnum() for ch in cleaned):  # lone symbols: texture
            boxes.append(
                TextBox(
                    text=cleaned,
                    score=score,
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


def detection_copy(image: Image.Image) -> Image.Image:
    """``image`` shrunk for the detector: an integer box reduce (cheap), then bilinear."""
    factor = max(image.size) // DETECT_SIDE
    if factor >= 2 and min(image.size) >= factor * 8:
        image = image.reduce(factor)
    return shrink(image, DETECT_SIDE)


def read(image: Image.Image) -> Reading:
    """Detect on a shrunk copy of ``image`` (made once: ~4 ms), recognise the boxes from
    ``image`` itself."""
    rgb = as_rgb(image)
    copy = detection_copy(rgb)
    if min(copy.size) < 8:
        return Reading("", 0, 0)
    reader = _reader()
    quads = reader.detect(copy, (rgb.height, rgb.width))
    if not quads:
        return Reading("", 0, 0)
    results = reader.recognise([crop(rgb, quad) for quad in quads])
    return Reading(reading_order(to_boxes(quads, results)), len(quads), len(results))


def read_text(image: Image.Image) -> str:
    """All legible text in ``image`` in reading order; ``""`` when there is none."""
    return read(image).text
