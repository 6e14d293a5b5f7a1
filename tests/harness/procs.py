"""Child processes that are always cleaned up, plus port and readiness helpers.

Why: a test run that leaks a MinIO or kube-apiserver keeps ports and CPU busy for every
later run on a 2-core machine. Each child runs in its own session (process group), so
stopping it terminates its whole tree: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


class StartupError(RuntimeError):
    """A service did not become ready; the message carries the tail of its log."""


#: Where ``free_port`` picks from: below the kernel's ephemeral range and below
#: Kubernetes' NodePort range (30000-32767), which a real node's kube-proxy may hold.
PICK_FLOOR = 20000
PICK_CEILING = 30000
#: Ports in that span that `make run` and local tools listen on by default (MongoDB).
_RESERVED = frozenset({27017, 27018, 27019})
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Ports this process has handed out, never handed out twice.
_handed: set[int] = set()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody uses right now, for a server a test is about to start.

    Why not the kernel's pick (bind to port 0): it comes from the ephemeral range, the same
    range every outgoing connection takes its local port from, so between the pick and the
    server's bind a client socket (a test's, a load generator's, a browser's) could take
    it: "address already in use" on a busy machine. Below that range no client socket ever
    lands, so only another server can take the port, and this process never hands one out
    twice. Where the range leaves no room below it, the kernel picks."""
    span = pick_range(_ephemeral_range())
    for _ in range(100):
        port = random.choice(span) if span else _kernel_pick(host)
        if port not in _handed and port not in _RESERVED and _bindable(port, host):
            _handed.add(port)
            return port
    return _kernel_pick(host)


def pick_range(ephemeral: tuple[int, int]) -> range:
    """The ports ``free_port`` picks from: ``PICK_FLOOR`` up to ``PICK_CEILING`` or the
    ephemeral range's start, whichever comes first; empty when that leaves fewer than 1,000."""
    span = range(PICK_FLOOR, min(PICK_CEILING, ephemeral[0]))
    return span if len(span) >= 1000 else range(0)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(v) for v in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return (32768, 60999)  # Linux's default
    return (low, high)


def _kernel_pick(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bindable(port: int, host: str) -> bool:
    """Free in every state (no SO_REUSEADDR): not listened on, not a connection's end."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could listen on host:port now.

    SO_REUSEADDR, as servers set it, so connections of a previous run still in
    TIME-WAIT do not count as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_taken(error: BaseException) -> bool:
    """Whether a start-up failure says its port was taken (a free-port race)."""
    return "already in use" in str(error).lower()


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_responds(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP server answers url with any status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """True while pid runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process belongs to process group pgid."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and fields[2] == str(pgid) and fields[0] != "Z":
                return True
    return False


def kill_group(pid: int, grace: float = 10.0) -> None:
    """Terminate the process group led by pid, escalating to SIGKILL after grace.

    Daemons started by `make cluster-up` are no longer our children, and whoever
    reaps orphans may leave them as zombies for a while, so "gone" means "no
    non-zombie process left in the group".
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not group_alive(pid):
                return
            time.sleep(0.05)


_PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: the kernel sends SIGTERM to the child when its parent dies.

    This covers the case no finalizer can: pytest (or `make run`) killed with SIGKILL,
    e.g. by an outer CI timeout, would otherwise orphan every server it started.
    """

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class ManagedProcess:
    """A long-running child with a log file; `stop()` leaves nothing behind.

    With detach=False (the default) the child also dies when this process dies;
    detach=True is for daemons that must outlive their launcher (`make cluster-up`).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detach: bool = False,
    ) -> None:
        self.name = name
        self.detach = detach
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=None
                if self.detach or sys.platform != "linux"
                else _die_with(os.getpid()),
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll `check` until true; fail early (with the log) if the process died."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise StartupError(
                    f"{self.name} exited (code {code}) before it was {what}; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            with contextlib.suppress(Exception):
                if check():
                    return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} not {what} after {timeout:.0f}s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        kill_group(self.proc.pid, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1)
        self.proc = None
