"""A second level under the listing caches: entries a pod's gunicorn workers share, as
files in one directory the gunicorn master made (on the pod's temporary filesystem).

Why: every gunicorn worker had a listing cache of its own, so a page nobody had asked for
was computed once per worker that was asked for it. For a ranked search that is the
costly part of the whole tier: ~30 ms of a web process's CPU (the query's embedding, the
ranking, ~40 signed URLs, the tiles' HTML) and ~20 ms of MongoDB's for its 48 documents,
against ~3 ms for a page served from a cache. Under bench_semantic's Zipf mix (many
rare queries) the pages computed were the slow tail. Through this level, the worker that
computes a page leaves it for its siblings, which read one small file instead.

Why files and not shared memory or a server: the master makes the directory before it
forks, every worker writes each entry whole (a temporary file, then an atomic rename), and
a reader gets either the old file or the new one, never half of either; a worker killed
mid-write leaves a temporary file the next prune removes. Nothing here can block: a
missing, full or read-only directory is a miss, never a failed request.

Correctness is the listing cache's: keys hold the listing stamps they were built under
(picsource_core.stamps), so an entry is retired by the next write like a process's own,
and the time limit holds here too (each file carries its expiry). The directory's size is
bounded by ``max_bytes``: every PRUNE_EVERY writes, a worker removes expired files, then
the oldest, until the rest fit in three quarters of it (one directory listing; entries
all live ``seconds``, so a file's age says whether it expired).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

V = TypeVar("V")

log = logging.getLogger(__name__)

#: A file: its expiry (wall-clock seconds, shared by the processes) and its key's length,
#: then the key (UTF-8, so a hash collision reads as a miss), then the payload.
_HEADER = struct.Struct("<dI")
#: Writes by one process between two prunes of the directory.
PRUNE_EVERY = 64
#: A temporary file older than this was left by a worker that died mid-write.
STALE_TEMPORARY_SECONDS = 60.0
_SUFFIX = ".entry"


class SharedEntries:
    """Byte payloads by string key, each kept ``seconds``, in ``directory``."""

    def __init__(self, directory: Path, max_bytes: int, seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.clock = clock
        self._writes = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + _SUFFIX)

    def get(self, key: str) -> tuple[bytes, float] | None:
        """The payload under ``key`` and the seconds it has left, or None."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        if len(data) < _HEADER.size:
            return None
        expires, key_length = _HEADER.unpack_from(data)
        start = _HEADER.size + key_length
        if data[_HEADER.size:start] != key.encode("utf-8"):
            return None
        left = expires - self.clock()
        return (data[start:], left) if left > 0 else None

    def put(self, key: str, payload: bytes, seconds: float | None = None) -> None:
        """Leave ``payload`` under ``key`` for ``seconds`` (at most, and by default, the
        directory's); a failure only loses the entry."""
        encoded = key.encode("utf-8")
        path = self._path(key)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(temporary, "wb") as out:
                lifetime = self.seconds if seconds is None else min(seconds, self.seconds)
                out.write(_HEADER.pack(self.clock() + lifetime, len(encoded)))
                out.write(encoded)
                out.write(payload)
            os.replace(temporary, path)
        except OSError as exc:
            log.debug("could not share a cached listing: %s", exc)
            temporary.unlink(missing_ok=True)
            return
        with self._lock:
            self._writes += 1
            due = self._writes % PRUNE_EVERY == 0
        if due:
            self.prune()

    def prune(self) -> int:
        """Remove expired entries and stale temporary files, then the oldest entries until
        the rest take at most three quarters of ``max_bytes``; returns how many went."""
        now = self.clock()
        entries: list[tuple[float, int, str]] = []
        removed = 0
        try:
            with os.scandir(self.directory) as found:
                for item in found:
                    try:
                        stat = item.stat()
                    except OSError:
                        continue
                    if item.name.endswith(_SUFFIX):
                        entries.append((stat.st_mtime, stat.st_size, item.path))
                    elif item.name.endswith(".tmp") and stat.st_mtime < now - STALE_TEMPORARY_SECONDS:
                        removed += _remove(item.path)
        except OSError:
            return removed
        entries.sort()
        total = sum(size for _mtime, size, _path in entries)
        for mtime, size, path in entries:  # oldest first
            if total <= self.max_bytes * 3 // 4 and mtime > now - self.seconds:
                break
            removed += _remove(path)
            total -= size
        return removed


def clear(directory: Path) -> int:
    """Remove the entries (and temporary files) a previous run left in ``directory``, and
    nothing else: an operator may name a directory that holds other files."""
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    return sum(_remove(os.path.join(directory, name)) for name in names
               if name.endswith(_SUFFIX) or (_SUFFIX + ".") in name and name.endswith(".tmp"))


def _remove(path: str) -> int:
    try:
        os.unlink(path)
    except OSError:
        return 0
    return 1


@dataclass(frozen=True)
class SharedLevel(Generic[V]):
    """How one listing cache's values go through the shared entries: a namespace for its
    keys (which are written as their ``repr``: the same in every worker forked from one
    master, which share the hash seed) and the codec of its values."""

    entries: SharedEntries
    namespace: str
    encode: Callable[[V], bytes]
    decode: Callable[[bytes], V]

    def key(self, key: object) -> str:
        return f"{self.namespace}:{key!r}"

    def get(self, key: object) -> tuple[V, float] | None:
        found = self.entries.get(self.key(key))
        if found is None:
            return None
        payload, left = found
        try:
            return self.decode(payload), left
        except Exception:  # noqa: BLE001 - an entry that does not decode is a miss
            log.warning("a shared cache entry did not decode", exc_info=True)
            return None

    def put(self, key: object, value: V, seconds: float | None = None) -> None:
        self.entries.put(self.key(key), self.encode(value), seconds)


def same_bytes(value: bytes) -> bytes:
    """The codec of a cache whose values are bytes already (the rendered fragments)."""
    return value
