"""Give the heap's free pages back to the system (glibc's ``malloc_trim``).

Why: glibc keeps freed memory for reuse, so after loading the models (the ONNX protobufs
parsed and checked on the way: ~60 MB) a process kept memory it no longer used, and in
the forkserver that loads them (picsource_worker.preload) every process forked from it
counted that in its own RSS too. Not after each image: the next image needs the same
~160 MB of bitmaps and activations again, and faulting them back in cost ~20% more CPU
per image (measured) for no lower peak.
"""

from __future__ import annotations

import contextlib
import ctypes


def release_memory() -> None:
    """Return free heap pages to the system; a no-op where libc is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
