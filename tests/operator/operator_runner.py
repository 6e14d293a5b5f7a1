"""Running the real operator against the test control plane, plus Gallery helpers.

The operator runs as a subprocess exactly as in a cluster (`python -m kopf run -m
picsource_operator.main --namespace NS --standalone`), so a test can kill it with
SIGKILL and start it again. The fixtures built on it (``gallery_env``,
``running_operator``) are in tests/operator/conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.procs import ManagedProcess, free_port, http_responds
from tests.harness.tools import binary
from tests.support.env import REPO, python_path
from tests.support.kubectl import wait_established

CRD = REPO / "charts/picsource/crds/galleries.picsource.io.yaml"
CRDS = ("galleries.picsource.io", "gallerybackups.picsource.io")  # every file in CRD.parent
EXAMPLES = REPO / "manifests/examples"
GALLERIES = "/apis/picsource.io/v1alpha1/namespaces/{ns}/galleries"


class OperatorProcess:
    """One operator watching one namespace; `metrics()` scrapes its /metrics."""

    def __init__(self, cluster: Cluster, namespace: str, log_path: Path,
                 kubeconfig: Path | None = None, *, wrapper: tuple[str, ...] = (),
                 drop_env: tuple[str, ...] = (), clusterwide: bool = False,
                 as_deployed: bool = False, extra_env: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.wrapper = wrapper  # e.g. unshare, to run under another uid
        self.drop_env = drop_env
        # --all-namespaces, as the chart runs it (kopf stops watching a namespace it was
        # started for as soon as that namespace begins terminating).
        self.clusterwide = clusterwide
        # `python -m picsource_operator` as the chart runs it: scope from PICSOURCE_WATCH_NAMESPACES
        # (this namespace unless clusterwide), leader election when extra_env enables it.
        self.as_deployed = as_deployed
        self.extra_env = dict(extra_env or {})
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.namespace = namespace
        self.log_path = log_path
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.process: ManagedProcess | None = None

    def start(self, timeout: float = 60) -> OperatorProcess:
        env = dict(os.environ)
        # The Kubernetes client writes a kubeconfig's certificate and key data to temporary
        # files that it removes only at a clean exit; a stopped or killed operator left
        # them in /tmp (12 files per HA test module). Beside the log, they go with the test.
        scratch = self.log_path.with_name(f"{self.log_path.stem}-tmp")
        scratch.mkdir(parents=True, exist_ok=True)
        env.update(
            TMPDIR=str(scratch),
            KUBECONFIG=str(self.kubeconfig),
            PYTHONPATH=python_path(),
            PICSOURCE_OPERATOR_METRICS_PORT=str(self.metrics_port),
            PICSOURCE_OPERATOR_BINDING_RECHECK_SECONDS="30",
        )
        for name in self.drop_env:
            env.pop(name, None)
        liveness = f"--liveness=http://127.0.0.1:{self.health_port}/healthz"
        if self.as_deployed:
            env.pop("PICSOURCE_WATCH_NAMESPACES", None)
            if not self.clusterwide:
                env["PICSOURCE_WATCH_NAMESPACES"] = self.namespace
            env.update(self.extra_env)
            argv = [*self.wrapper, sys.executable, "-m", "picsource_operator", liveness]
        else:
            env.update(self.extra_env)
            scope = ["--all-namespaces"] if self.clusterwide else ["--namespace", self.namespace]
            argv = [*self.wrapper, sys.executable, "-m", "kopf", "run", "-m", "picsource_operator.main",
                    *scope, "--standalone", liveness]
        self.process = ManagedProcess("picsource-operator", argv, self.log_path, env=env, cwd=REPO)
        self.process.start()
        self.process.wait_ready(lambda: http_responds(f"http://127.0.0.1:{self.health_port}/healthz"),
                                timeout, "live")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crashing node or OOM would: no cleanup handlers run."""
        assert self.process is not None and self.process.proc is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.proc.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
            self.process = None

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return str(response.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        sname, _, rest = series.partition("{")
        got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
        if sname == name and got == want:
            return float(value)
    return 0.0


# --- Gallery helpers ------------------------------------------------------------------
def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return doc


class Env:
    """A namespace wired to the session's MinIO and MongoDB: Secrets, unique names, cleanup."""

    def __init__(self, cluster: Cluster, namespace: str, kubectl: Any, minio: Any, mongo: Any) -> None:
        self.cluster, self.namespace, self.kubectl = cluster, namespace, kubectl
        self.minio, self.mongo = minio, mongo
        self.api = cluster.api()
        self.buckets: list[str] = []
        self.databases: list[str] = []

    def secret(self, name: str, data: dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": self.namespace},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(body))

    def gallery(self, name: str, base: str = "minimal", **spec: Any) -> dict[str, Any]:
        """A Gallery from manifests/examples/<base>.yaml bound to this test's stores."""
        doc = example(base)
        suffix = uuid.uuid4().hex[:8]
        bucket, database = f"op-{name}-{suffix}", f"op_{name}_{suffix}"
        self.buckets.append(bucket)
        self.databases.append(database)
        self.secret(f"{name}-s3", {"accessKey": self.minio.access_key, "secretKey": self.minio.secret_key})
        self.secret(f"{name}-mongo", {"uri": self.mongo.uri})
        doc["metadata"] = {"name": name, "namespace": self.namespace}
        doc["spec"]["storage"].update(endpoint=self.minio.url, bucket=bucket,
                                      credentialsSecretRef={"name": f"{name}-s3"})
        doc["spec"]["database"].update(name=database, uriSecretRef={"name": f"{name}-mongo"})
        doc["spec"].update(spec)
        return doc

    def apply(self, doc: dict[str, Any], check: bool = True) -> Any:
        return self.kubectl("apply", "-f", "-", stdin=json.dumps(doc), check=check)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.api.get(f"{GALLERIES.format(ns=self.namespace)}/{name}")

    def obj(self, path: str) -> dict[str, Any] | None:
        return self.api.get(path.format(ns=self.namespace))

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        for cond in ((self.get(name) or {}).get("status") or {}).get("conditions") or []:
            if cond["type"] == kind:
                return dict(cond)
        return {}

    def wait_condition(self, name: str, kind: str, status: str, timeout: float = 30,
                       reason: str | None = None) -> dict[str, Any]:
        def check() -> bool:
            cond = self.condition(name, kind)
            return cond.get("status") == status and (reason is None or cond.get("reason") == reason)

        try:
            wait_until(check, timeout, f"{kind}={status} {reason or ''} on Gallery {name}")
        except TimeoutError as err:
            raise AssertionError(f"{err}; status: {json.dumps((self.get(name) or {}).get('status'))}") from None
        return self.condition(name, kind)

    def events(self, name: str) -> list[dict[str, Any]]:
        path = (f"/api/v1/namespaces/{self.namespace}/events"
                f"?fieldSelector=involvedObject.name%3D{name},involvedObject.kind%3DGallery")
        return list((self.api.get(path) or {}).get("items") or [])

    def wait_event(self, name: str, reason: str, type_: str | None = None,
                   timeout: float = 15) -> dict[str, Any]:
        """The first Event `reason` about Gallery `name`, waited for: kopf posts Events from a
        queue after the write that caused them, so one may land a moment after the status."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [e for e in self.events(name)
                        if e["reason"] == reason and (type_ is None or e["type"] == type_)]
            return bool(found)
        wait_until(seen, timeout, f"a {reason} Event about {name}")
        return found[0]

    def cleanup(self) -> None:
        """Delete Galleries while the operator still runs, then the stores' leftovers."""
        with contextlib.suppress(Exception):
            self.kubectl("delete", "galleries", "--all", "-n", self.namespace, "--wait=true",
                         "--timeout=30s", check=False)
        client = self.minio.client()
        from minio.deleteobjects import DeleteObject
        for bucket in self.buckets:
            with contextlib.suppress(Exception):
                if client.bucket_exists(bucket):
                    objs = client.list_objects(bucket, recursive=True)
                    list(client.remove_objects(bucket, (DeleteObject(o.object_name) for o in objs)))
                    client.remove_bucket(bucket)
        import pymongo
        mongo: Any = pymongo.MongoClient(self.mongo.uri, serverSelectionTimeoutMS=3000)
        for database in self.databases:
            with contextlib.suppress(Exception):
                mongo.drop_database(database)
        mongo.close()


def stage_for_galleries(cluster: Cluster, minio: Any, mongo: Any, namespace: str) -> Any:
    """For the benches: the CRD installed and Established on a fresh control plane, then
    ``namespace`` with the Secrets Galleries bind to (``s3`` and ``mongo``); returns the
    API client. A fresh API server may still be initialising its storage: retried 30 s."""
    kubectl = [str(binary("kubectl")), f"--kubeconfig={cluster.kubeconfig}"]
    for _attempt in range(30):
        done = subprocess.run([*kubectl, "apply", "--server-side", "-f", str(CRD.parent)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"could not install the CRD: {done.stderr}")

    def run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*kubectl, *args], capture_output=True, text=True, timeout=timeout, check=check)

    wait_established(run, *CRDS)
    api = cluster.api()
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name, data in (("s3", {"accessKey": minio.access_key, "secretKey": minio.secret_key}),
                       ("mongo", {"uri": mongo.uri})):
        api.create(f"/api/v1/namespaces/{namespace}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    return api
