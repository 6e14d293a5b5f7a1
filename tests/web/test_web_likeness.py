"""Similar images by look (#13 item 2): candidates ranked by the cosine of the worker's
image embeddings, within what the viewer may see.

Pure: the cosine and the ranking. Against real SecantusDB and MinIO: the image page's
"Similar images" puts the closest-looking photo first whatever its age, keeps recorded
near-duplicates ahead, and never shows another user's private photo, however alike.
"""

from __future__ import annotations

import math

import numpy as np
from bson import ObjectId
from flask import Flask

from picsource_core.image_embedding import pack
from picsource_core.mongo import IMAGES
from picsource_web.services.likeness import cosine, rank_by_cosine
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis, tile_ids

DIM = 1280


def unit(*weights: float) -> list[float]:
    """A unit vector whose first components are ``weights`` (the rest zero)."""
    norm = math.sqrt(sum(w * w for w in weights))
    return [w / norm for w in weights] + [0.0] * (DIM - len(weights))


def test_cosine_and_ranking() -> None:
    v = np.array
    assert cosine(v([1, 0]), v([1, 0])) == 1.0 and cosine(v([1, 0]), v([0, 1])) == 0.0
    assert cosine(v([0, 0]), v([1, 1])) == 0.0 and math.isclose(cosine(v([2, 0]), v([1, 1])), 1 / math.sqrt(2))
    a, b, c, d, e = (ObjectId() for _ in range(5))
    candidates = [{"_id": a}, {"_id": b}, {"_id": c}, {"_id": d}, {"_id": e}]
    # b as the worker packs it, a as older documents hold it; c none, d the wrong length, e junk
    vectors = {a: [0.1, 1.0], b: pack([1.0, 0.2]), c: None, d: [1.0, 0.0, 0.0], e: b"\x00"}
    assert [x["_id"] for x in rank_by_cosine(pack([1.0, 0.0]), candidates, vectors)] == [b, a, c, d, e]
    assert [x["_id"] for x in rank_by_cosine([1.0, 0.0], candidates, vectors)] == [b, a, c, d, e]
    assert rank_by_cosine("not a vector", candidates, vectors) == candidates


def _set_embedding(app: Flask, image_id: str, vector: list[float], *, packed: bool = True) -> None:
    """As the worker stores it (packed), or as documents written before did (a list)."""
    stored = pack(vector) if packed else vector
    app_services(app).db[IMAGES].update_one({"_id": ObjectId(image_id)}, {"$set": {"embedding": stored}})


def _similar(client: WebClient, image_id: str) -> list[str]:
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    return tile_ids(page.split("Similar images", 1)[1]) if "Similar images" in page else []


def test_the_closest_look_comes_first_and_privacy_holds(app: Flask, alice: WebClient, bob: WebClient) -> None:
    svc = app_services(app)
    made = {}
    for seed, (name, owner) in enumerate([("target", alice), ("alike", alice), ("unlike", alice),
                                          ("newest", alice), ("bobs", bob)]):
        made[name] = owner.upload_id(samples.noisy_jpeg(150 + seed), title=name,
                                     visibility="public" if name in ("target", "alike", "unlike") else "private")
        finish_analysis(svc, made[name], labels=[("golden retriever", 0.9)], families=["yellow"])
    _set_embedding(app, made["target"], unit(1.0, 0.1))
    _set_embedding(app, made["alike"], unit(1.0, 0.2))   # cosine ~0.995
    _set_embedding(app, made["unlike"], unit(0.1, 1.0))  # cosine ~0.2
    _set_embedding(app, made["newest"], unit(0.5, 1.0))  # newest upload, looks half alike
    _set_embedding(app, made["bobs"], unit(1.0, 0.1))    # identical look, but Bob's and private
    mine = _similar(alice, made["target"])
    assert mine[:3] == [made["alike"], made["newest"], made["unlike"]]  # by look, not by age
    assert made["bobs"] not in mine
    theirs = _similar(bob, made["target"])  # Bob sees Alice's public ones only, not his own private one
    assert theirs == [made["alike"], made["unlike"]]


def test_recorded_near_duplicates_stay_first_and_missing_embeddings_fall_back(
        app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    made = {name: alice.upload_id(samples.noisy_jpeg(170 + n), title=name)
            for n, name in enumerate(["target", "resave", "alike", "plain"])}
    for name in made:
        finish_analysis(svc, made[name], labels=[("tabby cat", 0.8)], families=["grey"])
    svc.db[IMAGES].update_one({"_id": ObjectId(made["target"])},
                              {"$set": {"near_duplicates": [ObjectId(made["resave"])]}})
    _set_embedding(app, made["target"], unit(1.0), packed=False)  # older documents: lists
    _set_embedding(app, made["alike"], unit(1.0, 0.05), packed=False)
    _set_embedding(app, made["resave"], unit(0.0, 1.0))  # the worker's pHash link wins anyway
    assert _similar(alice, made["target"]) == [made["resave"], made["alike"], made["plain"]]
    svc.db[IMAGES].update_one({"_id": ObjectId(made["target"])}, {"$set": {"embedding": None}})
    assert _similar(alice, made["target"]) == [made["resave"], made["plain"], made["alike"]]  # newest first
