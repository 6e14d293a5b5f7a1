"""A cached corpus of 12-megapixel JPEGs for the worker benchmarks.

Camera-like files: scikit-image's sample photos upscaled to 4000x3000 (or 3000x4000)
with per-pixel noise, so the JPEGs carry real high-frequency content (a plain upscale
would compress and decode unrealistically fast). A quarter carry printed text (a sign,
letters 1/14 or 1/28 of the picture's height), as in bench_import's library, so the OCR
figures include recognition, not only detection. Generated once into bench/out/corpus-v2/.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

OUT = Path(__file__).resolve().parent / "out"
CORPUS = OUT / "corpus-v2"
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "cat", "immunohistochemistry")
TEXTS = ("OPEN 9-5 MON-SAT", "PLATFORM 4 TO LONDON", "NO PARKING", "Gate B12 Departures")


def corpus(count: int = 24) -> list[Path]:
    """Paths of `count` 12-MP JPEGs, generating the missing ones."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = CORPUS / f"photo-{i:03d}.jpg"
        if not path.exists():
            path.write_bytes(_make(i))
        paths.append(path)
    return paths


def _make(i: int) -> bytes:
    name = PHOTOS[i % len(PHOTOS)]
    base = Image.fromarray(getattr(data, name)()).convert("RGB")
    size = (3000, 4000) if i % 5 == 4 else (4000, 3000)
    big = base.resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(i)
    noise = rng.normal(0, 5, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(big, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels)
    if i % 4 == 0:  # a quarter carry printed text
        letters = size[1] // (14 if i % 8 == 0 else 28)
        draw = ImageDraw.Draw(picture)
        top = size[1] // 3
        draw.rectangle((size[0] // 10, top, size[0] * 9 // 10, top + letters * 2), fill=(245, 245, 240))
        draw.text((size[0] // 8, top + letters // 3), TEXTS[i // 4 % len(TEXTS)], fill=(20, 20, 20),
                  font=ImageFont.load_default(size=letters))
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=90)
    return buf.getvalue()
