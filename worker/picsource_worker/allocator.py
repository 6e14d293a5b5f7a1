"""The memory allocator of the analysis processes (WORKER_ALLOCATOR): jemalloc when present.

Why: each 12-megapixel image allocates ~160 MB of bitmaps and model activations of varying
sizes. glibc's malloc keeps the freed pieces scattered through its heap and never hands
most of them back, so an analysis process peaked at 357-370 MB over a long run (the goal
is 350; picsource_worker.recycle), and returning them after each image (``malloc_trim``)
cost 10-20 % more CPU. jemalloc sorts allocations by size class and gives unused pages
back on a timer: with DEFAULT_MALLOC_CONF a process peaked at 332-335 MB over 48-144
images (bench_recycle's corpus, flat from the 8th), for 21-28 ms more system CPU per image
than glibc (pages given back are faulted in again), ~10 % more CPU in all (242-267 against
216-239 ms, side by side on a shared machine). Where CPU matters more than the 350 MB,
MALLOC_CONF=oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1 (never give back)
cost 2-7 ms and peaked at 341-353 MB; WORKER_ALLOCATOR=glibc costs nothing. mimalloc
(Debian's 2.0.9) peaked at 349-350 MB, no better than glibc. Figures with their commands:
the README's performance table.

How: the supervisor puts the library in LD_PRELOAD (and MALLOC_CONF, unless it is set
already) in its own environment before its forkserver starts (``apply``). The forkserver
is a new program, so the dynamic loader loads jemalloc into it before anything allocates,
and every analysis process forked from it inherits it; the supervisor, which allocates
little, keeps glibc. The library comes from Debian's libjemalloc2 (the worker image copies
it in; ``.ci/tools.sh`` installs it for the tests and benches). ``auto`` (the default)
falls back to glibc where it is absent; ``jemalloc`` insists, so a missing library stops
start-up with one line naming the variable, as any bad setting does.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from picsource_core.config import ConfigurationError, Env

CHOICES = ("auto", "jemalloc", "glibc")
#: Where Debian's libjemalloc2 puts the library (per architecture), and where the worker
#: image copies it.
JEMALLOC_PATHS = ("/usr/local/lib/libjemalloc.so.2", "/usr/lib/*-linux-gnu/libjemalloc.so.2",
                  "/usr/lib/libjemalloc.so.2")  # fmt: skip
#: jemalloc's settings unless MALLOC_CONF is given. Measured on bench_recycle's corpus (one
#: slot, 96 images, forked as the worker forks; CPU beside glibc's, whose ~2 ms of system
#: time per image is its page faults): jemalloc's defaults peaked at 330 MB but re-faulted
#: ~37 MB a image (9,400 faults, +26 ms system CPU), because objects of 8 MB and more (every
#: bitmap) go to an arena that purges at once. oversize_threshold:0 keeps them in the
#: ordinary arenas; dirty pages then go back over about dirty_decay_ms (2 s; 10 s and 30 s
#: measured the same: 7,500-9,800 faults a image) and straight away, not through a second
#: "muzzy" stage. Purging never (dirty_decay_ms:-1) cost ~5 ms but peaked at 341-353 MB.
#: background_thread purges off the analysis thread; jemalloc stops it in a fork's child, so
#: each analysis process starts it again (``restart_background_purging``).
DEFAULT_MALLOC_CONF = "background_thread:true,oversize_threshold:0,dirty_decay_ms:2000,muzzy_decay_ms:0"
#: Freed 16 MB image blocks Pillow keeps for its next images, unless PILLOW_BLOCKS_MAX is
#: given: Pillow allocates new images zeroed (calloc), which jemalloc does on a reused block
#: by dropping its pages, so every bitmap was faulted in again (10,200 faults a image
#: instead of 13,500-14,300, -10 ms of system CPU with the settings above; same peak).
DEFAULT_PILLOW_BLOCKS_MAX = "8"


@dataclass(frozen=True)
class Allocator:
    """The allocator chosen for the analysis processes: ``name`` and, for jemalloc, its
    shared library."""

    name: str = "glibc"
    path: str = ""

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The variables to add to ``environ`` for a program started from it to use this
        allocator (none for glibc). LD_PRELOAD keeps what it held; MALLOC_CONF and
        PILLOW_BLOCKS_MAX set by whoever runs the worker win over ours."""
        if self.name != "jemalloc":
            return {}
        preload = environ.get("LD_PRELOAD", "").split()
        changes = {"LD_PRELOAD": " ".join([self.path, *(p for p in preload if p != self.path)])}
        if not environ.get("MALLOC_CONF", "").strip():
            changes["MALLOC_CONF"] = DEFAULT_MALLOC_CONF
        if not environ.get("PILLOW_BLOCKS_MAX", "").strip():
            changes["PILLOW_BLOCKS_MAX"] = DEFAULT_PILLOW_BLOCKS_MAX
        return changes

    def apply(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Set the variables in this process's environment (``os.environ``), for the
        programs it starts afterwards: the supervisor's forkserver."""
        target = os.environ if environ is None else environ
        target.update(self.environment(target))

    def describe(self, environ: Mapping[str, str]) -> str:
        if self.name != "jemalloc":
            return "glibc malloc"
        return f"jemalloc ({self.path}, MALLOC_CONF={environ.get('MALLOC_CONF', '')})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], search: Sequence[str] = JEMALLOC_PATHS) -> Allocator:
        """WORKER_ALLOCATOR: ``auto`` (jemalloc where the library is found at ``search``,
        else glibc), ``jemalloc`` (required: a ConfigurationError if absent) or ``glibc``.
        WORKER_JEMALLOC_PATH names the library where it is not in a standard place."""
        env = Env(environ)
        choice = env.choice("WORKER_ALLOCATOR", CHOICES, "auto")
        if choice == "glibc":
            return cls()
        given = env.optional_str("WORKER_JEMALLOC_PATH")
        path = find_jemalloc((given,) if given else search)
        if path is None and given:
            raise ConfigurationError("WORKER_JEMALLOC_PATH", f"names no file: {given!r}")
        if path is None and choice == "jemalloc":
            raise ConfigurationError(
                "WORKER_ALLOCATOR",
                "is jemalloc but no libjemalloc.so.2 was found (install Debian's libjemalloc2, "
                "or set WORKER_JEMALLOC_PATH, or WORKER_ALLOCATOR=auto)",
            )
        return cls("jemalloc", path) if path else cls()


def find_jemalloc(patterns: Sequence[str] = JEMALLOC_PATHS) -> str | None:
    """The first jemalloc shared library found at ``patterns`` (globs), or None."""
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return path
    return None


#: jemalloc's "every arena" index (MALLCTL_ARENAS_ALL) in its control names.
_ALL_ARENAS = 4096


def _mallctl() -> Any | None:
    """jemalloc's control function in this process, or None where jemalloc is not loaded."""
    return getattr(ctypes.CDLL(None), "mallctl", None)


def restart_background_purging() -> bool:
    """In an analysis process forked with jemalloc, start its background purging thread
    again (jemalloc stops background threads in a fork's child; without one, purging runs
    inside allocations, on the analysis thread). False where jemalloc is not loaded."""
    mallctl = _mallctl()
    if mallctl is None:
        return False
    on = ctypes.c_bool(True)
    return bool(mallctl(b"background_thread", None, None, ctypes.byref(on), ctypes.c_size_t(ctypes.sizeof(on))) == 0)


def purge_unused_pages() -> bool:
    """Give every jemalloc arena's unused pages back now, not after their decay time
    (picsource_worker.memory). False where jemalloc is not loaded."""
    mallctl = _mallctl()
    if mallctl is None:
        return False
    return bool(mallctl(f"arena.{_ALL_ARENAS}.purge".encode(), None, None, None, ctypes.c_size_t(0)) == 0)
