"""Running command-line tools (kubectl, helm) the way tests want them run."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest


def run_checked(argv: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = 60,
                shown: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``argv`` (text mode); with check=True a non-zero exit FAILS the test showing its
    stdout and stderr. ``shown`` names the command in that message (default: all of argv)."""
    result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout,
                            check=False)  # fmt: skip
    if check and result.returncode != 0:
        pytest.fail(
            f"{shown or ' '.join(argv)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    return result
