"""EfficientNet-Lite0 labels and embeddings on real photos from scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from picsource_worker.models.classifier import (
    _session,
    class_names,
    classify,
    label_synonyms,
    readable_name,
    top_labels,
)
from tests.support.images import photo

CATS = {"tabby cat", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
COFFEE = {"espresso", "cup", "coffee mug"}


def test_readable_names() -> None:
    assert readable_name("espresso") == "espresso"
    assert readable_name("tabby, tabby cat") == "tabby cat"
    assert readable_name("tiger cat") == "tiger cat"
    assert readable_name("great_white_shark, white shark") == "great white shark"
    names = class_names()
    assert len(names) == 1000 and names[967] == "espresso" and names[281] == "tabby cat"
    assert all(names) and not any("_" in n for n in names)


def test_label_synonyms_are_the_other_wordnet_names() -> None:
    synonyms = label_synonyms()
    assert synonyms["seashore"][:2] == ("coast", "seacoast")
    assert "tabby cat" not in synonyms  # "tabby" is part of the name itself
    assert "espresso" not in synonyms  # WordNet has no other name for it
    assert set(synonyms) <= set(class_names())
    assert all(0 < len(names) <= 4 and all(names) for names in synonyms.values())


def test_top_labels_threshold_and_shared_names() -> None:
    probabilities = np.zeros(4, dtype=np.float32)
    probabilities[:] = [0.05, 0.5, 0.3, 0.15]
    names = ("a", "crane", "b", "crane")
    assert top_labels(probabilities, names, top_k=5, threshold=0.1) == [("crane", 0.65), ("b", 0.3)]
    assert top_labels(probabilities, names, top_k=1, threshold=0.1) == [("crane", 0.65)]
    assert top_labels(probabilities, names, top_k=5, threshold=0.9) == []


def test_coffee_photo_is_espresso() -> None:
    result = classify(photo("coffee"))
    assert result.labels[0][0] in COFFEE
    assert result.labels[0][1] > 0.5


def test_cat_photo_is_a_cat() -> None:
    result = classify(photo("chelsea"))
    assert result.labels[0][0] in CATS
    assert sum(p for name, p in result.labels if name in CATS) > 0.6
    assert not COFFEE & {name for name, _ in result.labels}


def test_labels_are_sorted_thresholded_and_limited() -> None:
    result = classify(photo("rocket"), top_k=2, threshold=0.05)
    assert 1 <= len(result.labels) <= 2
    scores = [p for _, p in result.labels]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.05
    assert {"missile", "projectile"} & {name for name, _ in result.labels}


def test_embedding_is_a_unit_vector_that_reflects_content() -> None:
    cat = classify(photo("chelsea")).embedding
    cat_mirrored = classify(photo("chelsea").transpose(Image.Transpose.FLIP_LEFT_RIGHT)).embedding
    coffee = classify(photo("coffee")).embedding
    assert cat.shape == (1280,) and cat.dtype == np.float32
    assert float(np.linalg.norm(cat)) == pytest.approx(1.0, abs=1e-5)
    assert float(cat @ cat_mirrored) > float(cat @ coffee) + 0.2


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_pillow_mode_is_accepted(mode: str) -> None:
    image = photo("coffee").convert(mode) if mode != "I;16" else photo("camera").convert(mode)
    result = classify(image)
    assert result.embedding.shape == (1280,)
    assert np.isfinite(result.embedding).all()


def test_tiny_and_extreme_aspect_images_work() -> None:
    for size in [(1, 1), (3000, 2), (2, 900)]:
        result = classify(Image.new("RGB", size, (200, 30, 30)))
        assert result.embedding.shape == (1280,)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        classify(photo("coffee"), threshold=1.5)


def test_unwritable_cache_converts_in_memory(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("PICSOURCE_MODEL_CACHE", str(blocker / "lite0.onnx"))
    _session.cache_clear()
    try:
        assert classify(photo("coffee")).labels[0][0] in COFFEE
    finally:
        _session.cache_clear()
    assert not (blocker / "lite0.onnx").exists()
