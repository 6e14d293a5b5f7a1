"""Imported by the supervisor's forkserver only (multiprocessing.set_forkserver_preload):
importing it loads the models that every analysis process forked afterwards inherits.
Nothing else imports it; see picsource_worker.preload for the why."""

from __future__ import annotations

from picsource_worker.preload import preload

preload()
