"""The ranges an album page reads, one query each (pure functions, tested without servers).

Why ranges at all: a MongoDB-wire server that reads every index match before ``limit``
(SecantusDB) would otherwise read the whole album for each page, ~1 s at 20,000 images.
So a page is read as a few ranges of its sort key, walking away from the cursor, each
next range four times wider and the last unbounded, so nothing is ever missed; each
read costs what its range holds.

By date taken the key is a date (``window_spans``): dates are spread however the camera
spread them, and the first window is a week. By date added the key is the membership's
number (``seq_spans``): every membership takes the next number of its album when it is
added, so a range of N numbers holds at most N memberships, however many were added in
the same millisecond (a bulk add of 20,000 images used to put them all in one date
window, and every page read all of them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

#: By date taken: the first window this wide, each next four times wider, the last
#: unbounded; oldest-first walks start at the first photograph.
FIRST_WINDOW = timedelta(days=7)
PAGE_WINDOWS = 7
OLDEST = datetime(1826, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
#: The narrowest learnt first window (DateHints).
MIN_WINDOW = timedelta(seconds=1)
#: By date added: the first range holds at least this many numbers (a cover's one-image
#: read above a few removed images still takes one read).
FIRST_SPAN = 16


def window_spans(newest_first: bool, edge: datetime | None, start: datetime,
                 first: timedelta = FIRST_WINDOW) -> list[dict[str, Any]]:
    """The date ranges an album page reads, in order: from ``edge`` (the cursor's date,
    excluded; None on a first page) in the page's direction, the first ``first`` wide
    and each next four times wider, the last unbounded, so nothing is ever missed.
    ``start`` is where the first window's far side is measured from: tomorrow for newest
    first (the first window is open above, for dates after tomorrow too), the oldest date
    seen before for oldest first (the first window is open below). A window from a date
    on is ``$gt`` a millisecond before it (BSON dates are milliseconds), for the reason
    ``seq_spans`` gives. An empty range means the whole album (the reader drops it)."""
    spans: list[dict[str, Any]] = []
    width = first
    for window in range(PAGE_WINDOWS - 1):
        try:
            far = start - width if newest_first else start + width
            lower = far - MS if newest_first else start - MS
        except OverflowError:  # past year 1 or 9999: the rest is one unbounded range
            break
        if newest_first:
            span = {"$gt": lower} if window == 0 and edge is None else {"$gt": lower, "$lt": start}
        else:
            near = ({"$gt": edge} if edge is not None else {}) if window == 0 else {"$gt": lower}
            span = {**near, "$lt": far}
        spans.append(span)
        start, width = far, width * 4
    if newest_first:
        spans.append({"$lt": start} if spans or edge is not None else {})
    else:
        spans.append({"$gt": start - MS} if spans else {"$gt": edge} if edge is not None else {})
    return spans


def seq_spans(newest_first: bool, edge: int | None, top: int, limit: int) -> list[dict[str, Any]]:
    """The number ranges a page by date added reads, in order. ``edge`` is the cursor's
    number (None on a first page) and is *included*: numbers are unique unless two
    replicas numbered an album's old memberships at once, so the reader drops what the
    cursor already passed instead of spending a read on ties. ``top`` is the album's
    count of numbers handed out; the first range of a newest-first first page is open
    above, and the last range is unbounded, so adds that race the read are not missed.
    Lower bounds are ``$gt`` one below: SecantusDB 0.7 drops the documents equal to a
    ``$gte`` bound on a field that a descending field follows in the index (album_seq)."""
    width = max(limit, FIRST_SPAN)
    spans: list[dict[str, Any]] = []
    if newest_first:
        start = top if edge is None else edge + 1
        while start - width > 0:
            far = start - width
            spans.append({"$gt": far - 1} if edge is None and not spans else {"$gt": far - 1, "$lt": start})
            start, width = far, width * 4
        spans.append({"$lt": start} if edge is not None or spans else {})
    else:
        start = 0 if edge is None else edge
        while start + width < top:
            spans.append({"$gt": start - 1, "$lt": start + width})
            start, width = start + width, width * 4
        spans.append({"$gt": start - 1})
    return spans


class DateHints:
    """Where an album's pages by date taken are, learnt in process (hints only: a cold
    process reads a few more windows, never fewer documents than exist).

    Dates taken are spread however the cameras spread them, so a fixed first window can
    hold a thousand images (a busy week) or none (an album of old scans), and the album
    page is rebuilt after every edit of its owner. So each album remembers the width that
    held its last full page (the first window of its next read), where its newest-first
    first page ended (the next one reads from just below there up, about one page), and
    its oldest date (where oldest-first walks start), like the listing scanner's hints
    (web services/scan.py)."""

    def __init__(self, memory: int = 4096) -> None:
        self.memory = memory
        self._width: dict[tuple[ObjectId, bool], timedelta] = {}
        self._floor: dict[ObjectId, datetime] = {}
        self._oldest: dict[ObjectId, datetime] = {}

    def spans(self, album_id: ObjectId, newest_first: bool, edge: datetime | None,
              now: datetime) -> list[dict[str, Any]]:
        """The date ranges to read, in order, for a page after ``edge`` (None: the first)."""
        width = self._width.get((album_id, newest_first), FIRST_WINDOW)
        floor = self._floor.get(album_id) if newest_first and edge is None else None
        if floor is not None:
            return [{"$gt": floor - MS}, *window_spans(True, floor, floor, width)]
        if edge is not None:
            start = edge
        else:
            start = now + timedelta(days=1) if newest_first else self._oldest.get(album_id, OLDEST)
        return window_spans(newest_first, edge, start, width)

    def learn(self, album_id: ObjectId, newest_first: bool, edge: datetime | None,
              dates: list[datetime], limit: int) -> None:
        """Remember what a page read found (``dates``: its members' dates, in order)."""
        if len(self._width) >= self.memory:
            for memo in (self._width, self._floor, self._oldest):
                memo.clear()  # hints only: forgetting costs a few more windows
        if not newest_first and edge is None and dates:
            self._oldest[album_id] = dates[0]
        if len(dates) < limit:
            if newest_first and edge is None:
                self._floor.pop(album_id, None)
            return
        span = abs((edge or dates[0]) - dates[-1]) * 9 / 8
        self._width[(album_id, newest_first)] = min(max(MIN_WINDOW, span), FIRST_WINDOW * 512)
        if newest_first and edge is None:
            self._floor[album_id] = dates[-1] - (dates[0] - dates[-1]) / 8 - MIN_WINDOW
