"""The supervisor's temporary folders, named by its pid, and the sweep of those a dead
supervisor left behind.

Why: the supervisor removes its folders (the metrics files of its processes, the pHash
copies they hand on) when it stops, but a SIGKILL or an OOM kill runs no clean-up, and in
a pod /tmp is an emptyDir that outlives the container: every crash would leave its
folders there for good. So each folder carries the pid of the supervisor that made it,
and a supervisor starting up removes those of supervisors that are gone. Its own pid
counts as gone too: in a container the supervisor gets the same pid after each restart,
and at start-up it has made no folder yet.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile


def make(prefix: str, root: str | None = None) -> str:
    """A new private folder ``<prefix><pid>-<random>``, after sweeping the dead's."""
    sweep(prefix, root)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root)


def sweep(prefix: str, root: str | None = None) -> list[str]:
    """Remove the folders ``<prefix><pid>-*`` of supervisors no longer running (and of this
    process's pid, see the module docstring); returns the paths removed."""
    pattern = re.compile(re.escape(prefix) + r"([0-9]+)-[^/]*")
    removed = []
    with os.scandir(root or tempfile.gettempdir()) as entries:
        for entry in entries:
            found = pattern.fullmatch(entry.name)
            if found is None or not entry.is_dir(follow_symlinks=False):
                continue
            pid = int(found.group(1))
            if pid == os.getpid() or not _running(pid):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it is running
        return True
    with contextlib.suppress(OSError):  # a zombie (exited, not reaped) is gone for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    return True
