"""Semantic search never shows, or is swayed by, what the viewer may not see.

The owner, another user, an anonymous visitor and a share-link holder search for a text
that someone else's private (or unlisted, or trashed) image matches perfectly: it is
never in their results, and it does not change the order of what they do see (checked
with a fresh app, so no cached ranking hides a difference).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for
from tests.web.semantic_support import embed_text, search, search_ids
from tests.web.web_support import finish_analysis, tile_ids

QUERY = "dog at the beach"


def analysed(app: Flask, client: WebClient, seed: int, caption: str, labels: list[str], **fields: str) -> str:
    svc = app_services(app)
    image = client.upload_id(samples.noisy_jpeg(seed), **fields)
    finish_analysis(svc, image, labels=[(label, 0.7) for label in labels], caption=caption)
    embed_text(svc, image)
    return image


@pytest.fixture
def alices(app: Flask, alice: WebClient) -> dict[str, str]:
    return {
        "retriever": analysed(app, alice, 800, "A photo of a golden retriever on a seashore.",
                              ["golden retriever", "seashore"], visibility="public"),
        "sandcastle": analysed(app, alice, 801, "A photo of a sandcastle on a beach.", ["sandbar"],
                               visibility="public"),
        "puppy": analysed(app, alice, 802, "A photo of a puppy in a park.", ["beagle"], visibility="private"),
    }


def views(app: Flask) -> dict[str, list[str]]:
    """What each kind of viewer gets for QUERY, through the API and the search page."""
    anonymous = ApiClient(app, None)
    alice = ApiClient(app, token_for(app, "alice"))
    return {
        "alice mine": search_ids(alice, QUERY),
        "alice public": search_ids(alice, QUERY, scope="public"),
        "anonymous": search_ids(anonymous, QUERY),
    }


def test_another_users_private_perfect_match_is_invisible_and_changes_no_ranking(
        app: Flask, make_app: Callable[..., Flask], alices: dict[str, str], bob: WebClient) -> None:
    before = views(make_app())
    assert before["alice mine"][0] == alices["retriever"]
    assert {alices["sandcastle"], alices["puppy"]} <= set(before["alice mine"])
    assert alices["puppy"] not in before["alice public"] + before["anonymous"]
    secret = analysed(app, bob, 810, "A dog at the beach.", ["dog", "beach"], title=QUERY,
                      tags="dog, beach", visibility="private")
    after = views(make_app())
    assert after == before
    assert secret not in sum(after.values(), [])
    bob_api = ApiClient(app, token_for(app, "bob"))
    assert search_ids(bob_api, QUERY) == [secret]  # bob's own scope has only his image
    assert secret not in search_ids(bob_api, QUERY, scope="public")


def test_unlisted_images_stay_out_even_for_their_share_link_holder(
        app: Flask, web_client: Callable[..., WebClient], alices: dict[str, str], bob: WebClient) -> None:
    unlisted = analysed(app, bob, 811, "A dog at the beach.", ["dog"], title=QUERY, visibility="unlisted")
    share_url = ApiClient(app, token_for(app, "bob")).get(f"/api/v1/images/{unlisted}").get_json()["share_url"]
    holder = web_client()
    assert holder.get(share_url).status_code == 200
    page = holder.get("/search", query_string={"q": QUERY, "scope": "public"}).get_data(as_text=True)
    assert unlisted not in tile_ids(page)
    assert tile_ids(page)[0] == alices["retriever"] and alices["sandcastle"] in tile_ids(page)
    assert unlisted not in search_ids(ApiClient(app, None), QUERY)
    assert unlisted not in search_ids(ApiClient(app, token_for(app, "alice")), QUERY, scope="public")


def test_a_public_image_made_private_leaves_everyone_elses_results_at_once(
        app: Flask, alices: dict[str, str], bob: WebClient) -> None:
    shared = analysed(app, bob, 812, "A dog at the beach.", ["dog"], title=QUERY, visibility="public")
    anonymous = ApiClient(app, None)
    assert search_ids(anonymous, QUERY)[0] == shared
    bob.post(f"/images/{shared}/edit", {"title": QUERY, "visibility": "private"})
    assert shared not in search_ids(anonymous, QUERY)
    assert shared not in search_ids(ApiClient(app, token_for(app, "alice")), QUERY, scope="public")


def test_trashed_images_leave_semantic_results(app: Flask, alice: WebClient, alices: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    assert alices["retriever"] in search_ids(api, QUERY)
    assert alice.post(f"/images/{alices['retriever']}/delete").status_code in (200, 302, 303)
    assert alices["retriever"] not in search_ids(api, QUERY)
    assert alices["retriever"] not in search_ids(ApiClient(app, None), QUERY)
    items: list[dict[str, Any]] = search(api, QUERY)
    assert all("meaning" in item["matched"] for item in items)

