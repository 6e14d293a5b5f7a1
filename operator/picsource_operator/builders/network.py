"""NetworkPolicies: each part of a gallery may talk only to what it needs.

Web accepts HTTP from anywhere (the Ingress controller lives elsewhere) and
metrics scrapes; workers accept only metrics scrapes. Both may reach DNS, the
MongoDB port(s) and the object store port; destinations are not pinned to
addresses because the stores may live outside the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable

from picsource_operator.builders.common import (
    WEB,
    WORKER,
    Obj,
    metadata,
    selector_labels,
    web_name,
    worker_name,
)
from picsource_operator.spec import Gallery


def _egress(g: Gallery, mongo_ports: Iterable[int]) -> list[Obj]:
    dns = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    stores = sorted({*mongo_ports, g.storage.port})
    return [
        {"ports": dns},
        {"ports": [{"port": p, "protocol": "TCP"} for p in stores]},
    ]


def build_web_network_policy(g: Gallery, mongo_ports: Iterable[int] = (27017,)) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(g, web_name(g), WEB),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(g, WEB)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"ports": [{"port": "http", "protocol": "TCP"}]},
                {"ports": [{"port": "metrics", "protocol": "TCP"}]},
            ],
            "egress": _egress(g, mongo_ports),
        },
    }


def build_worker_network_policy(g: Gallery, mongo_ports: Iterable[int] = (27017,)) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(g, worker_name(g), WORKER),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(g, WORKER)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": "metrics", "protocol": "TCP"}]}],
            "egress": _egress(g, mongo_ports),
        },
    }


def mongo_ports(uri: str) -> list[int]:
    """TCP ports named in a mongodb:// URI (27017 when absent or for mongodb+srv)."""
    if uri.startswith("mongodb+srv://"):
        return [27017]
    rest = uri.split("://", 1)[-1]
    hosts = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    ports: set[int] = set()
    for host in hosts.split(","):
        host = host.strip()
        if not host:
            continue
        tail = host.rsplit("]", 1)[-1] if host.startswith("[") else host
        if ":" in tail:
            try:
                ports.add(int(tail.rsplit(":", 1)[1]))
                continue
            except ValueError:
                pass
        ports.add(27017)
    return sorted(ports) or [27017]


