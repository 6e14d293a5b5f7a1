"""NetworkPolicies: each part of a gallery may talk only to what it needs.

Web accepts HTTP from anywhere (the Ingress controller lives elsewhere) and
metrics scrapes; workers accept only metrics scrapes. Both may reach the cluster's
DNS (the kube-dns pods, not any address on port 53) and the gallery's MongoDB and S3
endpoints, pinned as `picsource_operator.egress` decides (a Service's pods, an IP,
or the Gallery's egressCIDRs).
"""

from __future__ import annotations

from picsource_operator.builders.common import (
    WEB,
    WORKER,
    Obj,
    metadata,
    selector_labels,
    web_name,
    worker_name,
)
from picsource_operator.egress import NAMESPACE_LABEL, Egress, plan
from picsource_operator.spec import Gallery

# The cluster DNS as kubeadm, kind, GKE, EKS and AKS label it (CoreDNS keeps the kube-dns name).
DNS_PEER: Obj = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


def _egress(g: Gallery, egress: Egress | None) -> list[Obj]:
    dns = {"to": [DNS_PEER], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    stores = egress if egress is not None else plan(g, None, {})
    return [dns, *stores.rules]


def build_web_network_policy(g: Gallery, egress: Egress | None = None) -> Obj:
    """`egress`: the stores' plan (None: the storage endpoint alone, as pinned from the spec)."""
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
            "egress": _egress(g, egress),
        },
    }


def build_worker_network_policy(g: Gallery, egress: Egress | None = None) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(g, worker_name(g), WORKER),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(g, WORKER)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": "metrics", "protocol": "TCP"}]}],
            "egress": _egress(g, egress),
        },
    }
