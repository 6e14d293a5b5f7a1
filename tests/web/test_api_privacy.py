"""Privacy matrix over every /api/v1 route that takes an image id, plus the list scopes.

A private image exists only for its owner: another user and anonymous callers get the
same 404 as for an id that never existed, on every route and every method. Public
images are readable by everyone but writable only by the owner (others: 404 for users,
401 for anonymous callers). The matrix is checked against app.url_map so a new image
route without a row here fails the test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for

Call = Callable[[ApiClient, str], TestResponse]

# (rule, method) -> how to call it for an image id; reads first, writes last.
READS: dict[tuple[str, str], Call] = {
    ("/api/v1/images/<image_id>", "GET"): lambda c, i: c.get(f"/api/v1/images/{i}"),
    ("/api/v1/images/<image_id>/analysis", "GET"): lambda c, i: c.get(f"/api/v1/images/{i}/analysis"),
}
WRITES: dict[tuple[str, str], Call] = {
    ("/api/v1/images/<image_id>", "PATCH"): lambda c, i: c.patch(f"/api/v1/images/{i}",
                                                                 {"title": "hacked"}),
    ("/api/v1/images/<image_id>", "DELETE"): lambda c, i: c.delete(f"/api/v1/images/{i}"),
    ("/api/v1/images/<image_id>/restore", "POST"): lambda c, i: c.client.post(
        f"/api/v1/images/{i}/restore", headers=c.headers),
}


def test_matrix_covers_every_image_route(app: Flask) -> None:
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and "<image_id>" in rule.rule
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert routes == set(READS) | set(WRITES)


@pytest.fixture
def three(app: Flask, alice: WebClient, bob: WebClient) -> tuple[ApiClient, ApiClient, ApiClient]:
    return (ApiClient(app, token_for(app, "alice")), ApiClient(app, token_for(app, "bob")),
            ApiClient(app, None))


@pytest.mark.parametrize("visibility", ["private", "unlisted"])
def test_hidden_images_are_404_for_everyone_but_the_owner(
        app: Flask, three: tuple[ApiClient, ApiClient, ApiClient], visibility: str) -> None:
    owner, other, anonymous = three
    image_id = owner.upload_one(samples.jpeg(), visibility=visibility, title="secret")["id"]
    missing = "0" * 24
    for (rule, method), call in {**READS, **WRITES}.items():
        body = assert_problem(call(other, image_id), 404, "not_found")
        assert body == {**assert_problem(call(other, missing), 404, "not_found"),
                        "instance": body["instance"]}, "a hidden image must look like a missing one"
        if (rule, method) in READS:
            assert_problem(call(anonymous, image_id), 404, "not_found")
        else:
            assert_problem(call(anonymous, image_id), 401, "unauthorized")
    for call in READS.values():
        assert call(owner, image_id).status_code == 200
    doc = app_services(app).db.images.find_one({"title": "secret"})
    assert doc is not None and doc["visibility"] == visibility, "nothing was changed"


def test_public_images_are_readable_by_all_but_writable_only_by_owner(
        app: Flask, three: tuple[ApiClient, ApiClient, ApiClient]) -> None:
    owner, other, anonymous = three
    image_id = owner.upload_one(samples.jpeg(), visibility="public", title="shown")["id"]
    for call in READS.values():
        assert call(other, image_id).status_code == 200
        assert call(anonymous, image_id).status_code == 200
    for call in WRITES.values():
        assert_problem(call(other, image_id), 404, "not_found")
        assert_problem(call(anonymous, image_id), 401, "unauthorized")
    assert app_services(app).db.images.count_documents({"title": "shown"}) == 1


def test_lists_show_only_what_each_caller_may_see(
        three: tuple[ApiClient, ApiClient, ApiClient]) -> None:
    owner, other, anonymous = three
    ids = {vis: owner.upload_one(samples.noisy_jpeg(n), visibility=vis, tags="t")["id"]
           for n, vis in enumerate(("private", "unlisted", "public"))}

    def listed(client: ApiClient, **params: str) -> set[str]:
        response = client.get("/api/v1/images", query_string={"tag": "t", **params})
        assert response.status_code == 200
        return {item["id"] for item in response.get_json()["items"]}

    assert listed(owner) == set(ids.values())
    assert listed(owner, scope="public") == {ids["public"]}
    assert listed(other) == set()
    assert listed(other, scope="public") == {ids["public"]}
    assert listed(anonymous) == {ids["public"]}
    assert listed(anonymous, scope="mine") == {ids["public"]}, "anonymous 'mine' falls back to public"
    assert listed(anonymous, q="private") == set()
