"""Editing an image's text asks the worker to embed it again (semantic search, #13 item 1):
an EMBED job per changed image, from the single edit and from bulk tag changes; edits
that leave the text as it was (visibility, favourite, an unchanged tag list) ask nothing.
Against real SecantusDB and MinIO; the worker's side is tests/worker/test_worker_text_embedding.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES, JOBS
from picsource_core.queue import DONE, EMBED, FAILED, PENDING, JobQueue
from picsource_web.settings import Account
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for
from tests.web.web_support import finish_analysis

BULK = "/api/v1/images/bulk"


@pytest.fixture
def api(app: Flask, alice: WebClient) -> ApiClient:
    return ApiClient(app, token_for(app, "alice"))


def _upload(api: ApiClient, n: int) -> list[str]:
    return [api.upload_one(samples.noisy_jpeg(60 + i), f"p{i}.jpg", title=f"photo {i}")["id"]
            for i in range(n)]


def _embed_jobs(app: Flask) -> dict[str, str]:
    """image id -> state of its EMBED job."""
    jobs = app_services(app).db[JOBS].find({"kind": EMBED})
    return {str(job["image_id"]): job["state"] for job in jobs}


def _work_off(app: Flask) -> None:
    """What a worker does with the EMBED jobs, as far as the queue sees it: claim, complete."""
    queue = JobQueue(app_services(app).db)
    while (job := queue.claim("test-worker", 30)) is not None:
        assert queue.complete(job)


def _bulk(api: ApiClient, body: dict[str, Any]) -> None:
    response = api.client.post(BULK, json=body, headers=api.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_editing_title_description_or_tags_asks_for_an_embed_job(app: Flask, api: ApiClient) -> None:
    first, second = _upload(api, 2)
    assert _embed_jobs(app) == {}  # an upload is embedded by its analysis
    assert api.patch(f"/api/v1/images/{second}", {"visibility": "public"}).status_code == 200
    assert api.patch(f"/api/v1/images/{second}", {"favourite": True}).status_code == 200
    assert _embed_jobs(app) == {}  # the text did not change

    assert api.patch(f"/api/v1/images/{first}", {"title": "dog at the beach"}).status_code == 200
    assert _embed_jobs(app) == {first: PENDING}
    assert api.patch(f"/api/v1/images/{first}", {"description": "a windy day"}).status_code == 200
    assert app_services(app).db[JOBS].count_documents({"kind": EMBED}) == 1  # still one job
    _work_off(app)
    assert _embed_jobs(app) == {first: DONE}
    assert api.patch(f"/api/v1/images/{first}", {"tags": ["holiday"]}).status_code == 200
    assert _embed_jobs(app) == {first: PENDING}  # a finished job is woken, not duplicated


def test_bulk_tag_changes_ask_for_the_changed_images_only(app: Flask, api: ApiClient) -> None:
    ids = _upload(api, 4)
    api.patch(f"/api/v1/images/{ids[3]}", {"tags": ["sea"]})
    _work_off(app)
    _bulk(api, {"action": "set_visibility", "ids": ids, "visibility": "public"})
    _bulk(api, {"action": "favourite", "ids": ids})
    assert _embed_jobs(app) == {ids[3]: DONE}

    _bulk(api, {"action": "add_tags", "ids": ids, "tags": ["sea"]})  # ids[3] has it already
    assert _embed_jobs(app) == {**dict.fromkeys(ids[:3], PENDING), ids[3]: DONE}
    _work_off(app)
    _bulk(api, {"action": "remove_tags", "ids": [ids[0], ids[1]], "tags": ["sea"]})
    assert _embed_jobs(app) == {ids[0]: PENDING, ids[1]: PENDING, ids[2]: DONE, ids[3]: DONE}
    jobs = app_services(app).db[JOBS].find({"kind": EMBED, "image_id": ObjectId(ids[0])})
    assert [job["attempts"] for job in jobs] == [0]


def test_an_admin_retry_of_an_embed_job_leaves_the_image_ready(make_app: Callable[..., Flask],
                                                              web_client: Callable[..., WebClient]) -> None:
    """Retrying an analysis shows its image as waiting again; an EMBED job only concerns
    the text vector, so its ready image stays ready (nothing would make it ready again)."""
    admin_account = Account("root", "admin passphrase 1")
    app = make_app(admin=admin_account)
    svc = app_services(app)
    user = web_client(app)
    user.signup("uma")
    image = user.upload_id(samples.noisy_jpeg(1))
    finish_analysis(svc, image)
    api = ApiClient(app, token_for(app, "uma"))
    assert api.patch(f"/api/v1/images/{image}", {"title": "new words"}).status_code == 200
    queue = JobQueue(svc.db, max_attempts=1)
    while (job := queue.claim("test-worker", 30)) is not None:  # the EMBED job fails for good
        assert queue.complete(job) if job.sets_status else queue.fail(job, "boom") == FAILED
    admin = web_client(app)
    assert admin.login(admin_account.username, admin_account.password).status_code == 302
    embed_job = svc.db[JOBS].find_one({"image_id": ObjectId(image), "kind": EMBED})
    assert embed_job is not None and embed_job["state"] == FAILED
    assert admin.post(f"/admin/jobs/{embed_job['_id']}/retry").status_code == 302
    assert _embed_jobs(app) == {image: PENDING}
    assert svc.db[IMAGES].find_one({"_id": ObjectId(image)})["status"] == "ready"  # type: ignore[index]

