"""Run every analysis step on one upload and collect what each produced.

Steps are independent after decoding: a step that raises records its error under its
name in ``step_errors`` and the others' results stand, so a model that chokes on one odd
picture costs that picture its labels, not its thumbnails. Only an upload that cannot be
decoded at all yields a ``fatal_error``. The models are imported lazily, so switching a
step off (tests about the queue, galleries without OCR) never loads its ONNX session.
"""

from __future__ import annotations

import importlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from picsource_core.images import DEFAULT_SAFETY_THRESHOLD
from picsource_worker.pipeline import caption, colours, decode, exif, hashes, thumbnails

T = TypeVar("T")
#: Step names, in run order; also the `step` label of the duration histogram. The last,
#: "text", is the text vector of semantic search, made by the job once the image's whole
#: text is known (picsource_worker.embed).
STEPS = (
    "decode", "exif", "thumbnails", "colours", "hashes",
    "labels", "faces", "safety", "ocr", "caption", "text",
)  # fmt: skip


@dataclass(frozen=True)
class AnalysisOptions:
    """Which steps run and the limits they run under."""

    labels: bool = True
    faces: bool = True
    ocr: bool = True
    safety: bool = True
    #: The text vector of semantic search (made by the job, after these steps).
    text_embedding: bool = True
    #: NSFW score at or above which an image is hidden from public listings.
    safety_threshold: float = DEFAULT_SAFETY_THRESHOLD
    max_pixels: int = decode.DEFAULT_MAX_PIXELS
    thumbnail_sizes: tuple[int, ...] = thumbnails.SIZES
    label_top_k: int = 5
    label_threshold: float = 0.1


@dataclass
class Analysis:
    """Everything learnt about one image; fields stay None when their step did not run."""

    format: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 1
    exif: exif.ExifInfo | None = None
    thumbnails: list[thumbnails.Thumbnail] = field(default_factory=list)
    palette: list[colours.PaletteColour] = field(default_factory=list)
    colour_families: list[str] = field(default_factory=list)
    phash: str | None = None
    dhash: str | None = None
    labels: list[tuple[str, float]] = field(default_factory=list)
    embedding: np.ndarray | None = None
    faces: int | None = None
    text: str | None = None
    safety: float | None = None
    caption: str | None = None
    step_errors: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    fatal_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.fatal_error is None


def analyse(data: bytes, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse one encoded image. Never raises for bad input; see `Analysis.fatal_error`."""
    opts = options or AnalysisOptions()
    result = Analysis()
    runner = _StepRunner(result)

    decoded = runner.run("decode", lambda: decode.decode(data, max_pixels=opts.max_pixels))
    if decoded is None:
        result.fatal_error = result.step_errors["decode"]
        return result
    image = decoded.image
    result.format, result.width, result.height = decoded.format, decoded.width, decoded.height
    result.frames = decoded.frames

    result.exif = runner.run("exif", lambda: exif.read_exif(decoded.exif))
    result.thumbnails = (
        runner.run("thumbnails", lambda: thumbnails.make_thumbnails(image, opts.thumbnail_sizes))
        or []
    )
    small = _smallest(result, image)
    palette = runner.run("colours", lambda: colours.dominant_colours(small))
    if palette:
        result.palette = palette
        result.colour_families = colours.palette_families(palette)
    hashed = runner.run("hashes", lambda: hashes.perceptual_hashes(small))
    if hashed:
        result.phash, result.dhash = hashed.phash, hashed.dhash

    # The classifier, face detector and safety model shrink their input to 224-1024 px;
    # the largest thumbnail's pixels are already decoded and cheaper to shrink. OCR detects
    # on a copy it shrinks itself but reads the boxes from the full working image: small
    # letters need every pixel there.
    medium = _largest(result, image)
    if opts.labels:
        classification = runner.run("labels", lambda: _classify(medium, opts))
        if classification is not None:
            result.labels = [(str(name), float(score)) for name, score in classification.labels]
            result.embedding = np.asarray(classification.embedding, dtype=np.float32)
    if opts.faces:
        result.faces = runner.run("faces", lambda: int(_model("faces").count_faces(medium)))
    if opts.safety:
        result.safety = runner.run("safety", lambda: float(_model("safety").safety_score(medium)))
    # The thumbnails' pixels are not needed past here: dropped before OCR, the step whose
    # detector needs the most memory (~50 MB), they do not add to the process's peak.
    small = medium = image
    result.thumbnails = [replace(t, image=None) for t in result.thumbnails]
    if opts.ocr:
        text = runner.run("ocr", lambda: str(_model("ocr").read_text(image) or ""))
        result.text = " ".join(text.split()) if text is not None else None
    result.caption = runner.run(
        "caption",
        lambda: caption.make_caption(
            result.labels, result.faces, result.colour_families, result.text
        ),
    )
    return result


class _StepRunner:
    """Times each step and turns its exception into a recorded error."""

    def __init__(self, result: Analysis) -> None:
        self.result = result

    def run(self, name: str, step: Callable[[], T]) -> T | None:
        started = time.perf_counter()
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - one step must not take the others down
            self.result.step_errors[name] = describe_error(exc)
            return None
        finally:
            self.result.durations[name] = time.perf_counter() - started


def describe_error(exc: BaseException) -> str:
    message = str(exc).strip() or exc.__class__.__name__
    if isinstance(exc, decode.DecodeError):
        return message[:500]
    return f"{exc.__class__.__name__}: {message}"[:500]


def _smallest(result: Analysis, image: Image.Image) -> Image.Image:
    """The smallest thumbnail's pixels, else the working image: colours and hashes want few."""
    if result.thumbnails:
        smallest = min(result.thumbnails, key=lambda t: t.size)
        if smallest.image is not None:
            return smallest.image
        return Image.open(io.BytesIO(smallest.data))
    return image


def _largest(result: Analysis, image: Image.Image) -> Image.Image:
    images = [t.image for t in sorted(result.thumbnails, key=lambda t: -t.size) if t.image]
    return images[0] if images else image


def _classify(image: Image.Image, opts: AnalysisOptions) -> Any:
    return _model("classifier").classify(
        image, top_k=opts.label_top_k, threshold=opts.label_threshold
    )


def _model(name: str) -> ModuleType:
    """Import one model wrapper on first use, so a disabled step never loads its session."""
    return importlib.import_module(f"picsource_worker.models.{name}")
