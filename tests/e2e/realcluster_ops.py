"""Day-2 operations on the real node, done the way a person would with kubectl: a
GalleryBackup of the example gallery and a restore into a new Gallery, and web
autoscaling driven by requests really held in flight inside the node's namespace.

Why a module: these steps are longer than a test should read, and a benchmark can time
them the same way. Everything is bounded in time; every wait names what it waited for.

- The bundled MinIO's application user may use one bucket only (the chart's app-users
  Job), so the backup goes under a prefix of that bucket, and the restored Gallery gets
  a MinIO user of its own (made with the root credentials of the chart's root Secret,
  as an administrator would with `mc admin`): every S3 action on its own bucket, and
  read access to the backups prefix (a restore on one endpoint is a server-side copy
  made with the target's credentials). No Gallery holds root credentials.
- A request held in flight is an API upload whose headers and first body bytes were
  sent and whose rest never comes: the web process holds one thread for it (the body
  is read by the view), exactly like a slow client on a poor link.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from minio import MinioAdmin
from minio.credentials import StaticProvider

from tests.e2e import realcluster_objects as obj
from tests.e2e.realcluster_install import Install, StepFailed
from tests.harness.kubeapi import wait_until

BACKUP = "photos-e2e-backup"
BACKUP_PREFIX = "backups"
RESTORED = "photos-restored"
RESTORED_DB = "photos_restored"
GROUP = "picsource.io/v1alpha1"


def secret_data(install: Install, name: str, namespace: str = obj.NAMESPACE) -> dict[str, str]:
    data = install.get("secret", name, "-n", namespace)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def cluster_ip(install: Install, service: str, namespace: str) -> str:
    return str(install.get("service", service, "-n", namespace)["spec"]["clusterIP"])


# --- backup and restore -------------------------------------------------------------
def backup_object(bucket: str) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": "GalleryBackup",
            "metadata": {"name": BACKUP, "namespace": obj.GALLERY_NS},
            "spec": {"gallery": obj.GALLERY,
                     "destination": {"bucket": bucket, "prefix": BACKUP_PREFIX}}}  # fmt: skip


def restore_policy(bucket: str, backups_bucket: str) -> dict[str, Any]:
    """Its own bucket, and reading the backups (the restore copies them server-side)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{backups_bucket}/{BACKUP_PREFIX}/*"]}]}  # fmt: skip


def make_restore_user(install: Install, backups_bucket: str) -> tuple[str, str]:
    """A MinIO user for the restored Gallery (root credentials, inside the namespace)."""
    root = secret_data(install, f"{obj.RELEASE}-minio")
    address = f"{cluster_ip(install, f'{obj.RELEASE}-minio', obj.NAMESPACE)}:9000"
    access, secret_key = RESTORED, secrets.token_hex(20)

    def make() -> None:
        admin = MinioAdmin(endpoint=address, secure=False,
                           credentials=StaticProvider(root["accessKey"], root["secretKey"]))  # fmt: skip
        admin.policy_add(RESTORED, policy=restore_policy(RESTORED, backups_bucket))
        admin.user_add(access, secret_key)
        admin.policy_set(RESTORED, user=access)

    install.node.call(make, 60)
    return access, secret_key


def restored_gallery(endpoint: str) -> dict[str, Any]:
    """The example Gallery renamed, with its own bucket, credentials and a fresh database,
    restored from the backup; one web pod and one worker (the node is small)."""
    gallery = obj.example_gallery(obj.GALLERY_NS, endpoint)
    gallery["metadata"]["name"] = RESTORED
    spec = gallery["spec"]
    spec["storage"].update(bucket=RESTORED, credentialsSecretRef={"name": f"{RESTORED}-s3"})
    spec["database"]["name"] = RESTORED_DB
    spec["web"] = {"replicas": 1}
    spec["worker"] = {"replicas": 1}
    spec["restoreFrom"] = {"backup": BACKUP}
    return gallery


def backup_phase(install: Install) -> dict[str, Any]:
    body = install.get("gallerybackup", BACKUP, "-n", obj.GALLERY_NS)
    return dict(body.get("status") or {})


@dataclass
class Restore:
    """What backing up the example gallery and restoring it measured."""

    backup: dict[str, Any] = field(default_factory=dict)  # the GalleryBackup's status
    restored: dict[str, Any] = field(default_factory=dict)  # the Restored condition
    backup_seconds: float = 0.0
    restore_seconds: float = 0.0  # from applying the new Gallery until it is Ready


def condition(install: Install, name: str, kind: str) -> dict[str, Any]:
    gallery = install.get("gallery", name, "-n", obj.GALLERY_NS)
    found = [c for c in gallery.get("status", {}).get("conditions", []) if c["type"] == kind]
    return found[0] if found else {}


def backup_and_restore(install: Install, timeout: float = 150) -> Restore:
    """GalleryBackup of the example gallery, then a new Gallery restored from it, Ready."""
    app = secret_data(install, f"{obj.RELEASE}-minio-app")
    done = Restore()
    started = time.monotonic()
    install.apply([backup_object(app["bucket"])])
    wait_until(lambda: backup_phase(install).get("phase") in ("Completed", "Failed"), timeout,
               f"GalleryBackup {BACKUP} to finish", 1.0)  # fmt: skip
    done.backup_seconds = time.monotonic() - started
    done.backup = backup_phase(install)
    if done.backup["phase"] != "Completed":
        raise StepFailed(f"GalleryBackup {BACKUP} failed: {done.backup}")
    access, secret_key = make_restore_user(install, app["bucket"])
    gallery = restored_gallery(app["endpoint"])
    started = time.monotonic()
    install.apply([obj.secret(f"{RESTORED}-s3", obj.GALLERY_NS,
                              {"accessKey": access, "secretKey": secret_key}), gallery])  # fmt: skip
    result = install.kubectl("wait", "--for=condition=Ready", f"gallery/{RESTORED}", "-n", obj.GALLERY_NS,
                             f"--timeout={int(timeout)}s", timeout=timeout + 30, check=False)  # fmt: skip
    if result.returncode != 0:
        raise StepFailed(f"Gallery {RESTORED} not Ready after {timeout:.0f}s: {result.stderr}\n"
                         f"Restored: {condition(install, RESTORED, 'Restored')}\n{install.describe()}")  # fmt: skip
    done.restore_seconds = time.monotonic() - started
    done.restored = condition(install, RESTORED, "Restored")
    return done


def remove_restored(install: Install) -> None:
    """The restored Gallery (Retain: its bucket and database stay), its Secret, the backup."""
    install.kubectl("delete", "gallery", RESTORED, "-n", obj.GALLERY_NS, "--ignore-not-found",
                    "--timeout=150s", timeout=170)  # fmt: skip
    install.kubectl("delete", "secret", f"{RESTORED}-s3", "-n", obj.GALLERY_NS, "--ignore-not-found")
    install.kubectl("delete", "gallerybackup", BACKUP, "-n", obj.GALLERY_NS, "--ignore-not-found",
                    "--timeout=60s", timeout=80)  # fmt: skip

    def gone() -> bool:
        pods = install.get("pods", "-n", obj.GALLERY_NS, "-l", f"app.kubernetes.io/instance={RESTORED}")
        return not pods["items"]

    wait_until(gone, 150, f"the pods of Gallery {RESTORED} to go", 2.0)


# --- web autoscaling ----------------------------------------------------------------
class HeldUploads:
    """`count` API uploads held in flight from inside the node's namespace until close().

    Each sends its headers (Content-Length of a whole photo) and the first bytes of the
    multipart body, then nothing: the view blocks reading the body, one thread per
    upload. close() drops the connections (the uploads end unfinished, nothing stored).
    """

    BOUNDARY = "picsource-e2e-held"
    LENGTH = 2_000_000

    def __init__(self, install: Install, base: str, token: str, count: int) -> None:
        self.install, self.base, self.token, self.count = install, base, token, count
        self.sockets: list[socket.socket] = []

    def open(self) -> HeldUploads:
        parts = urlsplit(self.base)
        host, port = parts.hostname or "", parts.port or 80
        head = (f"POST /api/v1/images HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                f"Content-Type: multipart/form-data; boundary={self.BOUNDARY}\r\n"
                f"Content-Length: {self.LENGTH}\r\n\r\n"
                f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"held.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff"  # fmt: skip

        def connect() -> list[socket.socket]:
            made = []
            for _ in range(self.count):
                sock = socket.create_connection((host, port), timeout=10)
                sock.sendall(head)
                made.append(sock)
            return made

        self.sockets = self.install.node.call(connect, 60)
        return self

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []


def web_replicas(install: Install) -> tuple[int, int, int]:
    """spec.replicas and readyReplicas of the web Deployment, and its live pods."""
    dep = install.get("deployment", f"{obj.GALLERY}-web", "-n", obj.GALLERY_NS)
    live = len(install.pods(obj.GALLERY_NS, "web"))
    return int(dep["spec"]["replicas"]), int(dep["status"].get("readyReplicas") or 0), live


def patch_web(install: Install, web: dict[str, Any] | None) -> None:
    install.kubectl("patch", "gallery", obj.GALLERY, "-n", obj.GALLERY_NS, "--type=merge",
                    "-p", json.dumps({"spec": {"web": web}}))  # fmt: skip


@dataclass
class Scaling:
    """What web autoscaling under held requests measured."""

    before: int = 0
    peak: int = 0
    web_load: float = 0.0  # status.webLoad while the requests were held
    up_seconds: float = 0.0  # from holding the requests until the peak pods are Ready
    down_seconds: float = 0.0  # from releasing them until one web pod is left
    events: list[str] = field(default_factory=list)


def autoscale_under_held_requests(install: Install, base: str, token: str, autoscaling: dict[str, Any],
                                  held: int, timeout: float = 150) -> Scaling:
    """Autoscaling on, settle at minReplicas, hold `held` uploads until maxReplicas pods
    are Ready, release, and see it back at minReplicas; autoscaling off again after."""
    low, high = autoscaling["minReplicas"], autoscaling["maxReplicas"]
    done = Scaling()
    patch_web(install, {"autoscaling": autoscaling})
    try:
        wait_until(lambda: web_replicas(install) == (low, low, low), timeout,
                   f"the web tier at minReplicas {low} with no load", 1.0)  # fmt: skip
        done.before = low
        uploads = HeldUploads(install, base, token, held).open()
        started = time.monotonic()
        try:
            wait_until(lambda: web_replicas(install)[:2] == (high, high), timeout,
                       f"{high} ready web pods with {held} requests held in flight", 1.0)  # fmt: skip
            done.up_seconds = time.monotonic() - started
            done.peak = high
            status = install.get("gallery", obj.GALLERY, "-n", obj.GALLERY_NS)["status"]
            done.web_load = float(status.get("webLoad") or 0.0)
        finally:
            uploads.close()
        started = time.monotonic()
        wait_until(lambda: web_replicas(install) == (low, low, low), timeout,
                   f"the web tier back at minReplicas {low} after the load stopped", 1.0)  # fmt: skip
        done.down_seconds = time.monotonic() - started
        events = install.get("events", "-n", obj.GALLERY_NS,
                             "--field-selector", f"involvedObject.name={obj.GALLERY}")["items"]  # fmt: skip
        done.events = [e["reason"] for e in events if e["reason"].startswith("WebScaled")]
    finally:
        patch_web(install, {"autoscaling": None})
    return done
