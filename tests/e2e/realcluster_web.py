"""A person using the Gallery through its web Service, from inside the node's network
namespace: sign up, make an API token, upload through the JSON API and the HTML form,
read images back, and a bounded load loop that counts failed requests.

Why a module: the Service's ClusterIP exists only inside the namespace, so every socket
must be opened on a thread that entered it (`RealCluster.call`, or `setns` for the
load loop's own thread). The test and bench/bench_real_cluster.py share this client.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from picsource_core.images import READY
from tests.harness.netns_relay import setns

T = TypeVar("T")
CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
NEW_TOKEN = re.compile(r'value="([^"]+)"[^>]*data-new-token')


class WebError(AssertionError):
    """The web tier answered something a person would call broken; message shows it."""


def _check(
    response: requests.Response, what: str, ok: tuple[int, ...] = (200, 201)
) -> requests.Response:
    if response.status_code not in ok:
        raise WebError(
            f"{what}: HTTP {response.status_code} from {response.url}\n{response.text[:800]}"
        )
    return response


def csrf(html: str) -> str:
    match = CSRF.search(html)
    if not match:
        raise WebError("no csrf_token field in the page")
    return match.group(1)


@dataclass
class WebUser:
    """One signed-up user: a cookie session (HTML pages) and a bearer token (JSON API)."""

    base: str  # http://<web ClusterIP>
    run: Callable[[Callable[[], Any], float], Any]  # RealCluster.call
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    def _in(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        return self.run(fn, timeout)  # type: ignore[no-any-return]

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self._in(lambda: self.session.get(self.base + path, timeout=30, **kw))

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self._in(lambda: self.session.post(self.base + path, timeout=60, **kw))

    def signup(self, username: str, password: str) -> None:
        page = _check(self.get("/signup"), "GET /signup")
        form = {"csrf_token": csrf(page.text), "username": username,
                "password": password, "password2": password}  # fmt: skip
        done = _check(self.post("/signup", data=form), "POST /signup")
        if username not in done.text:
            raise WebError(f"after sign-up the page does not greet {username}: {done.url}")
        settings = _check(self.get("/settings/"), "GET /settings/")
        made = self.post(
            "/settings/tokens", data={"csrf_token": csrf(settings.text), "name": "e2e"}
        )
        match = NEW_TOKEN.search(_check(made, "POST /settings/tokens").text)
        if not match:
            raise WebError("the settings page did not show the new API token")
        self.token = match.group(1)

    def wait_serving(self, timeout: float = 90.0) -> float:
        """Seconds until the Service answers /healthz with 200.

        A Gallery is Ready when its web pods are; kube-proxy programs the Service's
        rules a moment later (until then the ClusterIP refuses connections), as any
        client of a freshly created Service sees. Bounded: WebError after `timeout`.
        """
        started, last = time.monotonic(), "no answer yet"
        while time.monotonic() - started < timeout:
            try:
                answer = self.get("/healthz")
                if answer.status_code == 200:
                    return time.monotonic() - started
                last = f"HTTP {answer.status_code}"
            except requests.RequestException as err:
                last = str(err)[:300]
            time.sleep(0.5)
        raise WebError(f"{self.base}/healthz not serving after {timeout:.0f}s: {last}")

    def login(self, username: str, password: str) -> None:
        """Sign in through the HTML form (the cookie session that media URLs need)."""
        page = _check(self.get("/login"), "GET /login")
        form = {"csrf_token": csrf(page.text), "username": username, "password": password}
        done = _check(self.post("/login", data=form), "POST /login")
        if "/login" in done.url or username not in done.text:
            raise WebError(f"after sign-in the page does not greet {username}: {done.url}")

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api_upload(self, data: bytes, name: str, tags: str, title: str = "") -> dict[str, Any]:
        """POST /api/v1/images (multipart) with the token; the created image's JSON."""
        response = self._in(lambda: requests.post(
            f"{self.base}/api/v1/images", headers=self.bearer, timeout=60,
            files={"file": (name, data, "image/jpeg")}, data={"tags": tags, "title": title}))  # fmt: skip
        body = _check(response, f"API upload {name}", (201,)).json()
        return dict(body["images"][0])

    def form_upload(self, data: bytes, name: str, tags: str, title: str = "") -> str:
        """The HTML upload form (cookie session + CSRF); the new image's id from the redirect."""
        page = _check(self.get("/upload"), "GET /upload")
        form = {"csrf_token": csrf(page.text), "tags": tags, "title": title}
        response = self.post("/upload", data=form, files={"file": (name, data, "image/jpeg")},
                             allow_redirects=False)  # fmt: skip
        _check(response, f"form upload {name}", (302, 303))
        match = re.search(r"/images/([0-9a-f]{24})", response.headers.get("Location", ""))
        if not match:
            raise WebError(f"form upload {name} redirected to {response.headers.get('Location')}")
        return match.group(1)

    def image(self, image_id: str) -> dict[str, Any]:
        response = self._in(lambda: requests.get(
            f"{self.base}/api/v1/images/{image_id}", headers=self.bearer, timeout=30))  # fmt: skip
        return dict(_check(response, f"GET image {image_id}").json())

    def analysis(self, image_id: str) -> dict[str, Any]:
        response = self._in(lambda: requests.get(
            f"{self.base}/api/v1/images/{image_id}/analysis", headers=self.bearer, timeout=30))  # fmt: skip
        return dict(_check(response, f"GET analysis {image_id}").json())

    def search(self, **params: str) -> list[str]:
        """Ids the JSON API lists for these filters (q, tag, colour, ...)."""
        response = self._in(lambda: requests.get(
            f"{self.base}/api/v1/images", headers=self.bearer, params=params, timeout=30))  # fmt: skip
        return [item["id"] for item in _check(response, f"search {params}").json()["items"]]

    def fetch(self, url: str) -> requests.Response:
        """GET an image URL the API handed out (relative to the web tier or absolute)."""
        full = url if url.startswith("http") else self.base + url
        return self._in(lambda: self.session.get(full, timeout=30))


def analysed(image: dict[str, Any], analysis: dict[str, Any]) -> bool:
    """The worker finished: status ready, labels present, a thumbnail URL handed out."""
    labels = (analysis.get("result") or {}).get("labels") or []
    return analysis.get("status") == READY and bool(labels) and bool(image["urls"]["thumbnail"])


@dataclass
class LoadResult:
    total: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class LoadLoop:
    """GET paths round-robin from one thread inside the namespace until stopped.

    Bounded: at most `limit` requests and `seconds` of wall time; each request has a
    5-s timeout. A failure is any exception or a status other than 200.
    """

    def __init__(self, netns: str, base: str, paths: list[tuple[str, dict[str, str]]],
                 limit: int = 100_000, seconds: float = 300.0) -> None:  # fmt: skip
        self.netns, self.base, self.paths = netns, base, paths
        self.limit, self.seconds = limit, seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-load", daemon=True)

    def start(self) -> LoadLoop:
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join(30)
        return self.result

    def wait_total(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.result.total < count and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.1)

    def _run(self) -> None:
        setns(self.netns)
        session = requests.Session()  # keep-alive, like a browser: stale connections count
        deadline = time.monotonic() + self.seconds
        i = 0
        while not self._stop.is_set() and i < self.limit and time.monotonic() < deadline:
            path, headers = self.paths[i % len(self.paths)]
            i += 1
            try:
                status = session.get(self.base + path, headers=headers, timeout=5).status_code
                error = "" if status == 200 else f"{path}: HTTP {status}"
            except requests.RequestException as exc:
                error = f"{path}: {type(exc).__name__}: {exc}"
            self.result.total += 1
            if error:
                self.result.failed += 1
                if len(self.result.errors) < 20:
                    self.result.errors.append(error)
