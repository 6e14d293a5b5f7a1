"""Relay one host-loopback port to one address inside a network namespace.

Why: the real node's kube-apiserver lives in the node's network namespace, yet pytest,
kubectl and helm run on the host. This process opens its listening socket on the host's
127.0.0.1 first, then moves itself into the namespace (setns), so every connection it
makes from then on starts inside it. Only the API server is relayed: pods and Services
stay unreachable from the host, and nothing inside can reach out through this.

    python -m tests.harness.netns_relay NETNS_PATH LISTEN_PORT TARGET_HOST TARGET_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.harness.realnode_config import APISERVER_PORT, NODE_IP

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T")

CLONE_NEWNET = 0x40000000


def setns(path: str) -> None:
    """Move the calling (only) thread into the network namespace at path."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def relay_argv(
    netns: Path, port: int, host: str = NODE_IP, target: int = APISERVER_PORT
) -> list[str]:
    """The command line of a relay from 127.0.0.1:port to host:target inside netns.

    The relay finds this module by the repository's path, not by PYTHONPATH or its cwd:
    a bare `pytest` has no PYTHONPATH, and the node would wait for a relay that died.
    """
    start = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
             "from tests.harness.netns_relay import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    return [sys.executable, "-c", start, str(netns), str(port), host, str(target)]


def in_netns(path: str, fn: Callable[[], T], timeout: float = 60.0) -> T:
    """fn() run on a fresh thread that first enters the namespace at path.

    setns moves only the calling thread, so the rest of the process (pytest) stays on the
    host; sockets fn opens are created inside the namespace.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            setns(path)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns:{path}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"call inside {path} still running after {timeout:.0f}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    netns, listen_port, host, port = argv[0], int(argv[1]), argv[2], int(argv[3])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))  # on the host, before entering the namespace
    listener.listen(128)
    setns(netns)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in `make gallery-up`
        asyncio.run(serve(listener, host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
