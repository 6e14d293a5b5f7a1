"""Flask CLI commands: ``flask --app 'picsource_web.app:create_app()' sweep-orphans``."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask

from picsource_web.context import EXTENSION


def init_app(app: Flask) -> None:
    @app.cli.command("sweep-orphans")
    @click.option("--minutes", type=int, default=None,
                  help="Only objects older than this (default ORPHAN_SWEEP_MINUTES).")
    def sweep_orphans_command(minutes: int | None) -> None:
        """Remove stored objects that have no image document (left by crashed uploads)."""
        from picsource_web.services.uploads import sweep_orphans

        svc = app.extensions[EXTENSION]
        age = timedelta(minutes=minutes if minutes is not None else svc.settings.orphan_minutes)
        result = sweep_orphans(svc.images, age)
        click.echo(f"scanned {result.scanned} objects, removed {len(result.removed)}")
        for key in result.removed:
            click.echo(f"  removed {key}")
