"""Entry point: `kopf run -m picsource_operator.main --all-namespaces` (or `--namespace NS`).

Importing this module registers every handler. It also caps glibc's malloc arenas
at two: the operator is many threads of small allocations, and the default (eight
per core) costs tens of megabytes of fragmented resident memory with 100 galleries.
"""

import contextlib
import ctypes

from picsource_operator import handlers

_M_ARENA_MAX = -8
with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)

__all__ = ["handlers"]
