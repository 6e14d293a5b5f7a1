"""Per-model latency (ms/image) on a 12-megapixel photo, downscaled as the worker does.

The scene is built from scikit-image's bundled photos (coffee as background, the
astronaut's portrait so there is a face, a Pillow-drawn sign so there is text),
encoded as a 4000x3000 JPEG, then decoded by the worker's own
``pipeline.decode`` (draft-mode JPEG decode to the working size).  Each model is
timed on that working image with one onnxruntime thread, as in production. The last row,
"text", is the text vector of semantic search (picsource_worker.embed): one document
with a caption, labels, tags and OCR text, as a worker embeds it after the image models,
with the resident memory the encoder adds to the process.

Run: ``python bench/bench_models.py [repeats]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from skimage import data

from picsource_core.text_embedding import TEXT_VECTOR
from picsource_worker import embed
from picsource_worker.models import classifier, convert, faces, ocr, safety
from picsource_worker.pipeline.decode import decode

WIDTH, HEIGHT = 4000, 3000
#: An image document as the worker embeds it once the image models are done.
TEXT_DOC = {
    "title": "Grand opening of the corner café", "tags": ["street", "opening day", "coffee"],
    "description": "The first morning, before the crowd arrived.",
    "colour_families": ["brown", "white", "grey"],
    "analysis": {"caption": "A photo of an espresso with a person, mostly brown, with text",
                 "labels": [{"label": "espresso"}, {"label": "coffee mug"}, {"label": "cup"}],
                 "ocr_text": "GRAND OPENING"},
}
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def scene_jpeg() -> bytes:
    """A 12 MP JPEG with a face and a sign on a coffee-table background."""
    image = Image.fromarray(data.coffee()).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    portrait = Image.fromarray(data.astronaut()).resize((1400, 1400), Image.Resampling.BICUBIC)
    image.paste(portrait, (2400, 300))
    sign = Image.new("RGB", (1800, 420), (238, 232, 214))
    font: Any = (
        ImageFont.truetype(str(FONT), 190) if FONT.is_file() else ImageFont.load_default(size=190)
    )
    ImageDraw.Draw(sign).text((60, 90), "GRAND OPENING", font=font, fill=(25, 25, 35))
    image.paste(sign, (300, 2300))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """First-call time (includes model loading) and the steady-state times, in ms."""
    start = time.perf_counter()
    result = fn()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, times, result


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    start = time.perf_counter()
    convert.ensure_model()
    print(f"model cache ready in {(time.perf_counter() - start) * 1000:.0f} ms")
    jpeg = scene_jpeg()
    first, times, decoded = timed(lambda: decode(jpeg), repeats)
    image = decoded.image
    print(
        f"12 MP JPEG ({len(jpeg) / 1e6:.1f} MB) -> working image {image.width}x{image.height}; "
        f"{repeats} timed runs per model, 1 onnxruntime thread"
    )
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("classifier", lambda: classifier.classify(image).labels[:2]),
        ("faces", lambda: faces.count_faces(image)),
        ("ocr", lambda: ocr.read_text(image)),
        ("safety", lambda: round(safety.safety_score(image), 4)),
        ("text", lambda: len(embed.text_fields(TEXT_DOC)[TEXT_VECTOR])),
    ]
    print(f"{'step':<11}{'first call':>11}{'median':>9}{'p90':>9}  result")
    print(f"{'decode':<11}{first:>9.0f}ms{statistics.median(times):>7.1f}ms{_p90(times):>7.1f}ms")
    total = 0.0
    for name, fn in rows:
        rss_before = _rss_mb()
        first, times, result = timed(fn, repeats)
        if name == "text":
            result = f"{result} bytes; the encoder added {_rss_mb() - rss_before:.0f} MB resident"
        total += statistics.median(times)
        shown = repr(result).replace("\n", " | ")[:60]
        print(
            f"{name:<11}{first:>9.0f}ms{statistics.median(times):>7.1f}ms{_p90(times):>7.1f}ms  {shown}"
        )
    print(f"all models: {total:.0f} ms/image median on one core")
    return 0


def _rss_mb() -> float:
    """This process's resident memory now (not the peak), from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _p90(times: list[float]) -> float:
    return sorted(times)[min(len(times) - 1, int(len(times) * 0.9))]


if __name__ == "__main__":
    sys.exit(main())
