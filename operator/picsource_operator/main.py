"""Entry point: `kopf run -m picsource_operator.main --all-namespaces` (or `--namespace NS`).

Importing this module registers every handler. It also makes sure the process has a
user name (`identity.ensure_user`): kopf derives its peering identity from
`getpass.getuser()` right after importing this module, and the image's uid has no
passwd entry. And it caps glibc's malloc arenas at two: the operator is many threads
of small allocations, and the default (eight per core) costs tens of megabytes of
fragmented resident memory with 100 galleries.
"""

import contextlib
import ctypes

from picsource_operator import backup_handlers, handlers, identity

identity.ensure_user()

_M_ARENA_MAX = -8
with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)

__all__ = ["backup_handlers", "handlers"]
