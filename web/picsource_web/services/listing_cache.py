"""A small in-process cache for listing pages, trusted only under a current listing stamp.

Why in process and not shared: a hit must cost less than the query it saves, and a
shared cache would be one more round trip plus decoding 48 documents. Correctness does
not depend on the process: every entry is keyed by the stamps it was built under
(picsource_core.stamps), which every replica reads from MongoDB before using it, so a
write on any replica or by any worker retires the entry everywhere at once.

The time limit is only a backstop for a stamp renewal that failed because the database
went away between a write and its renewal. So an entry past its time is not dropped: while
one thread builds it again, the process's other threads asking for it get the one they
had (get_or_build), instead of all waiting for the build: under gthread, every thread of
a process queued once a minute behind one rebuild (the first views of an album page by
date taken at 20,000 images took 420-470 ms in bench_web's request log).

A cache made with ``rebuild_after=True`` goes one step further: the request that finds
its entry past its time gets it too, and the entry is built again on a thread of its own
(at most ``BACKGROUND_BUILDS`` at once per cache; when they are all busy, the entry
answers and waits for a later request to have it built; never for an entry more than one
time limit late: then the request builds it, as before). Without it, every entry of a
mix of searches is rebuilt by a request once a minute per process, which waits for the
ranking and the page read (15-20 ms alone, 100-400 ms under 300 req/s on a slow machine)
against ~5 ms for a hit; with it, bench_semantic's runs computed half as many pages inside
their window. Builders that need the request (rendered HTML) are given a copy of its
context (services/fragment_cache.py).

Entries built together (a pod's first requests after a start, the popular searches) would
all pass their time together too, and be built again in one burst: under bench_semantic's
load that burst (~40 page reads at once) held SecantusDB, which answers one query at a
time, for ~0.75 s, and every request meanwhile waited for its account read. So a cache
made with ``spread`` gives each entry a time limit drawn between (1 - spread) and 1 times
``seconds``, and the rebuilds come one by one.

A cache given a ``shared`` level (services/shared_cache.py) also leaves what it builds
for the other gunicorn workers of its pod, and looks there before building: a page is
then computed once per pod, not once per worker.

Entries are immutable values (tuples, strings, frozen objects) shared between threads;
the lock covers only the dict.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from picsource_web.services.shared_cache import SharedLevel

V = TypeVar("V")

log = logging.getLogger(__name__)

#: Entries of one cache built again at once after the requests that found them expired.
BACKGROUND_BUILDS = 2
#: The share of the time limit by which the web tier's caches spread their entries'
#: expiries (module docstring).
EXPIRY_SPREAD = 0.25


class ListingCache(Generic[V]):
    """LRU with a time limit; ``entries=0`` or ``seconds=0`` turns it off."""

    def __init__(self, entries: int, seconds: float, clock: Callable[[], float] = time.monotonic,
                 *, rebuild_after: bool = False, shared: SharedLevel[V] | None = None,
                 spread: float = 0.0, background_builds: int = BACKGROUND_BUILDS) -> None:
        self.entries = entries
        self.seconds = seconds
        #: Each entry lives between (1 - spread) and 1 times ``seconds`` (module docstring).
        self.spread = spread
        self.clock = clock
        #: Build entries past their time after answering with them (module docstring).
        self.rebuild_after = rebuild_after
        #: The pod's level under this one (module docstring), if any.
        self.shared = shared
        self._spare_builders = threading.BoundedSemaphore(background_builds)
        self.hits = 0
        self.misses = 0
        #: Misses here that the shared level answered (counted in ``misses`` too).
        self.shared_hits = 0
        #: Entries past their time handed out while another thread built them again.
        self.stale_hits = 0
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        #: One lock per key being built (get_or_build), so threads wait for one build.
        self._building: dict[Hashable, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return self.entries > 0 and self.seconds > 0

    def get(self, key: Hashable) -> V | None:
        """The entry if it is within its time (one past it stays, for get_or_build); on a
        miss, the shared level's, kept here for the rest of its time."""
        return None if (found := self.lookup(key)) is None else found[0]

    def lookup(self, key: Hashable) -> tuple[V, bool] | None:
        """``get``, and whether the entry came from the shared level."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            found = self._data.get(key)
            if found is not None and found[0] > now:
                self._data.move_to_end(key)
                self.hits += 1
                return found[1], False
            self.misses += 1
        value = self._from_shared(key)
        return None if value is None else (value, True)

    def _from_shared(self, key: Hashable) -> V | None:
        """The shared level's entry, kept here for the rest of its time (at most ours)."""
        found = self.shared.get(key) if self.shared is not None else None
        if found is None:
            return None
        value, left = found
        with self._lock:
            self.shared_hits += 1
            self._store(key, value, self.clock() + min(left, self.seconds))
        return value

    def put(self, key: Hashable, value: V) -> None:
        if not self.enabled:
            return
        lifetime = self.seconds * (1 - self.spread * random.random())  # noqa: S311 - not security
        with self._lock:
            self._store(key, value, self.clock() + lifetime)
        if self.shared is not None:
            self.shared.put(key, value, lifetime)

    def _store(self, key: Hashable, value: V, expires: float) -> None:
        self._data[key] = (expires, value)
        self._data.move_to_end(key)
        while len(self._data) > self.entries:
            self._data.popitem(last=False)

    def get_or_build(self, key: Hashable, build: Callable[[], V],
                     keep: Callable[[V], bool] | None = None, *, rebuild_after: bool | None = None) -> V:
        """The cached value, or ``build()`` stored under ``key``. Threads missing the same
        key wait for one build (an expensive miss, such as an album's count, is then paid
        once per process, not once per waiting request), unless the key has an entry past
        its time: they get that one while the build runs (with ``rebuild_after``, so does
        the caller that found it, the build running on a thread of its own). Other keys are
        never held up. With ``rebuild_after`` and no spare thread, the entry past its time
        answers as well and is left for a later request to have built. ``keep``: whether
        a value built is stored (a page ranked with vectors older than its stamp answers
        its request, and is not kept); ``rebuild_after``: this cache's own setting unless
        given (a builder that can run after its request, or not)."""
        value = self.get(key)
        if value is not None or not self.enabled:
            return value if value is not None else build()
        with self._lock:
            expired = self._data.get(key)
            if expired is not None and key in self._building:
                self.stale_hits += 1
                return expired[1]
            after = self.rebuild_after if rebuild_after is None else rebuild_after
            late_enough = expired is not None and after and self.clock() < expired[0] + self.seconds
            later = late_enough and self._spare_builders.acquire(blocking=False)
            if late_enough and not later and expired is not None:
                # Every spare thread is building: this one answers too, and a later
                # request has it built (entries falling due in a wave never make their
                # requests wait, nor crowd the database with builds at once).
                self.stale_hits += 1
                return expired[1]
            building = self._building.setdefault(key, threading.Lock())
        if later and expired is not None:
            if self._start_build(key, build, building, keep):
                with self._lock:
                    self.stale_hits += 1
                return expired[1]
        try:
            with building:
                value = self.get(key)  # built by the thread this one waited for
                if value is None:
                    value = build()
                    if keep is None or keep(value):
                        self.put(key, value)
        finally:
            with self._lock:
                self._building.pop(key, None)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The entry under ``key`` whatever its time (no hit or miss counted)."""
        with self._lock:
            found = self._data.get(key)
        return None if found is None else found[1]

    def build_later(self, key: Hashable, build: Callable[[], V]) -> bool:
        """Have ``key`` built on a thread of its own; False when no thread is spare (a
        later call may try again). True as well when it is being built already."""
        with self._lock:
            if key in self._building:
                return True
            if not self._spare_builders.acquire(blocking=False):
                return False
            building = self._building.setdefault(key, threading.Lock())
        if self._start_build(key, build, building, None):
            return True
        with self._lock:
            self._building.pop(key, None)
        return False

    def _start_build(self, key: Hashable, build: Callable[[], V], building: threading.Lock,
                     keep: Callable[[V], bool] | None) -> bool:
        """Start ``_rebuild`` (a spare builder taken); False if no thread could be had."""
        try:
            threading.Thread(target=self._rebuild, args=(key, build, building, keep),
                             name="listing-rebuild", daemon=True).start()
        except RuntimeError:  # no thread to be had: the caller builds it
            self._spare_builders.release()
            return False
        return True

    def _rebuild(self, key: Hashable, build: Callable[[], V], building: threading.Lock,
                 keep: Callable[[V], bool] | None) -> None:
        try:
            with building:
                # Another worker of the pod may have built it meanwhile (the same entries
                # fall due in every worker at once when the signing window moves on).
                if self._from_shared(key) is not None:
                    return
                value = build()
                if keep is None or keep(value):
                    self.put(key, value)
        except Exception:  # noqa: BLE001 - the entry stays past its time; a request builds it
            log.warning("building a cached listing again failed", exc_info=True)
        finally:
            with self._lock:
                self._building.pop(key, None)
            self._spare_builders.release()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
