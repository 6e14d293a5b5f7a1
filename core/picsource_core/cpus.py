"""How many CPUs this container may use: the node's cores capped by the cgroup CPU limit.

In a pod, `os.cpu_count()` reports the node's cores: a web pod limited to 1 CPU on a
64-core node would start 128 gunicorn workers, and a worker pod as many analysis
processes, and both run out of memory. The CPU limit lives in the cgroup filesystem:
`cpu.max` ("<quota> <period>" or "max <period>") under cgroup v2, `cpu.cfs_quota_us` and
`cpu.cfs_period_us` (quota -1 = none) under cgroup v1. The parsers are pure; `cpu_limit`
reads the files of this process's own cgroup (from /proc/self/cgroup), falling back to
the mount's root, which is what a container with its own cgroup namespace sees.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max`; None for "max" (no limit) or unreadable text."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    try:
        quota = int(parts[0])
        period = int(parts[1]) if len(parts) > 1 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`; None when unlimited (-1)."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def own_cgroup_paths(proc_self_cgroup: str) -> dict[str, str]:
    """Controller -> path from /proc/self/cgroup ("" for the unified v2 hierarchy)."""
    paths: dict[str, str] = {}
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _candidates(base: Path, own: str | None) -> list[Path]:
    """This process's cgroup directory under `base` (when visible), then `base` itself."""
    dirs = []
    if own and own.strip("/"):
        dirs.append(base / own.strip("/"))
    dirs.append(base)
    return dirs


def cpu_limit(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The CPU limit of this process's cgroup (v2 or v1) in CPUs; None when there is none."""
    own = own_cgroup_paths(_read(proc_self_cgroup) or "")
    for directory in _candidates(root, own.get("")):
        text = _read(directory / "cpu.max")
        if text is not None:
            return parse_cpu_max(text)
    for name in V1_CPU_DIRS:
        base = root / name
        for directory in _candidates(base, own.get("cpu")):
            quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
            if quota is not None and period is not None:
                return parse_cfs(quota, period)
    return None


def cpus_allowed(cores: int, limit: float | None) -> int:
    """Whole CPUs to size process pools for: the cores, capped by the limit rounded up."""
    cores = max(1, cores)
    return cores if limit is None else max(1, min(cores, math.ceil(limit)))


def available_cpus(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """CPUs this process may use: its affinity mask capped by its cgroup's CPU limit."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return cpus_allowed(cores, cpu_limit(root, proc_self_cgroup))
