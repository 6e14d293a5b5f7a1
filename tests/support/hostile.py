"""Hostile HTTP for tests and benches: huge anonymous bodies sent over a raw socket without
ever holding them in memory, and the gunicorn worker memory they are judged by."""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.gunicorn import start_gunicorn

BOUNDARY = "hostile"


def multipart_head(field: str = "file", filename: str | None = "x.jpg") -> bytes:
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()


def hostile_post(port: int, path: str, size: int, *, chunked: bool = False,
                 timeout: float = 30.0) -> tuple[int, int, float]:
    """POST a ``size``-byte anonymous multipart body over a raw socket, from a generator (the
    body never exists in memory), stopping as soon as the server answers.
    Returns (status, bytes sent, seconds until the answer)."""
    head = multipart_head()
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(head) + size}"
    request_head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    f"{framing}\r\nConnection: close\r\n\r\n").encode()
    piece = b"\0" * (256 * 1024)

    def pieces() -> Iterator[bytes]:
        yield head
        for _ in range(size // len(piece)):
            yield piece
        if size % len(piece):
            yield piece[:size % len(piece)]

    started = time.monotonic()
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_head)
        for data in pieces():
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered: stop sending
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except OSError:  # the server closed the connection after answering
                break
            sent += len(data)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    seconds = time.monotonic() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent, seconds


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def gunicorn_on(env: dict[str, str], port: int, workers: int, workdir: Path) -> subprocess.Popen[str]:
    """gunicorn with ``workers`` workers on 127.0.0.1:``port``, its temp files under ``workdir``."""
    return start_gunicorn({**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": str(workers),
                           "LOG_LEVEL": "warning", "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom"),
                           "TMPDIR": str(workdir)}, stdout=subprocess.DEVNULL)
