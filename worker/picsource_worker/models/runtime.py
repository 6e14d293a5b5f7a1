"""One place that decides how onnxruntime sessions are built for the worker.

Why: each worker process owns one core, so every session is single-threaded,
CPU-only, and quiet (onnxruntime's default logging would spam worker logs).
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
from PIL import Image


def new_session(
    model: str | Path | bytes, *, variable_shapes: bool = False
) -> ort.InferenceSession:
    """A single-threaded CPU session for an ONNX file path or serialised model.

    ``variable_shapes``: the input size changes from call to call (MTCNN's pyramid and
    candidate batches). onnxruntime's CPU arena and memory-pattern planner then keep a
    block for every size seen, so a worker's RSS creeps up by tens of MB over its first
    images; plain malloc/free per run costs a little speed and returns the memory.
    """
    options = ort.SessionOptions()
    if variable_shapes:
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def single_threaded_opencv() -> None:
    """One OpenCV thread too (resizes in faces/OCR), for the same one-core reason."""
    import cv2

    cv2.setNumThreads(1)


def as_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any PIL image; transparent areas become white, not black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale so the longer side is at most ``max_side`` (never upscales)."""
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
