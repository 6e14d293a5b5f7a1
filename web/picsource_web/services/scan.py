"""How a listing page is read: one index query, or key windows for servers that need them.

Two readers behind one small interface (``ListingScan``: ``newest``/``oldest``):

* ``IndexScan``, the product path every MongoDB runs well: one query on a compound
  ``(scope or keyword, _id)`` index, ``sort`` on ``_id``, ``limit``. Real MongoDB reads
  about one page of index entries for it.
* ``WindowedScanner``, for MongoDB-wire servers that materialise every candidate an index
  yields before applying sort and limit. SecantusDB (the server ``make run``, the tests and
  the chart's bundled database use) does: ``find({owner_id}).sort(_id).limit(49)`` reads
  all of the owner's documents, ~2 s at 30,000. A query bounded to an ``_id`` range (ids
  are time-ordered) with a compound ``(field, _id)`` index reads only that range, ~10 ms.
  So a page is fetched as a few windows walking back in time, and each query names just
  one indexed equality (the "driver"; a keyword, tag or colour is paired with the owner
  or visibility scope, matching core's compound indexes) plus the ``_id`` range; any
  other predicates are applied here by ``residual_match`` so the server never falls back
  to a wider index. The window size is learnt per driver value (an in-process hint only:
  a cold replica simply takes one or two extra windows). A first page also remembers
  where its last document was (the "floor"), so the next first page starts its window
  there: a gallery whose newest image is weeks old, above a burst of thousands, then
  reads about one page, not the burst. Both hints are kept per page size and per kind of
  range too (``Hint``): the home page also reads the month menu's newest image (1) and
  "On this day" (a few within an earlier day) through the same driver after every edit,
  and a hint learnt for one image or another year made the grid's next page walk four
  windows up from a tiny one. On real MongoDB the same queries are equally correct, only
  more of them.

``choose_scan`` picks one: ``LISTING_SCAN=auto`` (the default) asks the server once
(``buildInfo`` names SecantusDB) and uses windows only there; ``index`` or ``windowed``
force either. bench/bench_web.py measures both (``--scan``).

Both read in the order of one key field (``KeyField``): ``_id`` (date added) or the
``timeline`` key (date taken, picsource_core.timeline), both 12-byte ObjectIds whose top
bytes are seconds; the field says how wide a second is, so window arithmetic is the same.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from bson import ObjectId
from pymongo.cursor import Cursor

from picsource_core.mongo import Document
from picsource_web.services.scan_filters import (
    KEYS,
    SECOND,
    KeyField,
    driver_key,
    int_oid,
    oid_int,
    split_compound,
    with_fields,
)
from picsource_web.services.scan_filters import residual_match as residual_match
from picsource_web.services.scan_filters import split_filter as split_filter

DEFAULT_WINDOW = 86_400 * SECOND
MIN_WINDOW = SECOND >> 14
MAX_WINDOWS = 6  # the last window is unbounded, so a scan never misses documents
#: What a learnt window or floor is kept under: the driver (``driver_key``), the page size
#: and whether the range is bounded below (a day or month filter, not the gallery's top).
Hint = tuple[str, str, int, bool]


class Finder(Protocol):
    """Where documents are read from: a collection, or the repository that owns it."""

    def find(self, query: Mapping[str, Any], projection: Mapping[str, Any] | None = None) -> Cursor[Document]: ...


class ListingScan(Protocol):
    """Reads up to ``need`` documents matching ``flt`` in ``key`` order (``_id`` or
    ``timeline``, see KEYS)."""

    def newest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]: ...

    def oldest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]: ...


class IndexScan:
    """One indexed query, sorted on the key and limited: what every MongoDB runs well."""

    def newest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]:
        return list(coll.find(flt, projection).sort(key, -1).limit(need))

    def oldest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]:
        return list(coll.find(flt, projection).sort(key, 1).limit(need))


#: LISTING_SCAN values.
SCAN_MODES = ("auto", "index", "windowed")


def needs_windows(build_info: Mapping[str, Any]) -> bool:
    """Whether the server reads every match before ``limit`` (SecantusDB, by its buildInfo)."""
    return "secantusVersion" in build_info


def choose_scan(mode: str, build_info: Callable[[], Mapping[str, Any]]) -> ListingScan:
    """The reader for LISTING_SCAN ``mode``; ``build_info`` is asked only for ``auto``."""
    if mode == "index" or (mode == "auto" and not needs_windows(build_info())):
        return IndexScan()
    return WindowedScanner()


class WindowedScanner:
    def __init__(self, clock: Callable[[], float] = time.time, memory: int = 4096) -> None:
        self.clock = clock
        self.memory = memory
        self._windows: OrderedDict[Hint, int] = OrderedDict()
        self._first_seen: dict[tuple[str, str], int] = {}
        # Keyed by driver and residual predicates: a filtered listing's page reaches further back.
        self._floors: dict[tuple[str, str, int, bool, str], int] = {}
        self._lock = threading.Lock()

    def _estimate(self, memo: Hint, field: KeyField) -> int:
        with self._lock:  # gthread workers share the memo
            window = self._windows.get(memo, DEFAULT_WINDOW * field.second // SECOND)
            self._windows[memo] = window
            self._windows.move_to_end(memo)
            while len(self._windows) > self.memory:
                self._windows.popitem(last=False)
            return window

    def newest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]:
        """Up to ``need`` documents matching ``flt``, newest ``key`` first."""
        field = KEYS[key]
        driver, residual, lower, upper = split_compound(flt, key)
        memo: Hint = (*driver_key("" if key == "_id" else f"{key}:", driver), need, lower > 0)
        window = self._estimate(memo, field)
        proj = with_fields(projection, key, residual)
        start = upper if upper is not None else field.at(
            datetime.fromtimestamp(self.clock(), UTC)) + 60 * field.second
        hi: int | None = upper
        top = start
        out: list[Document] = []
        windows = 0
        # Without residual predicates every returned document counts, so ask for no more
        # than needed: the server then encodes and sends only a page, not the whole window.
        batch_size = need if not residual else max(need * 2, 20)
        floor_key = (*memo, repr(residual))
        floor = self._floors.get(floor_key) if upper is None else None
        while len(out) < need:
            windows += 1
            lo = lower if windows >= MAX_WINDOWS else max(lower, top - window)
            if windows == 1 and floor is not None and floor < top:
                lo = max(lower, floor)
            while True:  # page through this window (residual predicates may drop some)
                bounds: dict[str, ObjectId] = {}
                if lo > 0:
                    bounds["$gte"] = int_oid(lo)
                if hi is not None:
                    bounds["$lt"] = int_oid(hi)
                query: dict[str, Any] = dict(driver)
                if bounds:
                    query[key] = bounds
                batch = list(coll.find(query, proj).sort(key, -1).limit(batch_size))
                out.extend(d for d in batch if residual_match(d, residual))
                if len(batch) < batch_size or len(out) >= need:
                    break
                hi = oid_int(batch[-1][key])
            if len(out) >= need or lo <= lower:
                break
            hi = top = lo
            window *= 4
        self._learn(memo, field, windows, start, top, out[:need], need)
        if upper is None:
            self._learn_floor(floor_key, field, out[:need], need)
        return out[:need]

    def oldest(self, coll: Finder, flt: Mapping[str, Any], need: int,
               projection: Mapping[str, Any] | None, key: str = "_id") -> list[Document]:
        """Up to ``need`` documents matching ``flt``, oldest first: windows walk forward from
        the lower bound (or the oldest key this process has seen for the driver, or the
        field's epoch: 2020 for ``_id``, the first photograph for the timeline). A cold walk
        of the timeline from 1826 reads the owner's images once (its last window holds
        them); later walks start at the remembered oldest."""
        field = KEYS[key]
        driver, residual, lower, upper = split_compound(flt, key)
        memo: Hint = (*driver_key("oldest:" if key == "_id" else f"oldest:{key}:", driver), need, lower > 0)
        window = self._estimate(memo, field)
        proj = with_fields(projection, key, residual)
        now = field.at(datetime.fromtimestamp(self.clock(), UTC)) + 60 * field.second
        start = lower or self._first_seen.get(memo[:2], field.epoch)
        lo, out = start, cast(list[Document], [])
        # The remembered start is only a hint for a key an older document can still get (a
        # photo analysed later moves back in the timeline): then the first window is open below.
        floor = start if lower or key == "_id" else 0
        # Without residual predicates every returned document counts, so ask for no more
        # than needed: the server then encodes and sends only a page, not the whole window.
        batch_size = need if not residual else max(need * 2, 20)
        while len(out) < need:
            hi: int | None = lo + window
            if upper is not None and hi >= upper:  # type: ignore[operator]
                hi = upper
            elif upper is None and hi >= now:  # type: ignore[operator]
                hi = None  # the last window is open-ended: nothing newer is missed
            cursor_lo = lo if out or lo != start else floor
            while True:
                bounds: dict[str, ObjectId] = {}
                if cursor_lo > 0:
                    bounds["$gte"] = int_oid(cursor_lo)
                if hi is not None:
                    bounds["$lt"] = int_oid(hi)
                query: dict[str, Any] = {**driver, key: bounds} if bounds else dict(driver)
                batch = list(coll.find(query, proj).sort(key, 1).limit(batch_size))
                out.extend(d for d in batch if residual_match(d, residual))
                if len(batch) < batch_size or len(out) >= need:
                    break
                cursor_lo = oid_int(batch[-1][key]) + 1
            if len(out) >= need or hi is None or hi == upper:
                break
            lo = hi
            window *= 4
        if not lower and out:
            if len(self._first_seen) >= self.memory:
                self._first_seen.clear()  # a hint only: forgetting costs a few empty windows
            self._first_seen[memo[:2]] = oid_int(out[0][key])
        return out[:need]

    def _learn_floor(self, memo: tuple[str, str, int, bool, str], field: KeyField, found: list[Document],
                     need: int) -> None:
        """Remember just below a full first page's last key (an eighth of the page's span
        as headroom for new images); forget it when the page was not full."""
        with self._lock:
            if len(found) < need:
                self._floors.pop(memo, None)
                return
            newest, last = oid_int(found[0][field.name]), oid_int(found[-1][field.name])
            if len(self._floors) >= self.memory:
                self._floors.clear()  # a hint only: forgetting costs one wider first window
            self._floors[memo] = max(0, last - (newest - last) // 8 - field.second)

    def _learn(self, memo: Hint, field: KeyField, windows: int, start: int, reached: int,
               found: list[Document], need: int) -> None:
        current = self._windows.get(memo, DEFAULT_WINDOW * field.second // SECOND)
        smallest = MIN_WINDOW * field.second // SECOND
        if windows <= 1 and len(found) >= need:
            span = start - oid_int(found[-1][field.name])
            learnt = max(smallest, min(current, span * 9 // 8))
        elif len(found) >= need:
            learnt = max(smallest, (start - oid_int(found[-1][field.name])) * 9 // 8)
        else:
            learnt = max(current, start - reached)
        self._windows[memo] = learnt
