"""The timeline by date taken: month headers, the jump menu and "On this day".

Why here and not in the templates: which tile opens a month, which months the menu offers
and which earlier years hold images taken today are small pure decisions (tested without
servers); the reads behind the menu and the strip go through the ImageRepository's
listing scanner and cache, with the main grid's own filter (services/query.build_filter:
the owner's images only, no trash, no archive), so they show nothing the grid would not.

Dates are the timeline key's (picsource_core.timeline): the EXIF wall-clock time when the
image has a plausible one, else the upload time in UTC; "today" is the server's UTC date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from picsource_core.timeline import TIMELINE, document_time, read_oldest
from picsource_web.services.images import ImageRepository
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.listings import TILE_FIELDS, Page, listing_stamp
from picsource_web.services.query import ImageQuery, build_filter
from picsource_web.services.users import Viewer

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
#: "On this day" looks back at most this many years and shows at most ON_THIS_DAY images.
YEARS_BACK = 30
ON_THIS_DAY = 12
PER_YEAR = 6


def month_of(doc: Mapping[str, Any]) -> date:
    """The first day of the month a listed image was taken in."""
    return document_time(dict(doc)).date().replace(day=1)


def month_label(first: date) -> str:
    return f"{MONTHS[first.month - 1]} {first.year}"


def month_marks(docs: Iterable[Mapping[str, Any]]) -> list[date | None]:
    """For each document, its month when it opens a new month group, else None. A page's
    first document always opens one, so a month continued from the previous page is named
    again at the top of this one."""
    marks: list[date | None] = []
    previous: date | None = None
    for doc in docs:
        month = month_of(doc)
        marks.append(month if month != previous else None)
        previous = month
    return marks


def jump_months(oldest: date, newest: date) -> list[tuple[int, list[date]]]:
    """The jump menu: (year, its months newest first) from ``newest`` back to ``oldest``."""
    years = []
    for year in range(newest.year, oldest.year - 1, -1):
        last = newest.month if year == newest.year else 12
        first = oldest.month if year == oldest.year else 1
        years.append((year, [date(year, m, 1) for m in range(last, first - 1, -1)]))
    return years


def earlier_days(today: date, oldest: date) -> list[date]:
    """The same month and day in each earlier year back to ``oldest``'s year (at most
    YEARS_BACK), most recent first; a 29 February only in leap years."""
    days = []
    for year in range(today.year - 1, max(oldest.year, today.year - YEARS_BACK) - 1, -1):
        try:
            days.append(today.replace(year=year))
        except ValueError:  # 29 February in a common year
            continue
    return days


@dataclass(frozen=True)
class Memory:
    """One earlier year's images taken on today's month and day."""

    day: date
    years_ago: int
    items: list[dict[str, Any]]


class Timeline:
    """The owner's timeline extras, read through the repository's scanner; cached like
    listing pages (under the owner's listing stamp), in their own cache so the listing
    cache's figures stay those of listing pages."""

    def __init__(self, images: ImageRepository, cache: ListingCache[Page] | None = None) -> None:
        self.images = images
        self.cache: ListingCache[Page] = cache if cache is not None else ListingCache(0, 0)

    def _grid(self, viewer: Viewer, **fields: Any) -> dict[str, Any]:
        """The main grid's filter (the owner's, no trash, no archive) with ``fields``."""
        return build_filter(ImageQuery(scope="mine", archived=False, **fields), viewer)

    def _cached(self, viewer: Viewer, name: str, flt: dict[str, Any],
                build: Callable[[], list[dict[str, Any]]]) -> Page:
        if not self.cache.enabled:
            return Page(items=build(), next_cursor=None)
        version = f"{listing_stamp(self.images.db, flt, viewer)}|{name}"
        return self.cache.get_or_build(version, lambda: Page(items=build(), next_cursor=None, version=version))

    def span(self, viewer: Viewer) -> tuple[date, date] | None:
        """The months of the owner's oldest and newest image in the grid; None if empty.
        The oldest is the lowest key the write path recorded (core's record_oldest): a
        search for it would read the whole gallery on SecantusDB."""
        flt = self._grid(viewer)
        scanner, docs, fields = self.images.scanner, self.images.docs, {TIMELINE: 1, "taken_at": 1}

        def build() -> list[dict[str, Any]]:
            newest = scanner.newest(docs, flt, 1, fields, TIMELINE)
            oldest = read_oldest(self.images.db, flt["owner_id"])
            return newest + [{"_id": oldest, TIMELINE: oldest}] if newest and oldest else newest * 2

        ends = self._cached(viewer, "span", flt, build).items
        return (month_of(ends[1]), month_of(ends[0])) if ends else None

    def on_this_day(self, viewer: Viewer, today: date) -> list[Memory]:
        """Earlier years' images taken on today's month and day (bounded: YEARS_BACK
        ranged reads of PER_YEAR at most, ON_THIS_DAY images in all), cached per day."""
        span = self.span(viewer)
        if span is None or span[0].year >= today.year:
            return []
        scanner, docs = self.images.scanner, self.images.docs
        days = earlier_days(today, span[0])

        def build() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for day in days:
                if len(found) >= ON_THIS_DAY:
                    break
                flt = self._grid(viewer, date_from=day, date_to=day)
                found += scanner.newest(docs, flt, PER_YEAR, TILE_FIELDS, TIMELINE)
            return found[:ON_THIS_DAY]

        items = self._cached(viewer, f"on-this-day:{today}", self._grid(viewer), build).items
        by_day: dict[date, list[dict[str, Any]]] = {}
        for doc in items:
            by_day.setdefault(document_time(doc).date(), []).append(doc)
        return [Memory(day, today.year - day.year, found) for day, found in by_day.items()]
