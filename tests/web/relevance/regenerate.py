"""Rebuild photos.json: the worker's pure analysis (labels, caption, OCR, colours) of each
relevance photo, as the web tests then store it. Run after a model change:

    PYTHONPATH=core:worker:. .venv/bin/python -m tests.web.relevance.regenerate

The photos are not stored here: they are scikit-image's bundled samples and two pictures
tests/support/images.py draws (see README.md for each one's licence).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.support import images as samples

HERE = Path(__file__).parent
#: name -> (where the photo comes from, its licence)
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage.data.astronaut", "public domain (NASA)"),
    "camera": ("skimage.data.camera", "CC0 (Lav Varshney)"),
    "chelsea": ("skimage.data.chelsea", "CC0 (Stefan van der Walt)"),
    "coffee": ("skimage.data.coffee", "CC0 (Rachel Michetti)"),
    "coins": ("skimage.data.coins", "no known copyright restrictions (Brooklyn Museum)"),
    "hubble_deep_field": ("skimage.data.hubble_deep_field", "public domain (NASA)"),
    "page": ("skimage.data.page", "ships with scikit-image (BSD-3-Clause), no separate notice"),
    "retina": ("skimage.data.retina", "CC0 (Mikael Häggström)"),
    "rocket": ("skimage.data.rocket", "public domain (SpaceX)"),
    "text": ("skimage.data.text", "public domain"),
    "clock": ("skimage.data.clock", "public domain (Stefan van der Walt)"),
    "brick": ("skimage.data.brick", "CC0 (CC0Textures)"),
    "grass": ("skimage.data.grass", "CC0 (CC0Textures)"),
    "gravel": ("skimage.data.gravel", "CC0 (CC0Textures)"),
    "horse": ("skimage.data.horse", "CC0 (Andreas Preuss)"),
    "immunohistochemistry": ("skimage.data.immunohistochemistry", "no known copyright restrictions"),
    "logo": ("skimage.data.logo", "BSD-3-Clause (scikit-image)"),
    "sign": ("tests.support.images.sign", "drawn by the tests (this project's terms)"),
    "mostly_red": ("tests.support.images.mostly_red", "drawn by the tests (this project's terms)"),
}


def photo(name: str) -> Image.Image:
    """The photo as an RGB or greyscale PIL image."""
    module, _, function = PHOTOS[name][0].rpartition(".")
    if module == "tests.support.images":
        image: Image.Image = getattr(samples, function)()
    else:
        from skimage import data

        array = getattr(data, function)()
        image = Image.fromarray(array.astype("uint8") * (255 if array.dtype == bool else 1))
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def main() -> None:
    from picsource_worker.models.classifier import label_synonyms
    from picsource_worker.pipeline.analyse import AnalysisOptions, analyse

    options = AnalysisOptions(safety=False, text_embedding=False)
    out = {}
    for name, (source, licence) in PHOTOS.items():
        result = analyse(samples.encode(photo(name), "JPEG", quality=90), options)
        out[name] = {"source": source, "licence": licence,
                     "labels": [[label, round(score, 3), list(label_synonyms().get(label, ()))]
                                for label, score in result.labels],
                     "caption": result.caption, "ocr_text": result.text,
                     "colour_families": list(result.colour_families)}
    (HERE / "photos.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
