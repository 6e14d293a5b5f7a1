"""The type of the ``kubectl`` fixture (tests/conftest.py), for tests that annotate it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

KubectlRunner = Callable[..., "subprocess.CompletedProcess[str]"]
"""kubectl(*args, stdin=None, check=True, timeout=60) -> the finished kubectl process."""
