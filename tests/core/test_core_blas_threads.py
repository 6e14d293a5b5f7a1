"""One BLAS thread per process (picsource_core.blas_threads): the variable OpenBLAS reads
when numpy loads, set by the web tier's gunicorn configuration before its workers import
numpy, and kept when an operator set it."""

from __future__ import annotations

import os
import subprocess
import sys

from picsource_core import blas_threads
from tests.support.env import REPO, python_path

#: Imports numpy after ``SETUP`` and prints how many threads its OpenBLAS will use (asked
#: from the library numpy loaded, as threadpoolctl does).
PROBE = """
import ctypes, re
{setup}
import numpy
maps = open("/proc/self/maps").read()
library = re.search(r"(/\\S*openblas\\S*\\.so\\S*)", maps).group(1)
print(ctypes.CDLL(library).scipy_openblas_get_num_threads64_())
"""


def _openblas_threads(setup: str = "") -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = python_path()
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return int(out.stdout.split()[-1])


def test_one_thread_unless_the_environment_already_says() -> None:
    assert blas_threads.environment({}) == {"OPENBLAS_NUM_THREADS": "1"}
    assert blas_threads.environment({"OPENBLAS_NUM_THREADS": " "}) == {"OPENBLAS_NUM_THREADS": "1"}
    assert blas_threads.environment({"OPENBLAS_NUM_THREADS": "4"}) == {}
    environ = {"PATH": "/bin"}
    blas_threads.apply(environ)
    assert environ == {"PATH": "/bin", "OPENBLAS_NUM_THREADS": "1"}


def test_web_workers_import_numpy_with_one_blas_thread() -> None:
    # What a gunicorn worker does: the master read the configuration, then the worker imports the app.
    conf = REPO / "web" / "picsource_web" / "gunicorn_conf.py"
    assert _openblas_threads(f"import runpy; runpy.run_path({str(conf)!r})") == 1
    # Without it, OpenBLAS takes a thread per core it may run on, up to its build's 64 (the
    # control: this is what the setting changes).
    assert _openblas_threads() == min(len(os.sched_getaffinity(0)), 64)
