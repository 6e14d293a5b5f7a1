"""What removing location costs an upload: ``picsource_core.location.classify`` (the edit
and its second, checking pass) on camera-sized files carrying GPS in EXIF and the place in
XMP, per format; against it, what the upload already spends hashing the same bytes.

Run: ``python bench/bench_location.py [repeats]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "core"), str(REPO)]

from PIL import Image  # noqa: E402

from picsource_core.location import REMOVED, classify  # noqa: E402
from tests.support import images as samples  # noqa: E402


def median_ms(call: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(repeats: int) -> None:
    photo = Image.open(io.BytesIO(samples.large_jpeg("coffee")))  # with sensor-like noise
    print(f"load average {os.getloadavg()[0]:.2f}; {repeats} runs each, medians")
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = samples.located(fmt, image=photo)
        assert classify(data, fmt).state == REMOVED
        strip = median_ms(lambda data=data, fmt=fmt: classify(data, fmt), repeats)
        sha = median_ms(lambda data=data: hashlib.sha256(data).digest(), repeats)
        print(f"{fmt:5} 12 MP, {len(data) / 1e6:5.1f} MB: location removed in {strip:6.1f} ms "
              f"(sha256 of the same bytes: {sha:5.1f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
