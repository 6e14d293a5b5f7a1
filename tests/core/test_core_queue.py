"""The job queue against the real MongoDB-wire server: claims, leases, retries, dead letters."""

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from picsource_core.mongo import ensure_indexes
from picsource_core.queue import (
    CLAIM_AHEAD,
    DONE,
    EXPIRED_EVERY_SECONDS,
    FAILED,
    PENDING,
    RUNNING,
    JobQueue,
    backoff_seconds,
)


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


def test_the_oldest_pending_age_counts_only_pending_jobs(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db)
    assert queue.stats().oldest_pending_age_seconds == 0.0  # nothing waits
    queue.enqueue(ObjectId())
    clock.advance(100)
    assert queue.claim("w", 30) is not None  # the oldest job runs: it no longer waits
    queue.enqueue(ObjectId())
    clock.advance(10)
    stats = queue.stats()
    assert (stats.pending, stats.running) == (1, 1)
    assert 9 <= stats.oldest_pending_age_seconds <= 11


def _die(queue: JobQueue, clock: FakeClock, worker: str):  # type: ignore[no-untyped-def]
    """Claim a job and let its worker die: the lease runs out with nothing settled."""
    job = queue.claim(worker, 10)
    clock.advance(11)
    return job


def test_expired_leases_are_looked_for_at_most_every_few_seconds_per_queue(mongo_db) -> None:  # type: ignore[no-untyped-def]
    # Why: that look is a findAndModify, which a MongoDB-wire server may make scan every job;
    # on every claim it was a round trip per analysed image for what is rare (a dead worker).
    queue, clock = make_queue(mongo_db)
    other = JobQueue(mongo_db, clock=clock)
    abandoned, waiting = ObjectId(), ObjectId()
    queue.enqueue(abandoned)
    clock.advance(1)
    queue.enqueue(waiting)
    dead = other.claim("dies", 1)
    assert dead is not None and dead.image_id == abandoned
    first = queue.claim("idle", 10)  # looks (nothing expired yet), takes `waiting`
    assert first is not None and first.image_id == waiting
    assert queue.complete(first)
    queue.enqueue(later := ObjectId())
    clock.advance(1.5)  # the dead worker's lease has expired, but this queue looked just now
    taken = queue.claim("w", 10)
    assert taken is not None and taken.image_id == later and not taken.reclaimed
    clock.advance(EXPIRED_EVERY_SECONDS)
    again = queue.claim("w", 10)
    assert again is not None and again.image_id == abandoned and again.reclaimed


def test_every_claim_counts_so_a_job_whose_worker_keeps_dying_is_dead_lettered(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db, max_attempts=3)
    queue.enqueue(ObjectId())
    claims = [_die(queue, clock, f"crashing-{n}") for n in range(3)]
    assert [job.attempts for job in claims] == [1, 2, 3]
    assert [job.reclaimed for job in claims] == [False, True, True]
    assert queue.claim("next", 10) is None  # the third death was the last claim it gets
    buried = queue.bury_abandoned()
    assert [job.id for job in buried] == [claims[0].id]
    expected = "the worker died while processing it (lease expired 3 times)"
    assert buried[0].last_error == expected
    doc = mongo_db.jobs.find_one({"_id": claims[0].id})
    assert doc["state"] == FAILED and doc["last_error"] == expected and doc["lease_owner"] is None
    assert doc["attempts"] == 3 and doc["lease_expiries"] == 3
    assert queue.bury_abandoned() == []  # buried once, by whoever got there first
    assert queue.stats().failed == 1 and queue.stats().running == 0
    assert queue.retry(claims[0].id) is True  # the admin retry starts it afresh
    again = queue.claim("fixed", 10)
    assert again is not None and again.attempts == 1 and not again.reclaimed
    assert mongo_db.jobs.find_one({"_id": again.id})["lease_expiries"] == 0


def test_a_live_lease_on_the_last_attempt_is_not_buried(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db, max_attempts=1)
    queue.enqueue(ObjectId())
    job = queue.claim("w", 10)
    assert job is not None
    clock.advance(5)
    assert queue.bury_abandoned() == []
    assert queue.complete(job) is True


def test_infrastructure_failures_spend_no_attempt_and_back_off_up_to_a_cap(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db, max_attempts=2, backoff_base=2.0)
    queue.enqueue(ObjectId())
    delays = []
    for _ in range(12):  # far more outages than attempts
        job = queue.claim("w", 30)
        assert job is not None and job.attempts == 1
        assert queue.fail(job, "S3 unreachable", infrastructure=True) == PENDING
        doc = mongo_db.jobs.find_one({"_id": job.id})
        assert doc["attempts"] == 0 and doc["last_error"] == "S3 unreachable"
        delay = (doc["run_at"].replace(tzinfo=UTC) - clock.now).total_seconds()
        delays.append(delay)
        clock.advance(delay - 0.5)
        assert queue.claim("w", 30) is None  # still backing off
        clock.advance(0.5)
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]
    job = queue.claim("w", 30)
    assert job is not None and job.attempts == 1
    assert queue.complete(job) is True
    assert mongo_db.jobs.find_one({"_id": job.id})["infra_failures"] == 0


def test_a_claim_that_dies_counts_even_between_infrastructure_failures(mongo_db) -> None:  # type: ignore[no-untyped-def]
    queue, clock = make_queue(mongo_db, max_attempts=2, backoff_base=1.0)
    queue.enqueue(ObjectId())
    job = queue.claim("w", 10)
    assert job is not None
    assert queue.fail(job, "MongoDB unreachable", infrastructure=True) == PENDING
    clock.advance(1)
    _die(queue, clock, "oom-killed")  # attempt 1 spent: nobody could give it back
    job = queue.claim("w", 10)
    assert job is not None and job.attempts == 2 and job.reclaimed
    assert queue.fail(job, "timeout talking to S3", infrastructure=True) == PENDING
    assert mongo_db.jobs.find_one({"_id": job.id})["attempts"] == 1
    clock.advance(backoff_seconds(2, 1.0))
    job = queue.claim("w", 10)
    assert job is not None and job.attempts == 2
    assert queue.fail(job, "not an image") == FAILED  # a real failure on the last attempt


def test_the_claiming_workers_limit_is_the_one_on_record(mongo_db) -> None:  # type: ignore[no-untyped-def]
    web, _ = make_queue(mongo_db)  # the web tier enqueues with the default limit
    web.enqueue(ObjectId())
    worker = JobQueue(mongo_db, max_attempts=2)  # WORKER_MAX_ATTEMPTS=2
    job = worker.claim("w", 30)
    assert job is not None and job.max_attempts == 2
    assert mongo_db.jobs.find_one({"_id": job.id})["max_attempts"] == 2  # what /admin shows


def test_request_runs_again_after_every_change(mongo_db) -> None:  # type: ignore[no-untyped-def]
    """``request`` (the embed job after an edit): one bulk write for many images; a pending
    job absorbs repeated requests, a done or failed one is woken with fresh attempts, and a
    request while the job runs makes ``complete`` put it back to pending, not done."""
    queue, clock = make_queue(mongo_db, max_attempts=1)
    first, second = ObjectId(), ObjectId()
    assert queue.request([first, second, first], "embed") == 2
    assert queue.request([first], "embed") == 0  # already pending: nothing new
    assert mongo_db.jobs.count_documents({"kind": "embed", "state": PENDING}) == 2
    job = queue.claim("w", 30)
    assert job is not None and job.image_id == first and job.kind == "embed"
    assert queue.complete(job)
    assert mongo_db.jobs.find_one({"_id": job.id})["state"] == DONE

    queue.request([first], "embed")  # done -> pending again
    job = queue.claim("w", 30)
    assert job is not None and job.image_id == first
    queue.request([first], "embed")  # while it runs: once more after it
    clock.advance(1)
    assert queue.complete(job)
    again = mongo_db.jobs.find_one({"_id": job.id})
    assert again["state"] == PENDING and again["attempts"] == 0 and not again["again"]

    other = queue.claim("w", 30)
    assert other is not None and other.image_id == second
    assert queue.fail(other, "boom") == FAILED  # max_attempts=1
    clock.advance(1)
    queue.request([second], "embed")  # failed -> pending with fresh attempts
    woken = mongo_db.jobs.find_one({"_id": other.id})
    assert woken["state"] == PENDING and woken["attempts"] == 0 and woken["last_error"] is None
    assert mongo_db.jobs.count_documents({}) == 2
    assert queue.request([], "embed") == 0


def _fill(queue: JobQueue, clock: FakeClock, count: int) -> list[ObjectId]:
    images = [ObjectId() for _ in range(count)]
    for image in images:
        queue.enqueue(image)
        clock.advance(1)
    return images


def test_a_long_queue_is_claimed_once_each_in_order_by_competing_workers(mongo_db) -> None:  # type: ignore[no-untyped-def]
    """Past CLAIM_AHEAD pending jobs each queue claims from the ids it read ahead: two
    workers sharing the queue still get every job once, each in the order of waiting."""
    a, clock = make_queue(mongo_db)
    b = JobQueue(mongo_db, clock=clock)
    images = _fill(a, clock, 2 * CLAIM_AHEAD + 5)
    claimed: dict[str, list[ObjectId]] = {"a": [], "b": []}
    while True:
        got = [(name, q.claim(name, 60)) for name, q in (("a", a), ("b", b), ("b", b))]
        if all(job is None for _, job in got):
            break
        for name, job in got:
            if job is not None:
                claimed[name].append(job.image_id)
    order = {image: i for i, image in enumerate(images)}
    assert sorted(claimed["a"] + claimed["b"], key=order.__getitem__) == images
    for mine in claimed.values():
        assert mine and mine == sorted(mine, key=order.__getitem__)


def test_a_job_read_ahead_is_claimed_only_while_it_is_still_ready(mongo_db) -> None:  # type: ignore[no-untyped-def]
    a, clock = make_queue(mongo_db)
    b = JobQueue(mongo_db, clock=clock)
    images = _fill(a, clock, CLAIM_AHEAD + 3)
    first = b.claim("b", 60)  # b has read the next CLAIM_AHEAD - 1 ids ahead
    assert first is not None and first.image_id == images[0]
    retried = a.claim("a", 60)
    assert retried is not None and retried.image_id == images[1]
    assert a.fail(retried, "a decoder hiccup") == PENDING  # backs off: not ready for a while
    a.cancel_for_image(images[2])  # the image was deleted
    third = a.claim("a", 60)
    assert third is not None and third.image_id == images[3]
    nxt = b.claim("b", 60)
    assert nxt is not None and nxt.image_id == images[4]
    clock.advance(backoff_seconds(1) + 1)
    # Ready again: claimed at the latest once b's ids read ahead are used up.
    later = [b.claim("b", 60) for _ in range(CLAIM_AHEAD)]
    again = [job for job in later if job is not None and job.image_id == images[1]]
    assert len(again) == 1 and again[0].attempts == 2
    assert {job.image_id for job in later if job is not None} == set(images[1:2] + images[5:])
