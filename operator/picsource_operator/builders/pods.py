"""Pod-template pieces shared by the web and worker Deployments.

Both run as a non-root user with a read-only root filesystem (writable /tmp as
an emptyDir), drop every capability and take their configuration from the
gallery's ConfigMap plus secretKeyRefs, so no credential is ever copied into a
ConfigMap or an annotation.
"""

from __future__ import annotations

from picsource_operator import constants
from picsource_operator.builders.common import Obj, app_secret_name, config_name
from picsource_operator.spec import Gallery


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
