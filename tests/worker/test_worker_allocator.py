"""The analysis processes' allocator (picsource_worker.allocator): chosen from
WORKER_ALLOCATOR, found on disk (Debian's libjemalloc2, installed by `make tools`), and
really loaded into the forkserver and the analysis processes of a running worker, while
the supervisor keeps glibc."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from worker_services import NO_MODELS, WorkerProcess

from picsource_core.config import ConfigurationError
from picsource_worker.allocator import (
    DEFAULT_MALLOC_CONF,
    DEFAULT_PILLOW_BLOCKS_MAX,
    Allocator,
    find_jemalloc,
)
from tests.support.waiting import wait_until

INSTALL = "libjemalloc2 is not installed: apt-get install libjemalloc2 (make tools)"


def _jemalloc() -> str:
    path = find_jemalloc()
    assert path is not None, INSTALL
    return path


def test_auto_finds_debians_jemalloc_and_glibc_asks_for_nothing() -> None:
    assert Allocator.from_env({}) == Allocator("jemalloc", _jemalloc())
    assert Allocator.from_env({"WORKER_ALLOCATOR": "JEMALLOC"}).name == "jemalloc"
    glibc = Allocator.from_env({"WORKER_ALLOCATOR": "glibc"})
    assert glibc == Allocator() and glibc.environment({"LD_PRELOAD": "x.so"}) == {}


def test_auto_falls_back_to_glibc_where_the_library_is_absent_and_jemalloc_insists(tmp_path: Path) -> None:
    nowhere = (str(tmp_path / "*" / "libjemalloc.so.2"),)
    assert Allocator.from_env({}, search=nowhere) == Allocator()
    with pytest.raises(ConfigurationError, match="WORKER_ALLOCATOR .*libjemalloc2"):
        Allocator.from_env({"WORKER_ALLOCATOR": "jemalloc"}, search=nowhere)
    # found by its glob (multiarch folders), or named outright
    (tmp_path / "aarch64-linux-gnu").mkdir()
    shutil.copy(_jemalloc(), tmp_path / "aarch64-linux-gnu" / "libjemalloc.so.2")
    found = Allocator.from_env({"WORKER_ALLOCATOR": "jemalloc"}, search=nowhere)
    assert found.path == str(tmp_path / "aarch64-linux-gnu" / "libjemalloc.so.2")
    named = Allocator.from_env({"WORKER_JEMALLOC_PATH": found.path}, search=())
    assert named == found


def test_the_environment_preloads_jemalloc_before_others_and_keeps_given_settings() -> None:
    allocator = Allocator("jemalloc", "/lib/libjemalloc.so.2")
    ours = {"LD_PRELOAD": "/lib/libjemalloc.so.2", "MALLOC_CONF": DEFAULT_MALLOC_CONF,
            "PILLOW_BLOCKS_MAX": DEFAULT_PILLOW_BLOCKS_MAX}  # fmt: skip
    assert allocator.environment({}) == ours
    given = {"LD_PRELOAD": "/a.so /lib/libjemalloc.so.2", "MALLOC_CONF": "narenas:1",
             "PILLOW_BLOCKS_MAX": "0"}  # fmt: skip
    assert allocator.environment(given) == {"LD_PRELOAD": "/lib/libjemalloc.so.2 /a.so"}
    environ = {"PATH": "/bin"}
    allocator.apply(environ)
    assert environ == {"PATH": "/bin", **ours}


def _maps(pid: int | str) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _threads(pid: str) -> list[str]:
    return [p.read_text().strip() for p in Path(f"/proc/{pid}/task").glob("*/comm")]


def _analysis_pids(log: str) -> list[str]:
    return re.findall(r"started analysis process \d+ \(pid (\d+)\)", log)


@pytest.mark.parametrize("choice", ["auto", "glibc"])
def test_a_running_worker_loads_the_allocator_into_its_analysis_processes_only(
    choice: str, core_env: dict[str, str], tmp_path: Path
) -> None:
    jemalloc = Path(_jemalloc()).resolve()
    with WorkerProcess({**core_env, **NO_MODELS}, tmp_path, f"alloc-{choice}",
                       WORKER_ALLOCATOR=choice) as worker:  # fmt: skip
        wait_until(lambda: _analysis_pids(worker.log()), 30, worker.log())
        pid = _analysis_pids(worker.log())[0]
        analysis = _maps(pid)
        if choice == "auto":  # jemalloc's purging thread, which the fork stopped, runs again
            wait_until(lambda: "jemalloc_bg_thd" in _threads(pid), 30, worker.log())
        else:
            assert "jemalloc_bg_thd" not in _threads(pid)
        assert worker.proc is not None
        supervisor = _maps(worker.proc.pid)
        log = worker.log()
    assert (str(jemalloc) in analysis) is (choice == "auto"), log
    assert str(jemalloc) not in supervisor
    expected = "jemalloc (" if choice == "auto" else "glibc malloc"
    assert f"analysis processes allocate with {expected}" in log


PURGE_PROBE = """
import sys
from picsource_worker.memory import release_memory
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
blocks = [bytearray(1 << 20) for _ in range(200)]  # 200 MB, touched (bytearray zero-fills)
del blocks
freed = rss()
release_memory()
print(freed, rss())
"""


def test_release_memory_hands_back_what_jemalloc_keeps(tmp_path: Path) -> None:
    # With decay off, jemalloc keeps every freed page until it is told to purge: the
    # forkserver's children would inherit what loading the models parsed and dropped.
    env = {"PYTHONPATH": os.pathsep.join(sys.path), "LD_PRELOAD": _jemalloc(),
           "MALLOC_CONF": "background_thread:false,dirty_decay_ms:-1,muzzy_decay_ms:-1"}
    out = subprocess.run([sys.executable, "-c", PURGE_PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    freed, released = (int(v) for v in out.split())
    assert freed - released > 150, out
