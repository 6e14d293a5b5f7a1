"""Hand an analysis process's pHash copies (duplicates.OwnerHashes) to its successor.

Why: each analysis process keeps the hashes of the owners it met and reads only what was
analysed since (picsource_worker.duplicates), but a fresh process starts empty, and its
first look reads every image of the owner. Processes are recycled every few dozen jobs
(picsource_worker.recycle), so during an import of 10,000 photos that was a read of up to
10,000 image documents (0.7 s of the database's time) about every 20 images. A process
now saves its copies when it recycles, and a fresh one starts from the newest saved copy
and reads only what was analysed after it.

Safe by construction: a copy holds the hashes read up to its ``read_until``, so the
successor's first read (from ``read_until`` less the overlap) misses nothing; a stale or
foreign pair never makes a link, because candidates are read again by id (with their
owner) before linking. The folder belongs to one supervisor (a temporary folder it makes
and removes), so copies never cross galleries. A copy that cannot be read is ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_worker.duplicates import OwnerHashes

log = logging.getLogger(__name__)
SUFFIX = ".npz"


class HashSnapshots:
    """Saved copies of OwnerHashes, one file per owner in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, owner_id: Any) -> Path | None:
        """Where the owner's copy lives; None for an owner id that is not an ObjectId."""
        return self.folder / f"{owner_id}{SUFFIX}" if isinstance(owner_id, ObjectId) else None

    def save(self, owner_id: Any, known: OwnerHashes) -> bool:
        """Write the copy (whole or not at all: a temporary file renamed into place)."""
        target = self.path(owner_id)
        if target is None or known.read_until is None:
            return False
        ids, hashes = known.arrays()
        try:
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        except OSError as exc:  # a full or missing /tmp: the successor reads from the database
            log.warning("could not save the pHash copy of %s: %s", owner_id, exc)
            return False
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, ids=ids, hashes=hashes,
                         read_until=np.array([known.read_until.timestamp()], dtype=np.float64))
            os.replace(temporary, target)
        except OSError as exc:
            log.warning("could not save the pHash copy of %s: %s", owner_id, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return False
        return True

    def load(self, owner_id: Any) -> OwnerHashes | None:
        """The owner's saved copy, or None when there is none or it cannot be read."""
        source = self.path(owner_id)
        if source is None or not source.exists():
            return None
        try:
            with np.load(source, allow_pickle=False) as saved:
                ids, hashes, read_until = saved["ids"], saved["hashes"], saved["read_until"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("ignoring an unreadable pHash copy %s: %s", source.name, exc)
            return None
        if (ids.dtype != np.uint8 or ids.ndim != 2 or ids.shape[1] != 12 or hashes.dtype != np.uint64
                or hashes.shape != (ids.shape[0],) or read_until.shape != (1,)):
            log.warning("ignoring a pHash copy of the wrong shape: %s", source.name)
            return None
        return OwnerHashes(ids=ids, hashes=hashes,
                           read_until=datetime.fromtimestamp(float(read_until[0]), UTC))

