"""The map's pure parts (services/geo.py): views, clusters and the world outline.

No server: a view is a box of degrees, clusters are grid cells of it, and the outline is
TopoJSON decoded into one SVG path (x = lon + 180, y = 90 - lat).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picsource_web.services import geo
from picsource_web.services.errors import BadRequest

OUTLINE = Path(__file__).resolve().parents[2] / "web/picsource_web/static/world-land-110m.json"


def test_a_view_defaults_to_the_world_and_clamps_to_it() -> None:
    assert geo.parse_view({}) == geo.View(20.0, 0.0, 360.0)
    assert geo.View(20.0, 0.0, 360.0).bounds == (-70.0, -180.0, 90.0, 180.0)
    assert geo.View(10.0, 170.0, 40.0).bounds == (0.0, 150.0, 20.0, 180.0)
    assert geo.View(10.0, 170.0, 40.0).viewbox == "330.0000 70.0000 30.0000 20.0000"


@pytest.mark.parametrize(("args", "name"), [
    ({"lat": "91"}, "lat"), ({"lon": "-180.5"}, "lon"), ({"span": "0"}, "span"), ({"span": "720"}, "span"),
    ({"lat": "nan"}, "lat"), ({"lon": "inf"}, "lon"), ({"lat": "north"}, "lat"), ({"span": "1e400"}, "span"),
])
def test_a_bad_view_names_the_parameter(args: dict[str, str], name: str) -> None:
    with pytest.raises(BadRequest, match=rf"^{name} must be a number"):
        geo.parse_view(args)


def test_zooming_in_quarters_the_span_down_to_the_minimum() -> None:
    assert geo.View(0, 0, 360).zoomed(48.85, 2.35) == geo.View(48.85, 2.35, 90.0)
    assert geo.View(0, 0, 0.1).zoomed(1, 1).span == geo.MIN_SPAN


def test_clusters_group_by_cell_newest_ids_first_biggest_first() -> None:
    view = geo.View(0.0, 0.0, 360.0)  # cells of 22.5 degrees
    points = [("a", 48.8, 2.3), ("b", 48.9, 2.4), ("c", 51.5, -0.1), ("d", -33.9, 151.2), ("e", 48.7, 2.2)]
    found = geo.cluster(points, view, keep=2)
    # Paris' three photos share a cell; London (across the 0 meridian's cell edge) and Sydney do not
    assert [(c.count, c.image_ids) for c in found] == [(3, ["a", "b"]), (1, ["d"]), (1, ["c"])]
    assert found[0].lat == pytest.approx((48.8 + 48.9 + 48.7) / 3, abs=1e-4)
    paris = [p for p in points if p[0] in "abe"]
    closer = geo.cluster(paris, geo.View(49.0, 2.0, 4.0))  # 0.25 degree cells: e is apart now
    assert [(c.count, c.image_ids) for c in closer] == [(2, ["a", "b"]), (1, ["e"])]


def test_marker_radius_grows_with_the_count_and_shrinks_with_the_view() -> None:
    world, city = geo.View(span=360.0), geo.View(span=1.0)
    assert geo.marker_radius(1, world) < geo.marker_radius(100, world)
    assert geo.marker_radius(10, city) < geo.marker_radius(10, world) / 100


def test_topojson_arcs_are_delta_decoded_and_reversed_by_negative_indexes() -> None:
    topology = {
        "type": "Topology", "transform": {"scale": [1.0, 1.0], "translate": [-10.0, -5.0]},
        "arcs": [[[0, 0], [10, 0], [0, 10]], [[10, 10], [-10, 0], [0, -10]]],
        "objects": {"land": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "arcs": [[0, 1]]},
            {"type": "MultiPolygon", "arcs": [[[~1, ~0]]]}]}},
    }
    first, second = geo.outline_path(topology).split("Z")[:2]
    # (-10,-5) (0,-5) (0,5) then (-10,5) (-10,-5): lon+180, 90-lat
    assert first == "M170.00,95.00L180.00,95.00L180.00,85.00L170.00,85.00L170.00,95.00"
    assert second == "M170.00,95.00L170.00,85.00L180.00,85.00L180.00,95.00L170.00,95.00"


def test_a_ring_across_the_antimeridian_is_cut_there_not_drawn_across_the_map() -> None:
    topology = {"type": "Topology", "transform": {"scale": [1.0, 1.0], "translate": [0.0, 0.0]},
                "arcs": [[[170, 10], [10, 0], [-350, 0], [0, -5], [350, 0], [-10, 5]]],
                "objects": {"fiji": {"type": "Polygon", "arcs": [[0]]}}}
    path = geo.outline_path(topology)
    assert path == "M350.00,80.00L360.00,80.00M10.00,80.00L10.00,85.00M360.00,85.00L350.00,80.00"
    assert "Z" not in path


def test_the_built_world_outline_draws_the_continents(tmp_path: Path) -> None:
    assert OUTLINE.is_file(), "run `make frontend` (it copies npm world-atlas' land-110m.json)"
    path = geo.world_outline(OUTLINE)
    rings = sum(len(polygon) for g in json.loads(OUTLINE.read_text())["objects"]["land"]["geometries"]
                for polygon in g["arcs"])
    assert path is not None and path.count("Z") <= rings < path.count("M")  # a few are cut
    for piece in path.split("M")[1:]:  # no segment runs across the map
        xs = [float(p.split(",")[0]) for p in piece.rstrip("Z").split("L")]
        assert all(abs(a - b) <= 180 for a, b in zip(xs, xs[1:], strict=False))
    xs = [float(p.split(",")[0]) for p in path.replace("M", "L").split("L")[1:20]]
    assert all(0 <= x <= 360 for x in xs)
    assert geo.world_outline(tmp_path / "missing.json") is None
