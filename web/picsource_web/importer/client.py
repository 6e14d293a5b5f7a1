"""The JSON API over urllib, with retries that outlast a server restart.

Why retries live here, in one place: a long import must survive a web tier that is
rolled or an object store that is briefly down. A refused or dropped connection, a
timeout, and 429/502/503/504 answers are retried with capped exponential backoff
(0.5 s, 1 s, 2 s … up to ``max_backoff``, with jitter, honouring Retry-After within the
cap) for up to ``retry_for`` seconds per request; after that ``Unreachable``. A 401 is
``BadToken`` at once (retrying cannot fix it). Every other answer is returned as it is.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_CONNECTION_ERRORS = (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError,
                      http.client.HTTPException, OSError)


class ImportAborted(Exception):
    """The import cannot go on (exit code 3); the message is for the user."""


class Unreachable(ImportAborted):
    """The server did not answer usefully within the retry budget."""


class BadToken(ImportAborted):
    """The server refused the token (401), or it may not write (read-only)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None
    headers: Mapping[str, str]  # names in lower case
    attempts: int = 1  # how many times the request was sent (retries + 1)

    @property
    def detail(self) -> str:
        """The problem's detail (RFC 9457), else the status."""
        if isinstance(self.body, dict) and isinstance(self.body.get("detail"), str):
            return str(self.body["detail"])
        return f"HTTP {self.status}"

    @property
    def code(self) -> str:
        return str(self.body.get("code", "")) if isinstance(self.body, dict) else ""


def multipart(fields: Mapping[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one file in the field ``file``."""
    boundary = uuid.uuid4().hex
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode("utf-8") + b"\r\n")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{safe_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Api:
    """One server and token. Thread-safe: each request opens its own connection."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0, retry_for: float = 600.0,
                 max_backoff: float = 10.0, on_retry: Callable[[str, float], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry_for = retry_for
        self.max_backoff = max_backoff
        self.on_retry = on_retry
        self.sleep = sleep
        #: Set when the import is aborted: requests still retrying give up at once.
        self.stopped = threading.Event()

    def call(self, method: str, path: str, *, body: bytes | None = None,
             content_type: str | None = None, retry_for: float | None = None) -> Answer:
        """One request, retried as the module says; raises Unreachable or BadToken."""
        budget = self.retry_for if retry_for is None else retry_for
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            answer, problem = self._once(method, path, body, content_type)
            if answer is not None and answer.status == 401:
                raise BadToken(f"The server refused the API token (401: {answer.detail}). "
                               "Create a token under Settings and set PICSOURCE_TOKEN.")
            if answer is not None and answer.status not in RETRY_STATUSES:
                return replace(answer, attempts=attempt + 1)
            if answer is not None:
                problem = f"HTTP {answer.status}: {answer.detail}"
            delay = min(self.max_backoff, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.0)
            retry_after = answer.headers.get("retry-after", "") if answer is not None else ""
            if retry_after.isdigit():
                delay = min(self.max_backoff, max(delay, float(retry_after)))
            if self.stopped.is_set():
                raise ImportAborted("stopped: another request gave up")
            if time.monotonic() + delay > deadline:
                raise Unreachable(f"{self.base} is not answering ({problem}); gave up after "
                                  f"{budget:.0f} s of retries.")
            if self.on_retry is not None:
                self.on_retry(problem, delay)
            self.sleep(delay)
            attempt += 1

    def _once(self, method: str, path: str, body: bytes | None,
              content_type: str | None) -> tuple[Answer | None, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "User-Agent": "picsource-import/1"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _answer(response.status, response.read(), response.headers), ""
        except urllib.error.HTTPError as err:
            with err:
                return _answer(err.code, err.read(), err.headers), ""
        except _CONNECTION_ERRORS as err:
            reason = getattr(err, "reason", None) or err
            return None, f"{type(reason).__name__ if not str(reason) else reason}"

    def get_json(self, path: str, *, retry_for: float | None = None) -> Answer:
        return self.call("GET", path, retry_for=retry_for)

    def post_json(self, path: str, payload: Any) -> Answer:
        return self.call("POST", path, body=json.dumps(payload).encode(),
                         content_type="application/json")


def _answer(status: int, raw: bytes, headers: Any) -> Answer:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status, body, {k.lower(): v for k, v in headers.items()} if headers else {})


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a server address, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"--url must be an http:// or https:// address, got {url!r}"
    return None
