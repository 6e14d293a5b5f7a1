"""Give the heap's free pages back to the system (glibc's ``malloc_trim``).

Why: glibc keeps freed memory for reuse, so after loading the models (the ONNX protobufs
parsed and checked on the way) or analysing an image (its bitmap, the models'
activations), a process kept tens of MB it no longer used. In the forkserver that loads
the models (picsource_worker.preload), every process forked from it counted them in its
own RSS too. A trim costs about a millisecond.
"""

from __future__ import annotations

import contextlib
import ctypes


def release_memory() -> None:
    """Return free heap pages to the system; a no-op where libc is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
