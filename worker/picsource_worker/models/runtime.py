"""One place that decides how onnxruntime sessions are built for the worker.

Why: each worker process owns its share of the CPU limit (picsource_core.cpus): one core
by default, so sessions are single-threaded, CPU-only, and quiet (onnxruntime's default
logging would spam worker logs). Single-threaded sessions own no thread pool, which is
also what lets the supervisor's forkserver load them once and hand them to every
analysis process it forks (picsource_worker.models.preload); ``loader`` records which
process loaded each model, so a process can tell whether it inherited them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import onnxruntime as ort
from PIL import Image

T = TypeVar("T")
_threads = 1
#: (model name, pid of the process that loaded it), in load order.
_loads: list[tuple[str, int]] = []


def threads_per_process(cpus: int, processes: int) -> int:
    """Intra-op threads for each of ``processes`` analysis processes sharing ``cpus``."""
    return max(1, cpus // max(1, processes))


def set_session_threads(threads: int) -> None:
    """Threads of the sessions built from now on in this process (and its forks)."""
    global _threads
    _threads = max(1, threads)


def session_threads() -> int:
    return _threads


def loader(name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Cache a model loader per process, and note which process ran it (``loaded_by``)."""

    def wrap(load: Callable[[], T]) -> Callable[[], T]:
        @functools.cache
        def cached() -> T:
            model = load()
            _loads.append((name, os.getpid()))
            return model

        return functools.wraps(load)(cached)

    return wrap


def loaded_by(pid: int) -> list[str]:
    """Names of the models process ``pid`` loaded itself (not inherited through a fork)."""
    return [name for name, loader_pid in _loads if loader_pid == pid]


def loaded() -> list[str]:
    """Names of every model this process holds, loaded here or inherited."""
    return [name for name, _pid in _loads]


#: How a session gets memory for its intermediate tensors (see ``new_session``).
Memory = Literal["arena", "malloc"]


def new_session(model: str | Path | bytes, *, memory: Memory = "malloc") -> ort.InferenceSession:
    """A CPU session (``session_threads`` threads) for an ONNX file path or serialised model.

    ``memory``: where intermediate tensors live. Never onnxruntime's default (its CPU arena
    and memory-pattern planner): the planner keeps one block per input size for good (the
    OCR detector: +162 MB per image; the classifier: 9 MB per process, for no speed at a
    fixed 224 px), and each session's arena keeps its own peak, so a process held the sum
    of every model's peak instead of the largest.

    * "malloc" (the default): plain malloc/free; freed memory serves the next model. As
      fast as an arena on the classifier and the safety model (a fixed input size);
    * "arena": one arena for the whole process (``_shared_arena``), without the planner,
      shared by every session that asks for it: OCR's detector and recogniser, whose big
      activations would otherwise be mapped and faulted in afresh on every image (the
      detector at 512 px: 37 ms and +28 MB peak, against 61 ms and +72 MB with malloc),
      and MTCNN, whose pyramid and candidate batches come in many sizes (with jemalloc's
      immediate purging of large blocks, malloc cost it 57 against 49 ms per photo). One
      arena, not one per session: its peak is the largest model's, and the process's peak
      RSS fell ~25 MB against MTCNN on malloc beside OCR's own arena (+35 MB with its own).
    """
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = memory == "arena"
    if memory == "arena":
        _shared_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    options.enable_mem_pattern = False
    options.intra_op_num_threads = _threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


@functools.cache
def _shared_arena() -> None:
    """Register the process's one CPU arena with onnxruntime's environment (once: a fork
    inherits it with the sessions built on it). Default arena settings: grow by powers of
    two, no limit (callers bound their batches, e.g. faces.REFINE_PIXELS)."""
    memory_info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(memory_info, ort.OrtArenaCfg(0, -1, -1, -1))


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
