"""The progress line (files, bytes, rate, ETA) on stderr, and the final summary.

Why by hand: no third-party dependency (tqdm) for one line. On a terminal the line is
redrawn in place (``\\r``) at most ten times a second; when stderr is a file or a pipe
(a cron job, CI) a plain line is written at most every ``log_every`` seconds, so logs
stay readable. Counters are updated from the upload threads under one lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from picsource_web.importer.albums import AlbumTarget, summary_line


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Tally:
    """What happened to every file; ``failed`` and ``skipped`` keep (file, reason)."""

    uploaded: int = 0
    uploaded_bytes: int = 0
    would_upload: int = 0
    duplicates: int = 0
    excluded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ready: int = 0
    analysis_failed: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    warnings: list[str] = field(default_factory=list)
    album: AlbumTarget | None = None


class Progress:
    """One phase's progress line (hashing, uploading): call ``advance`` per file."""

    def __init__(self, out: TextIO, *, interactive: bool, log_every: float = 5.0) -> None:
        self.out = out
        self.interactive = interactive
        self.log_every = log_every
        self.lock = threading.Lock()
        self._phase, self._files, self._bytes = "", 0, 0
        self._done_files = self._done_bytes = 0
        self._started = self._last = 0.0
        self._drawn = False
        self._retry_why, self._retry_at = "", 0.0

    def start(self, phase: str, files: int, total_bytes: int) -> None:
        with self.lock:
            self._phase, self._files, self._bytes = phase, files, total_bytes
            self._done_files = self._done_bytes = 0
            self._started = time.monotonic()
            self._last = 0.0

    def advance(self, nbytes: int) -> None:
        with self.lock:
            self._done_files += 1
            self._done_bytes += nbytes
            now = time.monotonic()
            if now - self._last >= (0.1 if self.interactive else self.log_every):
                self._last = now
                self._draw(now)

    def finish(self) -> None:
        with self.lock:
            if self._files:
                self._draw(time.monotonic())
            if self.interactive and self._drawn:
                self.out.write("\n")
            self._drawn = False
            self.out.flush()

    def message(self, text: str) -> None:
        """A line of its own (a retry, a warning), not overwritten by the progress line."""
        with self.lock:
            if self.interactive and self._drawn:
                self.out.write("\r\x1b[K")
            self.out.write(text + "\n")
            self.out.flush()
            self._drawn = False

    def retrying(self, why: str, delay: float) -> None:
        """A retry notice: the first of an outage, a changed reason, then at most one every
        ``log_every`` seconds (``jobs`` threads retrying at once would flood the log)."""
        with self.lock:
            now = time.monotonic()
            if why == self._retry_why and now - self._retry_at < max(self.log_every, 1.0):
                return
            self._retry_why, self._retry_at = why, now
        self.message(f"retrying in {delay:.1f} s: {why}")

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate_files, rate_bytes = self._done_files / elapsed, self._done_bytes / elapsed
        left = self._bytes - self._done_bytes
        eta = clock(left / rate_bytes) if rate_bytes > 0 and self._done_files else "?"
        return (f"{self._phase} {self._done_files}/{self._files} files · "
                f"{human_bytes(self._done_bytes)}/{human_bytes(self._bytes)} · "
                f"{rate_files:.1f} files/s · {human_bytes(rate_bytes)}/s · ETA {eta}")

    def _draw(self, now: float) -> None:
        text = self.line(now)
        self.out.write(("\r\x1b[K" + text) if self.interactive else text + "\n")
        self.out.flush()
        self._drawn = True


def summary(tally: Tally, *, dry_run: bool, waited: bool) -> list[str]:
    """The summary lines: counts first, then every failure with its reason."""
    lines = [f"would upload: {tally.would_upload}" if dry_run
             else f"uploaded: {tally.uploaded} ({human_bytes(tally.uploaded_bytes)})",
             f"duplicates: {tally.duplicates}",
             f"skipped (unsupported): {len(tally.skipped)}"]
    if tally.excluded:
        lines.append(f"excluded: {tally.excluded}")
    lines.append(f"failed: {len(tally.failed)}")
    if tally.album is not None:
        lines.append(summary_line(tally.album, dry_run=dry_run))
    if waited:
        lines.append(f"analysis: {tally.ready} ready, {len(tally.analysis_failed)} failed, "
                     f"{tally.pending} not finished")
    for reason, count in sorted(Counter(r for _, r in tally.skipped).items()):
        lines.append(f"  skipped {count} × {reason}")
    lines += [f"  failed {name}: {reason}" for name, reason in sorted(tally.failed)]
    lines += [f"  analysis failed {name}: {reason}" for name, reason in sorted(tally.analysis_failed)]
    lines += [f"  warning {text}" for text in tally.warnings]
    return lines
