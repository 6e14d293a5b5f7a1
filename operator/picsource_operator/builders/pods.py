"""Pod-template pieces shared by the web and worker Deployments.

Both run as a non-root user with a read-only root filesystem (writable /tmp as
an emptyDir), drop every capability and take their configuration from the
gallery's ConfigMap plus secretKeyRefs, so no credential is ever copied into a
ConfigMap or an annotation.
"""

from __future__ import annotations

import copy
import math
import re

from picsource_operator import constants
from picsource_operator.builders.common import Obj, app_secret_name, config_name
from picsource_operator.knobs import PodOptions
from picsource_operator.spec import Gallery, Resources


def _secret_env(name: str, secret: str, key: str, optional: bool = False) -> Obj:
    ref: Obj = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def env(g: Gallery) -> list[Obj]:
    """Secret-backed variables (the ConfigMap supplies the rest through envFrom)."""
    out = [
        _secret_env("MONGODB_URI", g.database.uri_secret, g.database.uri_key),
        _secret_env("S3_ACCESS_KEY", g.storage.credentials_secret, g.storage.access_key_key),
        _secret_env("S3_SECRET_KEY", g.storage.credentials_secret, g.storage.secret_key_key),
        _secret_env("SECRET_KEY", app_secret_name(g), constants.SECRET_KEY_KEY),
    ]
    if g.auth.admin_secret:
        out.append(_secret_env("ADMIN_USERNAME", g.auth.admin_secret, "username", optional=True))
        out.append(_secret_env("ADMIN_PASSWORD", g.auth.admin_secret, "password", optional=True))
    return out


def secret_refs(g: Gallery) -> list[tuple[str, str, bool]]:
    """(Secret, key, optional) of every value `env` takes from a Secret the Gallery's
    author owns. The app Secret is ours and never changes under the pods, so it is left out.
    """
    refs = [e["valueFrom"]["secretKeyRef"] for e in env(g)]
    return [(r["name"], r["key"], bool(r.get("optional"))) for r in refs if r["name"] != app_secret_name(g)]


def template_annotations(config_hash: str, secrets_hash: str | None) -> dict[str, str]:
    """Pod-template annotations whose change rolls the pods."""
    out = {constants.CONFIG_HASH_ANNOTATION: config_hash}
    if secrets_hash is not None:
        out[constants.SECRETS_HASH_ANNOTATION] = secrets_hash
    return out


def template_metadata(labels: dict[str, str], annotations: dict[str, str], options: PodOptions,
                      rolling: dict[str, str]) -> Obj:
    """A pod template's metadata: the admin's labels and annotations beside the operator's.

    The operator's labels always win (knobs refuses those keys anyway); the admin may
    override an ordinary annotation such as prometheus.io/scrape, never the `rolling`
    ones (config and secrets hashes) whose change rolls the pods.
    """
    return {"labels": {**options.labels, **labels},
            "annotations": {**annotations, **options.annotations, **rolling}}


def placement(options: PodOptions, selector: dict[str, str]) -> Obj:
    """Pod-spec fields from the admin's knobs; only those set appear.

    A topology spread constraint without a labelSelector spreads this component's own
    pods (`selector`), which is what an admin writing one almost always means.
    """
    out: Obj = {}
    if options.node_selector:
        out["nodeSelector"] = dict(options.node_selector)
    if options.affinity:
        out["affinity"] = copy.deepcopy(dict(options.affinity))
    if options.tolerations:
        out["tolerations"] = [copy.deepcopy(dict(t)) for t in options.tolerations]
    if options.topology_spread:
        out["topologySpreadConstraints"] = [
            {"labelSelector": {"matchLabels": dict(selector)}, **copy.deepcopy(dict(c))}
            for c in options.topology_spread
        ]
    if options.priority_class:
        out["priorityClassName"] = options.priority_class
    if options.image_pull_secrets:
        out["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    return out


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")


def cpu_cores(quantity: str | None) -> float | None:
    """A CPU quantity ("250m", "1", "1.5") in cores; None when absent or not a plain CPU amount."""
    match = _CPU.match((quantity or "").strip())
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2) else value


def process_count_env(resources: Resources, variable: str, per_cpu: int) -> list[Obj]:
    """Size the container's process pool when its cgroup cannot tell.

    With a CPU limit the processes read it from their cgroup (picsource_core.cpus). Without
    one (the default: requests only) they would see every core of the node, and 2 gunicorn
    workers per core of a 64-core node do not fit a 512Mi memory limit; the CPU request,
    rounded up, sizes the pool instead.
    """
    if cpu_cores(resources.limits.get("cpu")) is not None:
        return []
    request = cpu_cores(resources.requests.get("cpu"))
    if request is None:
        return []
    return [{"name": variable, "value": str(per_cpu * max(1, math.ceil(request)))}]


def env_from(g: Gallery) -> list[Obj]:
    return [{"configMapRef": {"name": config_name(g)}}]


def container_security_context() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": constants.RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": constants.RUN_AS_USER,
        "runAsGroup": constants.RUN_AS_USER,
        "fsGroup": constants.RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> tuple[Obj, Obj]:
    """(volume, mount) for the writable /tmp the read-only root filesystem needs."""
    return (
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "mountPath": "/tmp"},
    )


def http_probe(path: str, port: str, *, period: int, failures: int, initial: int = 0) -> Obj:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }
