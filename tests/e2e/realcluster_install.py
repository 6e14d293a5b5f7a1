"""Installing PicSource on the real node the way a person would, with kubectl and helm.

Why a module: the end-to-end test and bench/bench_real_cluster.py run the same steps
(hostPath PVs, `helm install` with our images, SecantusDB, the example Gallery, wait for
Ready) and time them the same way. Every command's failure raises StepFailed with its
output; a missing kubectl/helm raises MissingToolError naming the install command.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e import realcluster_objects as obj
from tests.harness.realnode import RealCluster
from tests.harness.tools import REPO, binary, versions

CHART = REPO / "charts" / "picsource"
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")
NODE_CPU_SHARES = 4096  # four host tasks' worth


class StepFailed(AssertionError):
    """A kubectl/helm/ctr step failed or timed out; the message has its output."""


@dataclass
class Install:
    """kubectl/helm bound to one real node, and what the install created."""

    node: RealCluster
    tag: str = field(default_factory=obj.app_version)
    timings: dict[str, float] = field(default_factory=dict)

    # --- tools ----------------------------------------------------------------------
    def _run(
        self, argv: list[str], stdin: str | None, timeout: float, check: bool
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                    timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(
                f"{' '.join(argv[:6])} ... still running after {timeout:.0f}s"
            ) from exc
        if check and result.returncode != 0:
            raise StepFailed(f"{' '.join(argv)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")  # fmt: skip
        return result

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = [str(binary("kubectl")), f"--kubeconfig={self.node.kubeconfig}", *args]
        return self._run(argv, stdin, timeout, check)

    def helm(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(binary("helm")), *args, f"--kubeconfig={self.node.kubeconfig}"]
        return self._run(argv, None, timeout, check)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))

    def get(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", *args, "-o", "json").stdout))

    def ctr(self, *args: str) -> str:
        """ctr in containerd's k8s.io namespace (inside the node's namespaces)."""
        argv = ["nsenter", f"--target={self.node.anchor_pid}", "--net", "--mount", "--",
                "/usr/bin/ctr", f"--address={self.node.socket}", "--namespace=k8s.io", *args]  # fmt: skip
        return self._run(argv, None, 120, True).stdout

    # --- install --------------------------------------------------------------------
    @property
    def pv_root(self) -> Path:
        return self.node.state_dir / "volumes"

    def volumes(self) -> None:
        """Node directories and Retain PVs reserved for MinIO's and SecantusDB's claims."""
        wanted = {"minio": (obj.NAMESPACE, obj.minio_claim(), "20Gi"),
                  "secantusdb": (obj.NAMESPACE, obj.db_claim(), "8Gi")}  # fmt: skip
        pvs = []
        for name, (ns, claim, size) in wanted.items():
            path = self.pv_root / name
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # hostPath ignores fsGroup; the pods run as 10001 and 999
            pvs.append(obj.hostpath_pv(f"e2e-{name}", path, size, ns, claim))
        self.apply(pvs)

    def helm_install(self, timeout: float = 420) -> None:
        self.helm("install", obj.RELEASE, str(CHART), "--namespace", obj.NAMESPACE,
                  "--create-namespace", "--wait", "--timeout", f"{int(timeout)}s",
                  *[a for s in obj.helm_sets(self.tag) for a in ("--set", s)],
                  timeout=timeout + 30)  # fmt: skip

    def database(self) -> None:
        ref = f"{obj.REGISTRY}/secantusdb:{versions()[obj.SECANTUSDB_VERSION_KEY]}"
        self.apply(obj.secantusdb_objects(obj.NAMESPACE, ref))

    def gallery(self) -> dict[str, Any]:
        """The example Gallery and its two Secrets, bound to the bundled MinIO as its
        application user (the chart's app-users Job made it; its policy allows one bucket)."""
        minio = self.get("secret", f"{obj.RELEASE}-minio-app", "-n", obj.NAMESPACE)["data"]
        endpoint = base64.b64decode(minio["endpoint"]).decode()
        access = base64.b64decode(minio["accessKey"]).decode()
        secret_key = base64.b64decode(minio["secretKey"]).decode()
        self.kubectl("create", "namespace", obj.GALLERY_NS, check=False)
        # Before any pod: the kubelet really runs the Gallery's pods, so they prove they
        # pass the restricted Pod Security Standard (the API server refuses them if not).
        self.kubectl("label", "namespace", obj.GALLERY_NS, "--overwrite",
                     *[f"{k}={v}" for k, v in obj.RESTRICTED.items()])  # fmt: skip
        gallery = obj.example_gallery(obj.GALLERY_NS, endpoint)
        gallery["spec"]["storage"]["bucket"] = base64.b64decode(minio["bucket"]).decode()
        self.apply(obj.gallery_secrets(gallery, access, secret_key, obj.db_uri(obj.NAMESPACE)))
        self.apply([gallery])
        return gallery

    def wait_gallery_ready(self, timeout: float = 300) -> None:
        result = self.kubectl("wait", "--for=condition=Ready", f"gallery/{obj.GALLERY}",
                              "-n", obj.GALLERY_NS, f"--timeout={int(timeout)}s",
                              timeout=timeout + 30, check=False)  # fmt: skip
        if result.returncode != 0:
            raise StepFailed(f"Gallery {obj.GALLERY} not Ready after {timeout:.0f}s: "
                             f"{result.stderr}\n{self.describe()}")  # fmt: skip

    def describe(self) -> str:
        """What a person looks at when it is not Ready: the Gallery, pods, recent events."""
        parts = []
        for args in (["get", "gallery", "-A", "-o", "wide"], ["get", "pods", "-A", "-o", "wide"],
                     ["get", "events", "-A", "--sort-by=.lastTimestamp"]):  # fmt: skip
            out = self.kubectl(*args, check=False)
            parts.append(f"$ kubectl {' '.join(args)}\n{(out.stdout + out.stderr)[-2500:]}")
        return "\n".join(parts)

    def weigh_node(self, shares: int = NODE_CPU_SHARES) -> None:
        """Give the node's cgroup root the CPU weight of a few host processes, not one.

        cgroup v1 weighs the whole node (every pod) like a single host task; with other
        builds and tests running on this 2-core machine, pods then miss their probe
        deadlines for minutes. The directory is the node's own (removed at teardown).
        """
        path = CPU_CGROUP / self.node.cgroup_root.strip("/") / "cpu.shares"
        if path.exists():
            path.write_text(str(shares))

    def install_all(self) -> None:
        """PVs, helm install, SecantusDB, the example Gallery, Ready; each step timed."""
        self.weigh_node()
        started = time.monotonic()
        self.volumes()
        self.helm_install()
        self.timings["helm_install"] = time.monotonic() - started
        self.database()
        self.gallery()
        self.wait_gallery_ready()
        self.timings["install_to_ready"] = time.monotonic() - started

    # --- reading state --------------------------------------------------------------
    def web_url(self) -> str:
        svc = self.get("service", f"{obj.GALLERY}-web", "-n", obj.GALLERY_NS)
        return f"http://{svc['spec']['clusterIP']}"

    def pods(self, namespace: str, component: str) -> list[dict[str, Any]]:
        items = self.get("pods", "-n", namespace, "-l", f"app.kubernetes.io/component={component}")[
            "items"
        ]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]
