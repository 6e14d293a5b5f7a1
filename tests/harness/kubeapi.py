"""A minimal HTTPS client for the kube-apiserver using only the standard library.

Why: the harness must bootstrap a cluster (readiness, the simulated Node, waiting for
ServiceAccounts) before any test code runs, without depending on the `kubernetes`
client's configuration machinery or on spawning kubectl for every poll.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.harness.pki import Pki
from tests.support import waiting


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"kube-apiserver answered {status}: {body[:500]}")
        self.status = status


class KubeApi:
    """Authenticated as the admin client certificate (system:masters)."""

    def __init__(self, server: str, pki: Pki) -> None:
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(pki.ca_crt))
        self.context.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10
    ) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")

    def get(self, path: str) -> dict[str, Any] | None:
        """The JSON object at path, or None when it does not exist (404)."""
        status, text = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise ApiError(status, text)
        result: dict[str, Any] = json.loads(text)
        return result

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST body to path; an existing object (409) is fetched and returned."""
        status, text = self.request("POST", path, body)
        if status == 409:
            existing = self.get(f"{path}/{body['metadata']['name']}")
            if existing is not None:
                return existing
        if status not in (200, 201):
            raise ApiError(status, text)
        result: dict[str, Any] = json.loads(text)
        return result

    def delete(self, path: str) -> None:
        status, text = self.request("DELETE", path)
        if status not in (200, 202, 404):
            raise ApiError(status, text)

    def readyz(self) -> bool:
        try:
            status, text = self.request("GET", "/readyz", timeout=3)
        except OSError:
            return False
        return status == 200 and text.strip() == "ok"

    def version(self) -> dict[str, Any]:
        result = self.get("/version")
        if result is None:
            raise ApiError(404, "/version missing")
        return result


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """``tests.support.waiting.wait_until`` for checks that ask the API server: a refused
    connection or an API error (a 503 while it starts) counts as "not yet"."""
    waiting.wait_until(check, timeout, what, interval, retry_on=(OSError, ApiError))


def node_ready(node: dict[str, Any] | None) -> bool:
    if not node:
        return False
    for condition in node.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def fake_node(name: str) -> dict[str, Any]:
    """A Node that kwok manages (annotation) and that ordinary pods may schedule onto."""
    resources = {"cpu": "64", "memory": "256Gi", "pods": "500", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
            "phase": "Running",
        },
    }
