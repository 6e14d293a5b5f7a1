"""Recycling analysis processes after a bounded number of jobs (like gunicorn's max_requests).

Why: an analysis process's heap grows with the images it has analysed, not only with the
one in hand. Each 12-megapixel image allocates ~160 MB of bitmaps and model activations
of varying sizes; glibc keeps the freed pieces for reuse (and OCR's onnxruntime arena
keeps its largest size), so the heap fragments: on bench_recycle's corpus a fresh process
peaks at ~300 MB on its first image, ~355 MB within a dozen, and keeps creeping after
that (367 MB after 96; a colleague saw 350-362 MB levelling off), ~90 MB of it free but
never handed back. Returning it after every image (``malloc_trim``) cost 10-20 % more CPU,
a lower mmap threshold 5-10 %. A fresh process costs ~0.1 s instead (forked from the
forkserver that loaded the models, picsource_worker.preload; measured: ~40 ms CPU of
warm-up plus ~60 ms more on its first image). So after WORKER_MAX_JOBS_PER_PROCESS jobs
a process finishes and settles its job, holds no lease, and exits with ``RECYCLED``; the
supervisor forks its successor at once, without crash backoff. Recycling caps the slow
creep; the quick growth over the first dozen images it cannot (bench/bench_recycle.py).
What does is the allocator: with jemalloc (picsource_worker.allocator, the default where
the library is found) a process levels off at ~332 MB within a dozen images; recycling
then only bounds what a slow leak could add.

Each process draws its own limit between 3/4 of the setting and the setting
(``jobs_before_recycle``), so the K processes started together do not all restart together.

Slot 0 also runs the worker's periodic duties (trash purge, backfill walks): their
progress (``Duty.checkpoint``) is kept in the supervisor's shared memory, so a recycled
slot 0 resumes them instead of walking the gallery again from its start.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

#: The exit status of a process that recycled itself: not a crash.
RECYCLED = 3
#: Each process recycles after between this share of WORKER_MAX_JOBS_PER_PROCESS and all of it.
JITTER_FLOOR = 0.75
#: Shared doubles per duty: (next due time or inf once done, position of its walk).
SLOTS_PER_DUTY = 2
#: Duties slot 0 may run (trash purge, location, text vectors, re-analysis).
MAX_DUTIES = 4


def jobs_before_recycle(limit: int, rng: random.Random) -> int:
    """How many jobs a new process handles before it recycles itself (0 = never)."""
    if limit <= 0:
        return 0
    return rng.randint(max(1, math.ceil(limit * JITTER_FLOOR)), limit)


class Duty(Protocol):
    """A periodic duty of slot 0 whose progress can be handed to the next process."""

    def run_if_due(self) -> int: ...

    def checkpoint(self) -> tuple[float, float]:
        """(when it is next due, inf once done for good; how far its walk went, 0 if none)."""
        ...

    def resume(self, due: float, position: float) -> None:
        """Continue from a predecessor's checkpoint (0, 0: start afresh)."""
        ...


class Duties:
    """Slot 0's duties, resumed from and saved to ``state`` (a shared array of doubles,
    SLOTS_PER_DUTY per duty, zeros at the worker's start) around every run."""

    def __init__(self, duties: Sequence[Duty | None], state: Any) -> None:
        if len(duties) * SLOTS_PER_DUTY > len(state):
            raise ValueError(f"{len(duties)} duties, room for {len(state) // SLOTS_PER_DUTY} (MAX_DUTIES)")
        self.duties = list(duties)
        self.state = state
        for i, duty in enumerate(self.duties):
            if duty is not None:
                duty.resume(state[i * SLOTS_PER_DUTY], state[i * SLOTS_PER_DUTY + 1])

    def run_if_due(self) -> None:
        for i, duty in enumerate(self.duties):
            if duty is None:
                continue
            try:
                duty.run_if_due()
            finally:
                due, position = duty.checkpoint()
                self.state[i * SLOTS_PER_DUTY], self.state[i * SLOTS_PER_DUTY + 1] = due, position
