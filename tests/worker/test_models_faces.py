"""MTCNN face counting on real photos from scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from picsource_worker.models import faces
from picsource_worker.models.faces import count_faces, detect_faces, nms
from tests.support.images import photo


def test_astronaut_has_exactly_one_face_where_her_face_is() -> None:
    faces = detect_faces(photo("astronaut"))
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    # Eileen Collins' face sits in the upper middle of the 512x512 portrait.
    assert 150 < x1 < x2 < 300 and 30 < y1 < y2 < 210
    assert faces[0].confidence > 0.95


def test_photos_without_people_have_no_faces() -> None:
    assert count_faces(photo("coffee")) == 0
    assert count_faces(photo("chelsea")) == 0
    assert count_faces(Image.new("RGB", (640, 480), (128, 128, 128))) == 0


def test_two_people_side_by_side_count_two() -> None:
    single = photo("astronaut")
    pair = Image.new("RGB", (single.width * 2, single.height))
    pair.paste(single, (0, 0))
    pair.paste(single.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (single.width, 0))
    assert count_faces(pair) == 2


def test_large_photo_boxes_are_in_original_coordinates() -> None:
    big = photo("astronaut").resize((2048, 2048), Image.Resampling.BICUBIC)
    (face,) = detect_faces(big)
    x1, y1, x2, y2 = face.box
    assert 600 < x1 < x2 < 1200 and 120 < y1 < y2 < 840


def test_tiny_and_odd_images_do_not_crash() -> None:
    assert count_faces(Image.new("RGB", (1, 1))) == 0
    assert count_faces(Image.new("L", (19, 300))) == 0
    assert count_faces(photo("astronaut").convert("RGBA")) == 1


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10, 0.9],
            [1, 1, 11, 11, 0.95],  # overlaps the first, better score
            [50, 50, 60, 60, 0.5],
        ]
    )
    assert nms(boxes, 0.5).tolist() == [1, 2]
    assert nms(boxes, 0.99).tolist() == [1, 0, 2]
    assert nms(np.empty((0, 5)), 0.5).size == 0


def test_candidates_refined_in_small_batches_give_the_same_faces(monkeypatch: pytest.MonkeyPatch) -> None:
    # R-Net and O-Net see their crops REFINE_PIXELS at a time (the process's shared arena
    # keeps its peak); how the crops are split must not change what is found.
    portrait = photo("astronaut")
    whole = detect_faces(portrait)
    monkeypatch.setattr(faces, "REFINE_PIXELS", 3 * 24 * 24)  # R-Net 3 crops a run, O-Net 1
    runs: list[int] = []
    real = faces._crops
    monkeypatch.setattr(faces, "_crops", lambda *a: runs.append(len(a[1])) or real(*a))
    split = detect_faces(portrait)
    assert max(runs) <= 3 and len(runs) > 2
    assert len(split) == len(whole) == 1
    np.testing.assert_allclose(split[0].box, whole[0].box, rtol=1e-5)
