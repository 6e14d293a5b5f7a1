"""Thin wrappers around Debian's promtool, for tests of metrics, rules and alerts.

Why a helper: every component's /metrics text must pass `promtool check metrics` (the
lint Prometheus itself ships: _total on counters, base units, help text), and tests of
web, worker and operator should be able to say so in one line.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "charts" / "picsource" / "files" / "prometheus-rules.yaml"
ALERT_TESTS_FILE = Path(__file__).resolve().parent / "alerts_test.yaml"
INSTALL_HINT = "make tools (installs Debian's prometheus package, which ships promtool)"


def promtool() -> str:
    """Path of promtool, or an AssertionError saying how to install it."""
    found = shutil.which("promtool")
    assert found, f"promtool is not installed: run `{INSTALL_HINT}`"
    return found


def check_metrics(exposition: str | bytes) -> list[str]:
    """Problems `promtool check metrics` finds in a /metrics text; [] when it is clean.

    promtool exits 3 for lint problems and 1 for text it cannot parse; both come back as
    lines, so a test can `assert check_metrics(text) == []` and see the problems.
    """
    data = exposition.encode() if isinstance(exposition, str) else exposition
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=data, capture_output=True, timeout=30
    )
    output = (result.stdout + result.stderr).decode(errors="replace")
    problems = [line.strip() for line in output.splitlines() if line.strip()]
    if result.returncode == 0:
        return []
    return problems or [f"promtool check metrics exited {result.returncode}"]


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool with args, text mode, never raising on a non-zero exit."""
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )
