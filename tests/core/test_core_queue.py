"""The job queue against the real MongoDB-wire server: claims, leases, retries, dead letters."""

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from picsource_core.mongo import ensure_indexes
from picsource_core.queue import DONE, FAILED, PENDING, RUNNING, JobQueue, backoff_seconds


class FakeClock:
    """A controllable clock: the queue's time is the only thing simulated, the server is real."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_queue(mongo_db, **kwargs):  # type: ignore[no-untyped-def]
    ensure_indexes(mongo_db)
    clock = FakeClock()
    return JobQueue(mongo_db, clock=clock, **kwargs), clock


def test_enqueue_is_idempotent_per_image_and_kind(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, _ = make_queue(mongo_db)
    image = ObjectId()
    assert queue.enqueue(image) is True
    assert queue.enqueue(image) is False
    assert queue.enqueue(image, "other") is True
    assert mongo_db.jobs.count_documents({"image_id": image}) == 2


def test_claim_takes_oldest_and_never_twice(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db)
    first, second = ObjectId(), ObjectId()
    queue.enqueue(first)
    clock.advance(1)
    queue.enqueue(second)
    a = queue.claim("worker-a", 30)
    b = queue.claim("worker-b", 30)
    assert a is not None and b is not None
    assert (a.image_id, b.image_id) == (first, second)
    assert queue.claim("worker-c", 30) is None
    assert queue.stats().running == 2


def test_expired_lease_is_reclaimed_and_old_owner_cannot_finish(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db)
    queue.enqueue(ObjectId())
    lost = queue.claim("dead-worker", 10)
    assert lost is not None
    clock.advance(5)
    assert queue.claim("other", 10) is None  # lease still valid
    clock.advance(6)
    taken = queue.claim("other", 10)
    assert taken is not None and taken.reclaimed and taken.attempts == 2
    assert queue.complete(lost) is False  # the dead worker's late result is refused
    assert queue.renew(lost, 10) is False
    assert queue.complete(taken) is True
    assert mongo_db.jobs.find_one({"_id": taken.id})["state"] == DONE


def test_failures_back_off_then_dead_letter_and_admin_retry(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db, max_attempts=3)
    queue.enqueue(ObjectId())
    job = queue.claim("w", 30)
    assert job is not None
    assert queue.fail(job, "boom 1") == PENDING
    assert queue.claim("w", 30) is None  # backing off
    clock.advance(backoff_seconds(1) + 0.1)
    job = queue.claim("w", 30)
    assert job is not None and job.attempts == 2
    assert queue.fail(job, "boom 2") == PENDING
    clock.advance(backoff_seconds(2) + 0.1)
    job = queue.claim("w", 30)
    assert job is not None and job.attempts == 3
    assert queue.fail(job, "boom 3") == FAILED
    doc = mongo_db.jobs.find_one({"_id": job.id})
    assert doc["state"] == FAILED and doc["last_error"] == "boom 3"
    assert queue.stats().failed == 1
    assert queue.retry(job.id) is True
    again = queue.claim("w", 30)
    assert again is not None and again.attempts == 1


def test_release_returns_job_without_counting_attempt(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, _ = make_queue(mongo_db)
    queue.enqueue(ObjectId())
    job = queue.claim("w", 30)
    assert job is not None
    assert queue.release(job) is True
    doc = mongo_db.jobs.find_one({"_id": job.id})
    assert doc["state"] == PENDING and doc["attempts"] == 0


def test_stats_and_cancel(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db)
    image = ObjectId()
    queue.enqueue(image)
    queue.enqueue(ObjectId())
    clock.advance(42)
    stats = queue.stats()
    assert (stats.pending, stats.running, stats.backlog) == (2, 0, 2)
    assert 41 <= stats.oldest_pending_age_seconds <= 43
    assert queue.cancel_for_image(image) == 1
    assert queue.stats().pending == 1
    assert mongo_db.jobs.count_documents({"state": RUNNING}) == 0
