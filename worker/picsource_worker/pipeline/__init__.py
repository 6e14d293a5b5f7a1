"""The analysis pipeline: one pure module per step and `analyse`, which runs them all.

Nothing in here touches the network, the database or object storage; the job runner
feeds bytes in and writes the returned `Analysis` out.
"""

from picsource_worker.pipeline.analyse import Analysis, AnalysisOptions, analyse

__all__ = ["Analysis", "AnalysisOptions", "analyse"]
