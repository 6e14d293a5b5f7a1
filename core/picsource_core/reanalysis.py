"""Re-analysis of older images when the worker's models change: the analysis pipeline's
version, and the ledger of the walk that asks for the re-analyses.

Why one home in core: the worker stamps each analysis with ``ANALYSIS_PIPELINE`` and walks
the older images (picsource_worker.reanalysis); the operator reports the walk's progress in
the Gallery's status. Both read the same ledger document, so the progress costs the operator
one small read instead of a scan of the images.

Bump ``ANALYSIS_PIPELINE`` when a model or step changes what an analysis writes (labels,
caption, faces, OCR, safety). Images analysed before the field existed count as pipeline 1.
A re-analysis is its own job kind (queue.REANALYSE): the image stays ready and keeps its
analysis until the new one is written, and a failure stays on the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

from picsource_core.mongo import Document

#: The analysis pipeline's version (stored as ``analysis.pipeline`` on each analysed image).
ANALYSIS_PIPELINE = 1
#: The key inside ``analysis``.
PIPELINE = "pipeline"
#: One document per pipeline version the walk ran for.
REANALYSIS = "reanalysis"


def pipeline_of(doc: Mapping[str, Any]) -> int:
    """The pipeline version that analysed ``doc`` (1 before the version was recorded)."""
    return int((doc.get("analysis") or {}).get(PIPELINE) or 1)


class ReanalysisLedger:
    """The walk's position and counts, ``{_id: pipeline, walked_to, requested, done, started_at,
    updated_at}``: where a restarted worker resumes, and what the operator reports."""

    def __init__(self, db: Database[Document]) -> None:
        self._entries = db[REANALYSIS]

    def get(self, pipeline: int) -> Document | None:
        return self._entries.find_one({"_id": pipeline})

    def newest(self) -> Document | None:
        """The entry of the newest pipeline a walk ran for (None: no walk ever ran)."""
        return self._entries.find_one({}, sort=[("_id", -1)])

    def advance(self, pipeline: int, walked_to: datetime, requested: int, *, done: bool, now: datetime) -> None:
        """Record a pass: the walk covered uploads up to ``walked_to`` and asked for
        ``requested`` more re-analyses; ``done`` when it reached the present."""
        self._entries.update_one(
            {"_id": pipeline},
            {"$set": {"walked_to": walked_to, "done": done, "updated_at": now},
             "$inc": {"requested": requested}, "$setOnInsert": {"started_at": now}},
            upsert=True)
