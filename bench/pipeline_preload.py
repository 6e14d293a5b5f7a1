"""Imported by bench_pipeline's forkserver only: loads every model once, before the
measuring processes are forked from it, as the worker's forkserver does
(picsource_worker.forkserver; the worker reads its settings, the bench enables all)."""

from __future__ import annotations

from picsource_worker.pipeline import AnalysisOptions
from picsource_worker.preload import configure, load_models

configure(concurrency=2)
load_models(AnalysisOptions())
