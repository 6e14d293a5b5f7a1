"""Dominant colours: a palette of five with their shares, a CSS name and a colour family.

k-means runs in CIELAB, where Euclidean distance roughly matches how different two
colours look, on a 64x64 downsample (4,096 pixels: the palette of a photo does not change
with more). Initialisation is k-means++ from a fixed seed, so the same image always
gives the same palette. Families are decided in HSV with lightness/chroma taken from Lab,
which keeps the rules short enough to read and to test against named CSS colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import webcolors
from PIL import Image

FAMILIES = (
    "red", "orange", "yellow", "green", "blue", "purple",
    "pink", "brown", "black", "white", "grey",
)  # fmt: skip
SAMPLE_EDGE = 64
SEED = 20240611
ITERATIONS = 25


@dataclass(frozen=True)
class PaletteColour:
    hex: str
    share: float
    name: str
    family: str


def dominant_colours(image: Image.Image, k: int = 5) -> list[PaletteColour]:
    """Up to `k` colours covering the image, largest share first (shares sum to 1)."""
    small = image.convert("RGB")
    small.thumbnail((SAMPLE_EDGE, SAMPLE_EDGE), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.float64).reshape(-1, 3)
    lab = rgb_to_lab(rgb)
    packed = rgb.astype(np.int64) @ np.array([65536, 256, 1], dtype=np.int64)
    labels, count = _kmeans(lab, min(k, len(np.unique(packed))))
    palette = []
    for cluster in range(count):
        members = labels == cluster
        if not members.any():
            continue
        mean_rgb = np.clip(np.rint(rgb[members].mean(axis=0)), 0, 255).astype(int)
        colour = (int(mean_rgb[0]), int(mean_rgb[1]), int(mean_rgb[2]))
        palette.append(
            PaletteColour(
                hex=webcolors.rgb_to_hex(colour),
                share=float(members.mean()),
                name=nearest_css_name(colour),
                family=colour_family(colour),
            )
        )
    palette.sort(key=lambda c: (-c.share, c.hex))
    return palette


def palette_families(palette: list[PaletteColour], min_share: float = 0.1) -> list[str]:
    """Families covering at least `min_share` of the image, by total share."""
    totals: dict[str, float] = {}
    for colour in palette:
        totals[colour.family] = totals.get(colour.family, 0.0) + colour.share
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return [family for family, share in ranked if share >= min_share]


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-255, shape (..., 3)) to CIELAB under D65."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def _kmeans(points: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Lloyd's k-means with deterministic k-means++ seeding; returns labels and k used.

    `k` must not exceed the number of distinct points (the caller counts them).
    """
    k = max(1, k)
    rng = np.random.default_rng(SEED)
    centres = [points[0]]
    nearest = ((points - points[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = nearest.sum()
        if total <= 0:
            break
        centres.append(points[rng.choice(len(points), p=nearest / total)])
        nearest = np.minimum(nearest, ((points - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres)
    count = len(c)
    squared = (points**2).sum(axis=1)[:, None]
    labels = np.full(len(points), -1)
    for _ in range(ITERATIONS):
        distances = squared - 2 * points @ c.T + (c**2).sum(axis=1)[None, :]
        new_labels = distances.argmin(axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        sizes = np.bincount(labels, minlength=count)
        sums = np.stack([np.bincount(labels, points[:, d], minlength=count) for d in range(3)], 1)
        filled = sizes > 0
        c[filled] = sums[filled] / sizes[filled, None]
    return labels, count


@lru_cache(maxsize=1)
def _css_table() -> tuple[list[str], np.ndarray]:
    names = sorted(n for n in webcolors.names("css3") if "grey" not in n)
    rgb = np.array([tuple(webcolors.name_to_rgb(n)) for n in names], dtype=np.float64)
    return names, rgb_to_lab(rgb)


def nearest_css_name(rgb: tuple[int, int, int]) -> str:
    """The CSS3 colour name closest to `rgb` in Lab ("gray" spelling; CSS lists both)."""
    names, table = _css_table()
    lab = rgb_to_lab(np.array(rgb, dtype=np.float64))
    return names[int(((table - lab) ** 2).sum(axis=1).argmin())]


def colour_family(rgb: tuple[int, int, int]) -> str:
    """One of FAMILIES for an sRGB colour."""
    lightness, a, b = (float(v) for v in rgb_to_lab(np.array(rgb, dtype=np.float64)))
    chroma = (a * a + b * b) ** 0.5
    r, g, bl = (v / 255.0 for v in rgb)
    hi, lo = max(r, g, bl), min(r, g, bl)
    saturation = 0.0 if hi == 0 else (hi - lo) / hi
    if lightness < 10 or (lightness < 20 and chroma < 30) or (lightness < 28 and chroma < 12):
        return "black"
    if chroma < 12 or saturation < 0.12:
        return "white" if lightness > 88 else "grey"
    hue = _hue(r, g, bl, hi, lo)
    if hue < 15 or hue >= 340:
        if lightness > 72 and saturation < 0.55:
            return "pink"
        return "brown" if 8 <= hue < 15 and hi < 0.6 else "red"
    if hue < 45:
        return "orange" if hi >= 0.9 and saturation >= 0.55 else "brown"
    if hue < 70:
        if hi < 0.6:
            return "brown" if hue < 55 else "green"
        return "yellow"
    if hue < 165:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink" if lightness > 45 else "purple"


def _hue(r: float, g: float, b: float, hi: float, lo: float) -> float:
    span = hi - lo
    if span == 0:
        return 0.0
    if hi == r:
        hue = ((g - b) / span) % 6
    elif hi == g:
        hue = (b - r) / span + 2
    else:
        hue = (r - g) / span + 4
    return hue * 60.0
