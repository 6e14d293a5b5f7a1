"""The type of the ``kubectl`` fixture (tests/conftest.py), for tests that annotate it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

KubectlRunner = Callable[..., "subprocess.CompletedProcess[str]"]
"""kubectl(*args, stdin=None, check=True, timeout=60) -> the finished kubectl process."""


def wait_established(kubectl: KubectlRunner, *crds: str, attempts: int = 30) -> None:
    """Wait until each CRD (``galleries.picsource.io``) is Established. ``kubectl wait`` fails
    at once on a CRD too new to have any condition (".status.conditions accessor error:
    <nil>"), instead of waiting: that failure is retried, a second apart."""
    done = None
    for _attempt in range(attempts):
        done = kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{c}" for c in crds),
                       check=False, timeout=90)
        if done.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"the CRDs {crds} are not Established: {done.stderr if done else ''}")
