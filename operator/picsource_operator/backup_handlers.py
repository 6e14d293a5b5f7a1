"""Kopf wiring of backups: GalleryBackups run in the backup pool, and the timer of a
Gallery's spec.backup schedule. Thin, like handlers.py: the work is in backups.py.

Registered by importing this module (main.py does, next to handlers).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from picsource_operator import backups, constants
from picsource_operator.handlers import GALLERY, _plain
from picsource_operator.spec import SpecError
from picsource_operator.state import Runtime

log = logging.getLogger(__name__)

BACKUP = (constants.GROUP, constants.VERSION, constants.BACKUP_PLURAL)
#: How often a Gallery with spec.backup checks whether its schedule is due.
SCHEDULE_INTERVAL_SECONDS = 30.0


@kopf.timer(*GALLERY, interval=SCHEDULE_INTERVAL_SECONDS, initial_delay=5.0, id="backup-schedule",
            when=lambda spec, **_: bool(spec.get("backup")))
def backup_schedule(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """spec.backup: create the GalleryBackup of a due run, prune past the retention."""
    try:
        created = backups.schedule_tick(memo.runtime, _plain(body))
    except SpecError:
        return  # reported by the create/update handler
    except Exception as err:  # a timer failure must never stop the operator
        log.warning("backup schedule of %s/%s failed: %s", body.metadata.namespace, body.metadata.name, err)
        return
    if created:
        kopf.info(body, reason="BackupScheduled", message=f"created GalleryBackup {created}")


@kopf.on.resume(*BACKUP)
@kopf.on.create(*BACKUP)
async def run_backup(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Run a GalleryBackup once, in the backup pool (a resumed Running one starts over)."""
    if (body.get("status") or {}).get("phase") in backups.FINISHED:
        return
    rt: Runtime = memo.runtime
    if not (body.get("status") or {}).get("phase"):  # queued behind the pool's running backups
        await asyncio.to_thread(backups.mark_pending, rt, body.metadata.namespace or "", body.metadata.name or "")
    loop = asyncio.get_running_loop()
    status = await loop.run_in_executor(rt.backup_pool, backups.run, rt, _plain(body))
    if status["phase"] == "Completed":
        kopf.info(body, reason="BackupCompleted", message=status["conditions"][0]["message"])
    else:
        kopf.warn(body, reason="BackupFailed", message=status["conditions"][0]["message"])
