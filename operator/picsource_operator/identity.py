"""Who the operator process is, without needing a passwd entry.

Kopf names its peering identity `user@host/...` and asks `getpass.getuser()` for the
user before any handler runs. That reads LOGNAME, USER, LNAME or USERNAME and then the
passwd database. Our image runs as uid 10001, which has no passwd entry, and a container
runtime sets none of those variables, so `getuser()` raises and the operator
crash-loops. `ensure_user` runs when `picsource_operator.main` is imported (kopf
imports it before it computes its identity) and sets USER when nothing else would
name the process, so kopf and any other library asking the same question get an answer.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, MutableMapping

# The variables getpass.getuser() reads, in its order.
USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def _passwd_name(uid: int) -> str:
    return pwd.getpwuid(uid).pw_name


def process_user(environ: MutableMapping[str, str], uid: int,
                 lookup: Callable[[int], str] = _passwd_name) -> tuple[str, bool]:
    """(user name, whether getpass.getuser() would find it by itself).

    The fallback for a uid without a passwd entry is `uid<N>`, which is what `id -un`
    cannot print but what a person reading the operator's identity needs to know.
    """
    for name in USER_VARIABLES:
        if environ.get(name):
            return environ[name], True
    try:
        return lookup(uid), True
    except (KeyError, OSError):  # KeyError up to Python 3.12, OSError from 3.13
        return f"uid{uid}", False


def ensure_user(environ: MutableMapping[str, str] | None = None, uid: int | None = None,
                lookup: Callable[[int], str] = _passwd_name) -> str:
    """Set USER in `environ` when neither the environment nor passwd name the process."""
    environ = os.environ if environ is None else environ
    name, found = process_user(environ, os.getuid() if uid is None else uid, lookup)
    if not found:
        environ["USER"] = name
    return name
