"""Every child object of a Gallery, in the order they are applied.

Configuration first (pods reference it), then workloads, then what routes to
them. The Ingress is absent without a host; the reconciler deletes a leftover one.
"""

from __future__ import annotations

from picsource_operator.builders.common import Obj
from picsource_operator.builders.config import build_app_secret, build_configmap, config_hash
from picsource_operator.builders.network import (
    build_web_network_policy,
    build_worker_network_policy,
)
from picsource_operator.builders.web import (
    build_ingress,
    build_web_deployment,
    build_web_pdb,
    build_web_service,
)
from picsource_operator.builders.worker import build_worker_deployment
from picsource_operator.egress import Egress
from picsource_operator.spec import Gallery

__all__ = ["build_all", "config_hash"]


def build_all(g: Gallery, *, secret_key: str, worker_replicas: int, web_replicas: int | None = None,
              egress: Egress | None = None, secrets_hash: str | None = None) -> list[Obj]:
    """`secrets_hash`: digest of the referenced Secrets' data (see credentials.py);
    `egress`: where the pods may connect (see egress.py; None: the storage endpoint only);
    `web_replicas`: the web autoscaler's decision (None: spec.web.replicas)."""
    digest = config_hash(g)
    objects = [
        build_app_secret(g, secret_key),
        build_configmap(g),
        build_web_deployment(g, digest, secrets_hash, web_replicas),
        build_worker_deployment(g, digest, worker_replicas, secrets_hash),
        build_web_service(g),
        build_web_pdb(g),
        build_web_network_policy(g, egress),
        build_worker_network_policy(g, egress),
    ]
    ingress = build_ingress(g)
    if ingress is not None:
        objects.append(ingress)
    return objects
