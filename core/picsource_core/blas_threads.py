"""One BLAS thread per process: the web tier and the worker get their parallelism from processes.

numpy's OpenBLAS starts a thread per core in every process that imports it, and after
each call its threads spin for a while waiting for the next one. Our processes already
number the cores (two gunicorn workers per CPU, one analysis process per CPU), so those
threads never find a free core: they take it from a process that had work. Measured on
2 cores against the semantic bench's 100,000 vectors: a search nothing had cached cost
72 ms of CPU in a web process with OpenBLAS's default threads and 30 ms with one, its
wall time on an otherwise idle machine 45 against 53 ms (bench/bench_semantic.py).

OpenBLAS reads ``OPENBLAS_NUM_THREADS`` once, when it is loaded, so the variable must be in
the environment before numpy is first imported in the process (or in the one it is forked
from): the web tier's gunicorn configuration sets it in the master, the worker's supervisor
before its forkserver starts. A value already in the environment is kept (an operator who
wants BLAS threads back can say so).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

VARIABLE = "OPENBLAS_NUM_THREADS"
THREADS = "1"


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What to add to ``environ`` so that processes started from it use one BLAS thread."""
    return {} if environ.get(VARIABLE, "").strip() else {VARIABLE: THREADS}


def apply(environ: MutableMapping[str, str] | None = None) -> None:
    """Set it in this process's environment (``os.environ``), before numpy is imported."""
    target = os.environ if environ is None else environ
    target.update(environment(target))
