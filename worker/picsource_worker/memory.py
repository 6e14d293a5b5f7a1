"""Give the heap's free pages back to the system (glibc's ``malloc_trim``, jemalloc's purge).

Why: an allocator keeps freed memory for reuse, so after loading the models (the ONNX
protobufs parsed, rewritten and checked on the way: ~60 MB) a process kept memory it no
longer used, and in the forkserver that loads them (picsource_worker.preload) every
process forked from it counted that in its own RSS too. jemalloc (picsource_worker.
allocator) would return it only after its decay time, by which the fork has happened:
the children keep the pages the forkserver later gives back (a purge right after loading
the face and OCR models, rewritten by picsource_worker.models.graph_rewrites, returned
~20 MB that ``malloc_trim`` left under jemalloc). Not after each image: the next
image needs the same ~160 MB of bitmaps and activations again, and faulting them back in
cost ~20% more CPU per image (measured) for no lower peak.
"""

from __future__ import annotations

import contextlib
import ctypes

from picsource_worker.allocator import purge_unused_pages


def release_memory() -> None:
    """Return free heap pages to the system: glibc's, and jemalloc's where it is loaded."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    purge_unused_pages()
