"""Dominant colours by k-means in CIELAB, CSS names and the 11 families."""

from __future__ import annotations

import numpy as np
import pytest
import webcolors
from PIL import Image

from picsource_core.search import COLOUR_FAMILIES
from picsource_worker.pipeline.colours import (
    FAMILIES,
    colour_family,
    dominant_colours,
    nearest_css_name,
    palette_families,
    rgb_to_lab,
)
from tests.support.images import mostly_red, photo


def test_mostly_red_image_has_a_red_palette_and_the_red_family() -> None:
    palette = dominant_colours(mostly_red())
    assert palette[0].family == "red"
    assert palette[0].share > 0.8
    assert palette[0].name in {"firebrick", "crimson", "red", "brown", "darkred"}
    assert palette_families(palette)[0] == "red"
    assert abs(sum(c.share for c in palette) - 1) < 1e-9


def test_palette_of_real_photos() -> None:
    coffee = dominant_colours(photo("coffee"))
    assert len(coffee) == 5
    assert palette_families(coffee)[0] == "brown"
    rocket = palette_families(dominant_colours(photo("rocket")))
    assert rocket[0] == "blue"
    astronaut = palette_families(dominant_colours(photo("astronaut")))
    assert "grey" in astronaut and "blue" not in astronaut


def test_palette_is_deterministic() -> None:
    image = photo("chelsea")
    assert dominant_colours(image) == dominant_colours(image)


def test_flat_image_has_a_single_colour() -> None:
    palette = dominant_colours(Image.new("RGB", (50, 50), (0, 0, 255)))
    assert len(palette) == 1 and palette[0].share == 1.0
    assert palette[0].hex == "#0000ff" and palette[0].name == "blue" and palette[0].family == "blue"


def test_lab_conversion_matches_reference_values() -> None:
    # reference values from the CIE formulas (D65): white, black, sRGB red
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], dtype=float))
    assert np.allclose(lab[0], [100, 0, 0], atol=0.05)
    assert np.allclose(lab[1], [0, 0, 0], atol=0.05)
    assert np.allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)


@pytest.mark.parametrize(
    ("css", "family"),
    [
        ("red", "red"), ("darkred", "red"), ("crimson", "red"), ("orange", "orange"),
        ("darkorange", "orange"), ("gold", "yellow"), ("yellow", "yellow"), ("khaki", "yellow"),
        ("green", "green"), ("lime", "green"), ("olive", "green"), ("navy", "blue"),
        ("skyblue", "blue"), ("teal", "blue"), ("purple", "purple"), ("indigo", "purple"),
        ("hotpink", "pink"), ("pink", "pink"), ("magenta", "pink"), ("saddlebrown", "brown"),
        ("chocolate", "brown"), ("tan", "brown"), ("black", "black"), ("white", "white"),
        ("ivory", "white"), ("gray", "grey"), ("silver", "grey"), ("dimgray", "grey"),
    ],
)  # fmt: skip
def test_css_colours_fall_in_their_family(css: str, family: str) -> None:
    assert colour_family(tuple(webcolors.name_to_rgb(css))) == family  # type: ignore[arg-type]


def test_families_are_the_ones_the_web_tier_filters_by() -> None:
    assert set(FAMILIES) == set(COLOUR_FAMILIES)


def test_nearest_css_name() -> None:
    assert nearest_css_name((255, 0, 0)) == "red"
    assert nearest_css_name((250, 250, 250)) in {"snow", "whitesmoke", "white", "ghostwhite"}
    assert nearest_css_name((128, 128, 128)) == "gray"
