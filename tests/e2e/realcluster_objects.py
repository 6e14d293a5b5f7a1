"""Pure builders for the real-cluster end-to-end test: what a person installing PicSource
on a bare single-node cluster adds around the chart, and the photos they upload.

Why a module: the test and bench/bench_real_cluster.py install the same way, and these
are plain data (no cluster, no I/O) so they stay readable and reusable:

- hostPath PersistentVolumes pre-bound (claimRef) to the bundled StatefulSets' claims:
  the node has no provisioner, exactly like many bare-metal clusters;
- a SecantusDB StatefulSet + Service as the MongoDB-wire backing service (the chart's
  bundled MongoDB template speaks the `mongo` image's interface: root user from
  MONGO_INITDB_*, `mongosh` readiness, `--bind_ip_all`; SecantusDB has none of them);
- `helm install` values naming our own images with pull policy Never;
- the example Gallery (manifests/examples/minimal.yaml) pointed at the bundled MinIO;
- camera-like JPEGs with EXIF (camera, date) written with Pillow, each one distinct.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from tests.harness.images import chart_app_version
from tests.harness.realnode_config import image as node_image
from tests.harness.tools import REPO
from tests.support import images

RELEASE = "picsource"
NAMESPACE = "picsource"  # the chart's release namespace
GALLERY_NS = "photos"  # where the example Gallery lives
GALLERY = "photos"
REGISTRY = "ghcr.io/picsource"
EXAMPLE = REPO / "manifests" / "examples" / "minimal.yaml"
DB_NAME = "secantusdb"
DB_PORT = 27017
SECANTUSDB_VERSION_KEY = "SECANTUSDB_VERSION"
SAMPLE_PHOTOS = ("coffee", "chelsea", "astronaut")
#: The Gallery's namespace enforces the restricted Pod Security Standard (and warns on it).
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest",
              "pod-security.kubernetes.io/warn": "restricted"}  # fmt: skip


def app_version() -> str:
    return chart_app_version((REPO / "charts" / "picsource" / "Chart.yaml").read_text())


def minio_tag() -> str:
    values = yaml.safe_load((REPO / "charts" / "picsource" / "values.yaml").read_text())
    return str(values["minio"]["image"]["tag"])


def helm_sets(tag: str, web_tag: str | None = None) -> list[str]:
    """`--set` pairs: our images (pull policy Never), the bundled MinIO, busybox tests."""
    busybox_repo, busybox_tag = node_image("busybox").rsplit(":", 1)
    return [
        f"operator.image.repository={REGISTRY}/operator",
        f"operator.image.tag={tag}",
        "operator.image.pullPolicy=Never",
        f"images.web.repository={REGISTRY}/web",
        f"images.web.tag={web_tag or tag}",
        f"images.worker.repository={REGISTRY}/worker",
        f"images.worker.tag={tag}",
        "minio.enabled=true",
        f"minio.image.repository={REGISTRY}/minio",
        "minio.image.pullPolicy=Never",
        f"tests.image.repository={busybox_repo}",
        f"tests.image.tag={busybox_tag}",
        "tests.image.pullPolicy=Never",
    ]


def hostpath_pv(name: str, path: Path, size: str, namespace: str, claim: str) -> dict[str, Any]:
    """A Retain PV on a node directory, reserved for one claim (no provisioner needed)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"picsource-e2e": "true"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(path), "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


def minio_claim(release: str = RELEASE) -> str:
    return f"data-{release}-minio-0"


def db_claim() -> str:
    return f"data-{DB_NAME}-0"


def secantusdb_objects(namespace: str, image_ref: str) -> list[dict[str, Any]]:
    """SecantusDB as a one-replica StatefulSet with a claim, and its Service."""
    labels = {"app.kubernetes.io/name": DB_NAME, "app.kubernetes.io/part-of": "picsource-e2e"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": DB_NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "selector": labels,
            "ports": [{"name": "mongodb", "port": DB_PORT, "targetPort": "mongodb"}],
        },
    }
    container = {
        "name": "db",
        "image": image_ref,
        "imagePullPolicy": "Never",
        "ports": [{"name": "mongodb", "containerPort": DB_PORT}],
        "readinessProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 2},
        # Requests, not BestEffort: a BestEffort pod gets cpu.shares=2 and starves (its
        # accept loop stalls for minutes) whenever the web pods are busy.
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },  # fmt: skip
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },  # fmt: skip
        "volumeMounts": [
            {"name": "data", "mountPath": "/data/db"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],  # fmt: skip
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": DB_NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "serviceName": DB_NAME,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 999,
                        "runAsGroup": 999,
                        "fsGroup": 999,
                    },  # fmt: skip
                    "terminationGracePeriodSeconds": 5,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "8Gi"}},
                    },
                }
            ],  # fmt: skip
        },
    }
    return [service, statefulset]


def db_uri(namespace: str) -> str:
    # directConnection: SecantusDB advertises itself as a one-member replica set whose
    # member address is its bind address (0.0.0.0); discovery would follow that.
    return f"mongodb://{DB_NAME}.{namespace}.svc:{DB_PORT}/?directConnection=true"


def secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace}, "stringData": data}  # fmt: skip


def example_gallery(namespace: str, s3_endpoint: str, text: str | None = None) -> dict[str, Any]:
    """manifests/examples/minimal.yaml, in `namespace`, its storage at s3_endpoint."""
    gallery: dict[str, Any] = yaml.safe_load(text if text is not None else EXAMPLE.read_text())
    gallery["metadata"]["namespace"] = namespace
    gallery["spec"]["storage"]["endpoint"] = s3_endpoint
    return gallery


def gallery_secrets(
    gallery: dict[str, Any], access: str, secret_key: str, uri: str
) -> list[dict[str, Any]]:
    """The two Secrets the example's comment asks for, named as the Gallery names them."""
    spec, ns = gallery["spec"], gallery["metadata"]["namespace"]
    s3 = spec["storage"]["credentialsSecretRef"]["name"]
    mongo = spec["database"]["uriSecretRef"]
    return [secret(s3, ns, {"accessKey": access, "secretKey": secret_key}),
            secret(mongo["name"], ns, {mongo.get("key", "uri"): uri})]  # fmt: skip


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A distinct camera-like JPEG with EXIF (make, model, capture date).

    The pixels are scikit-image's bundled sample photos (a coffee cup, a cat, an
    astronaut: things the classifier names), resized and marked per seed so no two
    uploads are byte-identical duplicates; EXIF is written with Pillow.
    """
    img = images.photo(SAMPLE_PHOTOS[seed % len(SAMPLE_PHOTOS)]).convert("RGB").resize(size)
    for x in range(seed % 17, size[0], 97):  # a sparse per-seed pattern of dots
        img.putpixel((x, (seed * 31) % size[1]), (seed * 53 % 256, 255, 0))
    exif = Image.Exif()
    exif[0x010F] = "PicSource"  # Make
    exif[0x0110] = f"E2E Camera {seed}"  # Model
    exif[0x0132] = "2026:11:29 12:00:00"  # DateTime
    return images.encode(img, "JPEG", quality=90, exif=exif.tobytes())
