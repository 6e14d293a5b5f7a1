"""Admin page: users with usage and quota, the analysis queue with retry, statistics."""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from picsource_core.queue import FAILED, PENDING
from picsource_web.settings import Account
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis

ADMIN = Account("root", "admin passphrase 1")


def test_admin_sees_usage_queue_and_can_retry(make_app: Callable[..., Flask],
                                              web_client: Callable[..., WebClient]) -> None:
    app = make_app(admin=ADMIN, quota_images=5)
    svc = app_services(app)
    user = web_client(app)
    user.signup("uma")
    failing = user.upload_id(samples.noisy_jpeg(1))
    user.upload_id(samples.noisy_jpeg(2))
    queue = svc.queue
    for _ in range(5):  # a worker fails the first job until it is dead-lettered
        job = queue.claim("worker-1", 30)
        assert job is not None
        if str(job.image_id) != failing:
            queue.release(job)
            job = queue.claim("worker-1", 30)
            assert job is not None
        queue.fail(job, "decode: cannot identify image file")
        queue.jobs.update_one({"_id": job.id}, {"$set": {"run_at": job.lease_expires.replace(year=2000)}})
    assert queue.stats().failed == 1
    admin = web_client(app)
    assert admin.login(ADMIN.username, ADMIN.password).status_code == 302
    page = admin.get("/admin/").get_data(as_text=True)
    assert "uma" in page and "2 / 5" in page  # images used / quota
    assert "decode: cannot identify image file" in page and failing in page
    job_id = str(queue.jobs.find_one({"state": FAILED})["_id"])  # type: ignore[index]
    assert admin.post(f"/admin/jobs/{job_id}/retry").status_code == 302
    assert queue.jobs.find_one({"_id": ObjectId(job_id)})["state"] == PENDING  # type: ignore[index]
    assert svc.db[IMAGES].find_one({"_id": ObjectId(failing)})["status"] == "pending"  # type: ignore[index]
    assert admin.post(f"/admin/jobs/{ObjectId()}/retry").status_code == 404
    pending = admin.get("/admin/?jobs=pending").get_data(as_text=True)
    assert failing in pending
    assert admin.get("/admin/?jobs=nonsense").status_code == 200


def test_similar_images_include_recorded_near_duplicates(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    original = alice.upload_id(samples.noisy_jpeg(1), title="original")
    copy = alice.upload_id(samples.noisy_jpeg(2), title="re-encoded copy")
    finish_analysis(svc, original, labels=[("volcano", 0.5)], families=["red"])
    finish_analysis(svc, copy, labels=[("alp", 0.5)], families=["blue"],
                    palette=[{"hex": "#2040c0", "share": 1.0, "name": "royalblue", "family": "blue"}])
    svc.db[IMAGES].update_one({"_id": ObjectId(copy)}, {"$set": {"near_duplicates": [ObjectId(original)]}})
    html = alice.get(f"/images/{original}").get_data(as_text=True)
    assert copy in html.split("Similar images", 1)[1]  # the link is stored on the copy only
    html = alice.get(f"/images/{copy}").get_data(as_text=True)
    assert original in html.split("Similar images", 1)[1]
    alice.post(f"/images/{copy}/delete")  # to the trash: out of "similar" at once
    html = alice.get(f"/images/{original}").get_data(as_text=True)
    assert copy not in html.split("Similar images", 1)[-1]
    svc.db[IMAGES].update_one({"_id": ObjectId(original)}, {"$set": {"near_duplicates": [ObjectId(copy)]}})
    alice.post(f"/images/{copy}/purge")  # for good: links to it go too (as older galleries stored both sides)
    assert svc.db[IMAGES].find_one({"_id": ObjectId(original)})["near_duplicates"] == []  # type: ignore[index]


def test_admin_inspects_and_retries_a_dead_letter_and_sees_outage_waits(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    from datetime import timedelta

    from picsource_core.queue import JobQueue

    app = make_app(admin=ADMIN)
    svc = app_services(app)
    user = web_client(app)
    user.signup("vera")
    poison = user.upload_id(samples.noisy_jpeg(3))
    waiting = user.upload_id(samples.noisy_jpeg(4))
    queue = JobQueue(svc.db, max_attempts=1)
    claimed = {str(job.image_id): job for job in (queue.claim("oom-victim", 30), queue.claim("w", 30)) if job}
    assert queue.fail(claimed[waiting], "S3 unreachable: connection refused", infrastructure=True) == PENDING
    later = JobQueue(svc.db, max_attempts=1, clock=lambda: claimed[poison].lease_expires + timedelta(seconds=1))
    [buried] = later.bury_abandoned()  # its process died on its only attempt
    admin = web_client(app)
    assert admin.login(ADMIN.username, ADMIN.password).status_code == 302
    page = admin.get("/admin/?jobs=failed").get_data(as_text=True)
    assert poison in page and "the worker died while processing it (lease expired 1 times)" in page
    assert "1 worker death" in page
    pending = admin.get("/admin/?jobs=pending").get_data(as_text=True)
    assert waiting in pending and "S3 unreachable" in pending
    assert "waiting for a backing service (1 try)" in pending
    assert admin.post(f"/admin/jobs/{buried.id}/retry").status_code == 302
    assert queue.jobs.find_one({"_id": buried.id})["state"] == PENDING  # type: ignore[index]
