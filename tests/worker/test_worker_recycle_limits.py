"""Pure parts of recycling analysis processes (picsource_worker.recycle): each process's
jittered job limit, and slot 0's duties handed from a recycled process to its successor."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from picsource_worker.embed import TextBackfill
from picsource_worker.location import LocationBackfill
from picsource_worker.recycle import SLOTS_PER_DUTY, Duties, jobs_before_recycle
from picsource_worker.trash import TrashPurge


def test_each_process_draws_a_limit_at_most_the_setting_and_spread_below_it() -> None:
    rng = random.Random(7)
    drawn = [jobs_before_recycle(40, rng) for _ in range(400)]
    assert max(drawn) == 40 and min(drawn) >= 30  # never above the bound, never far below
    assert len(set(drawn)) > 5  # K processes started together do not all recycle together
    assert {jobs_before_recycle(2, rng) for _ in range(50)} == {2}
    assert {jobs_before_recycle(1, rng) for _ in range(50)} == {1}


def test_zero_means_never() -> None:
    assert jobs_before_recycle(0, random.Random(1)) == 0


def _duties() -> tuple[TrashPurge, LocationBackfill, TextBackfill]:
    """Slot 0's duties; only their bookkeeping is used here, never a database."""
    return (TrashPurge(None, None, None, days=30), LocationBackfill(None, None),  # type: ignore[arg-type]
            TextBackfill(None))  # type: ignore[arg-type]  # fmt: skip


def test_a_successor_resumes_the_duties_where_its_predecessor_left_them() -> None:
    state = [0.0] * (SLOTS_PER_DUTY * 3)  # the supervisor's shared array at the worker's start
    purge, location, texts = _duties()
    Duties([purge, location, texts], state)  # a fresh worker: everything due, nothing done
    assert purge.checkpoint() == (0.0, 0.0) and not location.done and not texts.done
    # what the predecessor got to: the purge waits, the location walk finished, the text
    # walk is half way
    purge._next, location.done = 1_000.0, True
    texts._walk.start = datetime(2024, 5, 1, tzinfo=UTC)
    for i, duty in enumerate((purge, location, texts)):
        state[i * SLOTS_PER_DUTY:(i + 1) * SLOTS_PER_DUTY] = duty.checkpoint()
    assert state[SLOTS_PER_DUTY] == math.inf

    purge, location, texts = _duties()
    Duties([purge, location, texts], state)
    assert purge.checkpoint() == (1_000.0, 0.0)
    assert location.done and location.run_if_due() == 0  # not walked again
    assert texts._walk.start == datetime(2024, 5, 1, tzinfo=UTC) and not texts.done
