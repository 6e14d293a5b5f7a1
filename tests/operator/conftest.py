"""Fixtures of the operator tests: the Gallery CRD, a namespace's Gallery helpers, and
the real operator watching that namespace (tests/operator/operator_runner.py runs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_runner import CRD, CRDS, Env, OperatorProcess

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until


@pytest.fixture(scope="session")
def gallery_crd(cluster: Cluster, kubectl: Any) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD.parent))  # Gallery and GalleryBackup
    # Polled, not `kubectl wait`: right after creation the CRD has no conditions at all,
    # and kubectl wait then fails at once instead of waiting.
    api = cluster.api()

    def established() -> bool:
        crds = [api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") or {} for name in CRDS]
        return all(any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in (crd.get("status") or {}).get("conditions") or []) for crd in crds)

    wait_until(established, 60, "the Gallery and GalleryBackup CRDs to be Established")


@pytest.fixture
def gallery_env(cluster: Cluster, namespace: str, kubectl: Any, minio_server: Any, mongo_server: Any,
                gallery_crd: None) -> Iterator[Env]:
    e = Env(cluster, namespace, kubectl, minio_server, mongo_server)
    yield e
    e.cleanup()


@pytest.fixture
def running_operator(cluster: Cluster, namespace: str, gallery_env: Env,
                     tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator for this test's namespace; its log tail is shown when the test fails."""
    proc = OperatorProcess(cluster, namespace, tmp_path / "operator.log").start()
    yield proc
    if proc.process is None:  # a test killed it: restart so finalizers can run
        proc.start()
    gallery_env.cleanup()  # galleries go first, while the operator can still run their finalizers
    proc.stop()
    print("--- operator log (tail) ---\n" + "\n".join(proc.log().splitlines()[-80:]))
