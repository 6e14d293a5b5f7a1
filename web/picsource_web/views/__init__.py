"""HTML views, one blueprint per area, plus the JSON API blueprint under /api/v1."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from picsource_web.views import (
        accounts,
        admin,
        album_pages,
        albums,
        api,
        api_albums,
        bulk,
        duplicates,
        gallery,
        health,
        images,
        selection,
        settings,
        suggest,
        upload,
        worldmap,
    )

    for module in (health, accounts, gallery, images, upload, settings, admin, selection, albums,
                   album_pages, worldmap, duplicates):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(api_albums.bp, url_prefix="/api/v1")
    app.register_blueprint(bulk.bp, url_prefix="/api/v1")
    app.register_blueprint(worldmap.api_bp, url_prefix="/api/v1")
    app.register_blueprint(duplicates.api_bp, url_prefix="/api/v1")
    app.register_blueprint(suggest.api_bp, url_prefix="/api/v1")
