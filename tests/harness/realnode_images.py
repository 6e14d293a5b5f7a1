"""Images for the real node's containerd: every archive in the images folder, imported
once per set of archives and then reused by hard links.

Why: `ctr images import` of our archives (about 2 GB with the worker's models) takes a
minute or more, on every node start. The content store is content-addressed and never
rewritten in place, so the result of one import (blobs plus containerd's metadata
database) is kept under ~/.cache/picsource/containerd-images/<key>, where the key
hashes the archives' names, sizes and mtimes. A node then starts with hard links to
those blobs and a copy of the small database: about a second. Images are imported
without unpacking; the CRI plugin unpacks an image the first time a pod uses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.harness import netns
from tests.harness import realnode_config as cfg
from tests.harness.procs import ManagedProcess, StartupError
from tests.harness.realnode_tools import images_dir
from tests.harness.tools import tools_dir

CONTENT = "io.containerd.content.v1.content"
METADATA = "io.containerd.metadata.v1.bolt"


def archives() -> list[Path]:
    return sorted(images_dir().glob("*.tar"))


def archives_key(paths: list[Path]) -> str:
    """Changes whenever an archive is added, removed or rebuilt."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return tools_dir().parent / "containerd-images"


def _ctr_import(anchor_pid: int, socket: Path, archive: Path) -> None:
    argv = ["/usr/bin/ctr", f"--address={socket}", "--namespace=k8s.io"]
    argv += ["images", "import", "--no-unpack", str(archive)]
    result = subprocess.run(
        netns.enter_argv(anchor_pid, argv), capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise StartupError(f"ctr images import {archive} failed: {result.stderr.strip()}")


def build_cache(anchor_pid: int, work: Path, paths: list[Path], key: str) -> Path:
    """Import paths with a short-lived containerd, keep its root as the cache for key."""
    target = cache_root() / key
    tmp = cache_root() / f"{key}.tmp-{time.monotonic_ns()}"
    socket = work / "import.sock"
    config = work / "import.toml"
    config.write_text(cfg.containerd_config(tmp, work / "import-state", socket, work / "none"))
    daemon = ManagedProcess(
        "containerd-import",
        netns.enter_argv(anchor_pid, ["/usr/bin/containerd", f"--config={config}"]),
        work / "containerd-import.log",
    )
    daemon.start()
    try:
        daemon.wait_ready(socket.exists, 30, "listening")
        for archive in paths:
            _ctr_import(anchor_pid, socket, archive)
    finally:
        daemon.stop()
    shutil.rmtree(work / "import-state", ignore_errors=True)
    _prune(keep=key)
    try:
        tmp.rename(target)
    except OSError:  # another session finished the same key first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _prune(keep: str, quiet_seconds: float = 3600.0) -> None:
    """Remove other image sets (nodes hold hard links, not references), except any touched
    in the last hour: another session may be importing or linking it right now."""
    now = time.time()
    for old in cache_root().iterdir():
        if old.name.split(".tmp-")[0] != keep and now - old.stat().st_mtime > quiet_seconds:
            shutil.rmtree(old, ignore_errors=True)


def populate(root: Path, anchor_pid: int, work: Path) -> float:
    """Fill containerd's root with every image archive before containerd starts.

    Returns the seconds it took (a cold import, or hard links to the cache).
    """
    started = time.monotonic()
    paths = archives()
    key = archives_key(paths)
    cached = cache_root() / key
    if not (cached / METADATA / "meta.db").exists():
        cache_root().mkdir(parents=True, exist_ok=True)
        cached = build_cache(anchor_pid, work, paths, key)
    os.utime(cached)  # in use: _prune leaves it alone for a while
    root.mkdir(parents=True, exist_ok=True)
    link = subprocess.run(
        ["cp", "-al", str(cached / CONTENT), str(root / CONTENT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if link.returncode != 0:  # another filesystem: copy instead
        shutil.copytree(cached / CONTENT, root / CONTENT, dirs_exist_ok=True)
    (root / METADATA).mkdir(exist_ok=True)
    shutil.copy2(cached / METADATA / "meta.db", root / METADATA / "meta.db")
    return time.monotonic() - started
