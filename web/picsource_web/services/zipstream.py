"""A zip of the owner's originals, streamed as it is written: never held in memory.

Why stored, not deflated: photos are already compressed, so deflate costs CPU for no
gain. Why these bounds: the selection is checked before the first byte goes out (at
most BULK_MAX_IDS images and ZIP_MAX_BYTES of originals, else a clear 413), one
original at a time is in memory (each at most the upload limit), a process streams at
most ZIP_STREAMS zips at once (others get 503 busy at once, not a queue), and a stream
stops at ZIP_MAX_SECONDS. Once the first byte is sent the status cannot change, so a
storage failure mid-way cuts the response short: the client sees an unfinished zip (its
central directory is missing), never a complete-looking one with files left out.
"""

from __future__ import annotations

import logging
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from picsource_web.services.errors import ServiceError

log = logging.getLogger(__name__)

#: Zips one web process streams at once (each holds a thread and one original in memory).
ZIP_STREAMS = 2
_SLOTS = threading.BoundedSemaphore(ZIP_STREAMS)
_EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)  # the zip format's first date


class SelectionTooLarge(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(413, "selection_too_large", message)


class ZipBusy(ServiceError):
    def __init__(self) -> None:
        super().__init__(503, "busy", f"{ZIP_STREAMS} downloads are being zipped already; "
                         "try again in a minute.")


@dataclass(frozen=True)
class ZipEntry:
    name: str
    when: datetime
    read: Callable[[], bytes]


class _Sink:
    """What zipfile writes into: bytes wait here until the generator hands them out."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def unique_names(names: Iterable[str]) -> list[str]:
    """The names with " (2)", " (3)"... before the extension where one repeats, so no
    file in the zip overwrites another when it is unpacked."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def check_size(docs: Iterable[Mapping[str, Any]], max_bytes: int) -> int:
    """The originals' total size; 413 past ``max_bytes`` (before anything is sent)."""
    total = sum(int(doc.get("bytes") or 0) for doc in docs)
    if total > max_bytes:
        raise SelectionTooLarge(f"The selection is {total / 2**20:.0f} MiB of originals; a zip holds at "
                                f"most {max_bytes / 2**20:.0f} MiB. Select fewer images.")
    return total


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    when = max(when if when.tzinfo else when.replace(tzinfo=UTC), _EARLIEST)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def reserve_stream() -> Callable[[], None]:
    """A streaming slot, or 503 busy at once. Returns its release, which is safe to call
    more than once (the WSGI server calls it when the response closes, however it ends)."""
    if not _SLOTS.acquire(blocking=False):
        raise ZipBusy()
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            _SLOTS.release()
    return release


def stream_zip(entries: Iterable[ZipEntry], max_seconds: float,
               clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """The zip's bytes, an original at a time, stopping at ``max_seconds``."""
    deadline = clock() + max_seconds
    sink = _Sink()
    try:
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:  # type: ignore[call-overload]
            for entry in entries:
                if clock() > deadline:
                    raise TimeoutError(f"zip stream passed its {max_seconds:.0f} s bound")
                info = zipfile.ZipInfo(entry.name, date_time=_zip_time(entry.when))
                with archive.open(info, "w") as member:
                    member.write(entry.read())
                yield sink.drain()
        yield sink.drain()
    except GeneratorExit:
        raise
    except Exception:
        log.exception("zip stream cut short")
        raise
