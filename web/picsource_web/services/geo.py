"""The owner's map, as pure functions: a world outline, a view, and clusters of photos.

Why drawn here and not with a tile server: PicSource runs air-gapped, and no page may
call out to a CDN or tile host. The outline is Natural Earth's land at 1:110m from the
npm package world-atlas (TopoJSON, copied next to app.css at build time), turned into
one SVG path in plain longitude/latitude units (x = lon + 180, y = 90 - lat: the
equirectangular projection), so a view is just an SVG viewBox and zooming is a link.

Clusters: the view is cut into a grid of CELLS_ACROSS cells across; the photos in one
cell become one circle at their mean position. Clicking a circle zooms in on it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from picsource_web.services.errors import BadRequest

WORLD_SPAN = 360.0
MIN_SPAN = 0.05  # about 5 km across: closer than GPS in most photos is precise
CELLS_ACROSS = 16
#: Located photos read for one view at most (newest first); the rest are counted as "more".
MAP_MAX_POINTS = 20_000


@dataclass(frozen=True)
class View:
    """What the map shows: a centre and a width in degrees of longitude (height is half)."""

    lat: float = 20.0
    lon: float = 0.0
    span: float = WORLD_SPAN

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east), clamped to the world."""
        half_w, half_h = self.span / 2, self.span / 4
        west, east = max(-180.0, self.lon - half_w), min(180.0, self.lon + half_w)
        south, north = max(-90.0, self.lat - half_h), min(90.0, self.lat + half_h)
        return south, west, north, east

    @property
    def viewbox(self) -> str:
        """The SVG viewBox in the outline's units (x = lon + 180, y = 90 - lat)."""
        south, west, north, east = self.bounds
        return f"{west + 180:.4f} {90 - north:.4f} {east - west:.4f} {north - south:.4f}"

    def zoomed(self, lat: float, lon: float) -> View:
        return View(lat=round(lat, 5), lon=round(lon, 5), span=max(MIN_SPAN, self.span / 4))


def parse_view(args: Mapping[str, str]) -> View:
    """``lat``, ``lon`` and ``span`` from a query string; 400 naming a bad one."""
    def number(name: str, default: float, low: float, high: float) -> float:
        raw = args.get(name, "")
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise BadRequest("validation_error", f"{name} must be a number from {low:g} to {high:g}.")
        return value

    return View(lat=number("lat", View.lat, -90.0, 90.0), lon=number("lon", View.lon, -180.0, 180.0),
                span=number("span", WORLD_SPAN, MIN_SPAN, WORLD_SPAN))


@dataclass
class Cluster:
    lat: float
    lon: float
    count: int
    image_ids: list[str] = field(default_factory=list)  # the newest few, for click-through


def cluster(points: Iterable[tuple[str, float, float]], view: View, keep: int = 4) -> list[Cluster]:
    """Group (image id, lat, lon) points, newest first, into the view's grid cells."""
    south, west, _north, _east = view.bounds
    cell = view.span / CELLS_ACROSS
    cells: dict[tuple[int, int], tuple[float, float, list[str], int]] = {}
    for image_id, lat, lon in points:
        key = (math.floor((lat - south) / cell), math.floor((lon - west) / cell))
        sum_lat, sum_lon, ids, n = cells.get(key, (0.0, 0.0, [], 0))
        if len(ids) < keep:
            ids.append(image_id)
        cells[key] = (sum_lat + lat, sum_lon + lon, ids, n + 1)
    found = [Cluster(round(s_lat / n, 5), round(s_lon / n, 5), n, ids) for s_lat, s_lon, ids, n in cells.values()]
    return sorted(found, key=lambda c: (-c.count, c.lat, c.lon))


def marker_radius(count: int, view: View) -> float:
    """A circle's radius in view units: readable at any zoom, larger for more photos."""
    return round(view.span / 64 * (1 + math.log2(count) / 2), 5)


def _arcs(topology: Mapping[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        decoded.append(points)
    return decoded


def _ring(indexes: Sequence[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points[1:] if ring else points)
    return ring


def outline_path(topology: Mapping[str, Any]) -> str:
    """An SVG path (x = lon + 180, y = 90 - lat) of every polygon of a TopoJSON topology."""
    arcs = _arcs(topology)
    parts = []
    for obj in topology["objects"].values():
        for geometry in obj.get("geometries", [obj]):
            polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
            for polygon in polygons:
                for indexes in polygon:
                    parts.extend(_subpaths(_ring(indexes, arcs)))
    return "".join(parts)


def _subpaths(ring: list[tuple[float, float]]) -> list[str]:
    """A ring as SVG subpaths, cut where it crosses the antimeridian (a jump of more than
    180 degrees of longitude), so no line runs across the whole map; cut pieces are left
    open, and their fill closes them along the map's edge."""
    pieces: list[list[tuple[float, float]]] = [[]]
    for point in ring:
        if pieces[-1] and abs(point[0] - pieces[-1][-1][0]) > 180:
            pieces.append([])
        pieces[-1].append(point)
    end = "Z" if len(pieces) == 1 else ""
    return ["M" + "L".join(f"{lon + 180:.2f},{90 - lat:.2f}" for lon, lat in piece) + end
            for piece in pieces if len(piece) > 1]


@lru_cache(maxsize=2)
def world_outline(path: Path) -> str | None:
    """The land outline from the build's world-atlas file, read once per process; None
    when the file was not built (the map still shows the photos, on a blank sea)."""
    try:
        return outline_path(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
