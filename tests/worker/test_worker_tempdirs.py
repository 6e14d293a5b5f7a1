"""The supervisor's temporary folders: named by its pid, and those of a supervisor that
died without cleaning up (SIGKILL, OOM) removed by the next one's start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from picsource_worker import tempdirs

PREFIX = "picsource-test-"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its pid names no process now
    return proc.pid


def test_a_new_folder_carries_the_pid_and_the_dead_s_folders_go(tmp_path: Path) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f"{PREFIX}{_dead_pid()}-abc"
        mine_before_restart = tmp_path / f"{PREFIX}{os.getpid()}-old"  # a container restart: same pid
        living = tmp_path / f"{PREFIX}{alive.pid}-xyz"
        other = tmp_path / "picsource-other-1-abc"
        loose_file = tmp_path / f"{PREFIX}1-file"
        for folder in (dead, mine_before_restart, living, other):
            folder.mkdir()
            (folder / "copy.npz").write_bytes(b"x")
        loose_file.write_text("not a folder")

        made = Path(tempdirs.make(PREFIX, str(tmp_path)))

        assert made.name.startswith(f"{PREFIX}{os.getpid()}-") and made.is_dir()
        assert not dead.exists() and not mine_before_restart.exists()
        assert living.is_dir() and other.is_dir() and loose_file.is_file()
        assert tempdirs.sweep(PREFIX, str(tmp_path)) == [str(made)]  # only ever the dead's and our own
    finally:
        alive.kill()
        alive.wait()


def test_a_dead_child_not_yet_reaped_counts_as_gone(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
        folder = tmp_path / f"{PREFIX}{child.pid}-abc"
        folder.mkdir()
        assert tempdirs.sweep(PREFIX, str(tmp_path)) == [str(folder)] and not folder.exists()
    finally:
        child.wait()
