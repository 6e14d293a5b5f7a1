"""CPUs a container may use, from the cgroup CPU limit (v1 and v2), not the node's cores."""

from __future__ import annotations

from pathlib import Path

from picsource_core.cpus import (
    available_cpus,
    cpu_limit,
    cpus_allowed,
    own_cgroup_paths,
    parse_cfs,
    parse_cpu_max,
)


def test_cgroup_v2_cpu_max() -> None:
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cpu_max("150000 100000\n") == 1.5
    assert parse_cpu_max("50000 100000") == 0.5
    assert parse_cpu_max("200000") == 2.0  # period defaults to 100 ms
    assert parse_cpu_max("") is None
    assert parse_cpu_max("lots 100000") is None
    assert parse_cpu_max("100000 0") is None


def test_cgroup_v1_cfs_quota_and_period() -> None:
    assert parse_cfs("-1\n", "100000\n") is None
    assert parse_cfs("250000\n", "100000\n") == 2.5
    assert parse_cfs("50000", "50000") == 1.0
    assert parse_cfs("x", "100000") is None
    assert parse_cfs("100000", "0") is None


def test_whole_cpus_round_up_and_never_exceed_the_cores() -> None:
    assert cpus_allowed(64, 1.0) == 1
    assert cpus_allowed(64, 0.25) == 1  # a quarter CPU still runs one process
    assert cpus_allowed(64, 2.5) == 3
    assert cpus_allowed(2, 8.0) == 2
    assert cpus_allowed(8, None) == 8
    assert cpus_allowed(0, None) == 1


def test_own_cgroup_from_proc_self_cgroup() -> None:
    text = "12:cpu,cpuacct:/kubepods/pod1/abc\n4:memory:/kubepods/pod1/abc\n0::/\n"
    paths = own_cgroup_paths(text)
    assert paths["cpu"] == paths["cpuacct"] == "/kubepods/pod1/abc"
    assert paths[""] == "/"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_limit_reads_v2_then_v1_layouts(tmp_path: Path) -> None:
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/\n")
    v2 = tmp_path / "v2"
    _write(v2 / "cpu.max", "100000 100000\n")
    assert cpu_limit(v2, proc) == 1.0
    # cgroup v1 as a container sees it (its own cgroup mounted at the controller's root).
    v1 = tmp_path / "v1"
    _write(v1 / "cpu,cpuacct" / "cpu.cfs_quota_us", "200000\n")
    _write(v1 / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    proc.write_text("3:cpu,cpuacct:/kubepods/burstable/pod1/c1\n")
    assert cpu_limit(v1, proc) == 2.0
    # ... and as a process on the host sees it: the limit of its own cgroup directory.
    own = v1 / "cpu,cpuacct" / "kubepods" / "burstable" / "pod1" / "c1"
    _write(own / "cpu.cfs_quota_us", "50000\n")
    _write(own / "cpu.cfs_period_us", "100000\n")
    assert cpu_limit(v1, proc) == 0.5
    assert available_cpus(v1, proc) == 1
    # No limit anywhere: the cores.
    assert cpu_limit(tmp_path / "none", proc) is None
    unlimited = tmp_path / "unlimited"
    _write(unlimited / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(unlimited / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cpu_limit(unlimited, proc) is None


def test_this_machine_has_an_answer() -> None:
    assert available_cpus() >= 1
