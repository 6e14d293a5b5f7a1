"""The owner's map of their geotagged photos: a page (/map) and its JSON (/api/v1/map).

Owner-only by construction: both read the signed-in user's own images and nobody
else's, so no shared link, public page or other user ever gets a position from here.
The page works without JavaScript: the land is one SVG path, clusters are links that
zoom in, and the photos in the view are listed under the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from picsource_web.api.caller import require_user
from picsource_web.context import current_services
from picsource_web.services import geo
from picsource_web.services.present import GRID_SIZE
from picsource_web.sessions import login_required, viewer

bp = Blueprint("map", __name__)
api_bp = Blueprint("map_api", __name__)

#: The world-atlas land file the frontend build copies next to app.css.
OUTLINE_FILE = "world-land-110m.json"
#: Photos listed under the map (the newest in the view).
LISTED = 60


def _points(owner_id: Any, view: geo.View) -> tuple[list[dict[str, Any]], bool]:
    """The owner's located photos in the view (newest first) and whether there were more."""
    docs = current_services().images.located(owner_id, view.bounds, geo.MAP_MAX_POINTS + 1)
    return docs[:geo.MAP_MAX_POINTS], len(docs) > geo.MAP_MAX_POINTS


def _position(doc: dict[str, Any]) -> tuple[str, float, float]:
    exif = doc["analysis"]["exif"]
    return str(doc["_id"]), float(exif["latitude"]), float(exif["longitude"])


@bp.get("/map")
@login_required
def index() -> str:
    view = geo.parse_view(request.args)
    owner = viewer().user_id
    docs, truncated = _points(owner, view)
    clusters = geo.cluster((_position(doc) for doc in docs), view)
    media = current_services().media
    outline = geo.world_outline(Path(current_app.static_folder or "") / OUTLINE_FILE)
    markers = [{"cluster": c, "x": round(c.lon + 180, 5), "y": round(90 - c.lat, 5),
                "r": geo.marker_radius(c.count, view),
                "href": _view_url(view.zoomed(c.lat, c.lon))} for c in clusters]
    photos = [{"id": str(doc["_id"]), "title": doc.get("title") or "Untitled",
               "thumb": media.url(doc, GRID_SIZE)} for doc in docs[:LISTED]]
    wider = geo.View(view.lat, view.lon, min(geo.WORLD_SPAN, view.span * 4))
    return render_template("map/index.html", title="Map", view=view, outline=outline, markers=markers,
                           photos=photos, total=len(docs), truncated=truncated,
                           world=view.span >= geo.WORLD_SPAN,
                           zoom_out=_view_url(wider))


def _view_url(view: geo.View) -> str:
    return url_for("map.index", lat=f"{view.lat:g}", lon=f"{view.lon:g}", span=f"{view.span:g}")


@api_bp.get("/map")
def api_map() -> Response:
    """{"view", "clusters": [{"lat", "lon", "count", "image_ids"}], "total", "truncated"}."""
    user = require_user()
    view = geo.parse_view(request.args)
    docs, truncated = _points(user.id, view)
    clusters = geo.cluster((_position(doc) for doc in docs), view)
    south, west, north, east = view.bounds
    return jsonify(view={"lat": view.lat, "lon": view.lon, "span": view.span,
                         "south": south, "west": west, "north": north, "east": east},
                   clusters=[{"lat": c.lat, "lon": c.lon, "count": c.count, "image_ids": c.image_ids}
                             for c in clusters],
                   total=len(docs), truncated=truncated)
