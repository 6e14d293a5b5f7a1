"""Which files on disk are candidates, by extension and by their first bytes.

Why both: the extension keeps a walk over a home folder from opening every file, and
the magic bytes catch a ``notes.txt`` renamed ``notes.jpg`` before any upload. The server
still decides by full decode (services/validation.py); a file that passes here and is
refused there is a failure with the server's reason, never a silent skip.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from picsource_core.image_formats import EXTENSIONS, sniff_bmff

#: Extensions of the formats the web tier accepts (picsource_core.image_formats: JPEG, PNG,
#: WebP, GIF, AVIF and HEIC/HEIF; the server answers 415 for one its build cannot decode).
IMAGE_EXTENSIONS = frozenset(ext for exts in EXTENSIONS.values() for ext in exts)
_CHUNK = 1024 * 1024


def sniff(head: bytes) -> str | None:
    """The image format named by a file's first 16 bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return sniff_bmff(head)


@dataclass(frozen=True)
class Candidate:
    """A file found by the walk: ``rel`` is its path under the root, for messages."""

    path: Path
    rel: str
    size: int


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    """Whether a path (relative, with '/') or its last part matches one --exclude glob."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(name, pat) for pat in patterns)


def walk(roots: Iterable[Path], patterns: Sequence[str]) -> Iterator[tuple[Candidate, bool]]:
    """Every regular file under ``roots`` in a stable order, with whether it is excluded
    (its own path or a folder above it matches), so the summary can count what was left
    out. Symlinked folders are not followed (no loops). A root may also be a single file.
    """
    for root in roots:
        if root.is_file():
            yield Candidate(root, root.name, root.stat().st_size), excluded(root.name, patterns)
            continue
        left_out: set[str] = set()
        for folder, dirs, names in os.walk(root, followlinks=False):
            base = Path(folder)
            prefix = base.relative_to(root).as_posix()
            inherited = prefix in left_out
            prefix = "" if prefix == "." else prefix + "/"
            dirs.sort()
            left_out.update(prefix + d for d in dirs
                            if inherited or excluded(prefix + d, patterns))
            for name in sorted(names):
                path = base / name
                try:
                    if not path.is_file():
                        continue
                    size = path.stat().st_size
                except OSError:
                    continue
                rel = prefix + name
                yield Candidate(path, rel, size), inherited or excluded(rel, patterns)


def classify(candidate: Candidate) -> str | None:
    """None when the file looks like an image we can send, else why it is skipped."""
    if candidate.path.suffix.lower() not in IMAGE_EXTENSIONS:
        return "not an image file (extension)"
    if candidate.size == 0:
        return "empty file"
    try:
        with candidate.path.open("rb") as fh:
            head = fh.read(16)
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    if sniff(head) is None:
        return "content is not a JPEG, PNG, WebP, GIF, HEIC or AVIF image"
    return None


def sha256_of(path: Path) -> str:
    """The file's SHA-256 in hex, read in 1 MiB chunks (hashlib releases the GIL)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
