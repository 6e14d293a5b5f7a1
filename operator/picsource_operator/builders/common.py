"""Names, labels and owner references shared by every child object of a Gallery.

Every child carries the standard `app.kubernetes.io/*` labels (so kubectl,
dashboards and the operator's own watches can find it) and an owner reference
to its Gallery (so garbage collection removes it and drift handlers know whom
to reconcile).
"""

from __future__ import annotations

from typing import Any

from picsource_operator import constants
from picsource_operator.spec import Gallery

Obj = dict[str, Any]

WEB = "web"
WORKER = "worker"


def web_name(g: Gallery) -> str:
    return f"{g.name}-web"


def worker_name(g: Gallery) -> str:
    return f"{g.name}-worker"


def config_name(g: Gallery) -> str:
    return f"{g.name}-config"


def app_secret_name(g: Gallery) -> str:
    return f"{g.name}-app"


def selector_labels(g: Gallery, component: str) -> dict[str, str]:
    """The immutable subset used in Deployment selectors and Service selectors."""
    return {
        "app.kubernetes.io/name": constants.PART_OF,
        "app.kubernetes.io/instance": g.name,
        "app.kubernetes.io/component": component,
    }


def labels(g: Gallery, component: str) -> dict[str, str]:
    return {
        **selector_labels(g, component),
        "app.kubernetes.io/managed-by": constants.MANAGED_BY,
        "app.kubernetes.io/part-of": constants.PART_OF,
        "app.kubernetes.io/version": constants.APP_VERSION,
    }


def owner_reference(g: Gallery) -> Obj:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": g.name,
        "uid": g.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(g: Gallery, name: str, component: str, **extra: Any) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": g.namespace,
        "labels": labels(g, component),
        "ownerReferences": [owner_reference(g)],
    }
    meta.update(extra)
    return meta
