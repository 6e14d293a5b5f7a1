"""Egress pinning (#14 item 11) against the real API server: a Gallery bound to in-cluster
Services gets NetworkPolicies whose store rules name exactly those Services' pods, and
follows a Service whose selector changes.

The stores' names do not resolve on the test host, so both bindings stay False here
(a failing binding does not stop the children from being applied); what is checked is
the policies the operator writes and the EgressPinned condition.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

POLICY = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}"


def service(env: Env, name: str, selector: dict[str, str], port: int, target: int | str) -> None:
    env.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": env.namespace},
        "spec": {"selector": selector, "ports": [{"name": "p", "port": port, "targetPort": target}]}}))


def store_rules(env: Env, name: str) -> list[dict[str, Any]]:
    policy = env.obj(POLICY.format(ns="{ns}", name=name)) or {}
    return [r for r in (policy.get("spec") or {}).get("egress") or []
            if {p["port"] for p in r["ports"]} != {53}]


def pods_of(env: Env, selector: dict[str, str], port: int | str) -> dict[str, Any]:
    return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": env.namespace}},
                    "podSelector": {"matchLabels": selector}}],
            "ports": [{"port": port, "protocol": "TCP"}]}


def test_a_gallery_bound_to_services_may_reach_only_their_pods(gallery_env: Env,
                                                               running_operator: OperatorProcess) -> None:
    env = gallery_env
    service(env, "objects", {"app": "objects"}, 9000, "s3")
    service(env, "docs", {"app": "docs"}, 27017, 27018)
    doc = env.gallery("pinned")
    doc["spec"]["storage"]["endpoint"] = f"http://objects.{env.namespace}.svc:9000"
    env.secret("pinned-mongo", {"uri": f"mongodb://docs.{env.namespace}.svc:27017/?connectTimeoutMS=500"})
    env.apply(doc)

    want = [pods_of(env, {"app": "objects"}, "s3"), pods_of(env, {"app": "docs"}, 27018)]
    for name in ("pinned-web", "pinned-worker"):
        wait_until(lambda n=name: store_rules(env, n) == want, 60, f"{name}'s egress pinned to the pods")
        dns = [r for r in (env.obj(POLICY.format(ns="{ns}", name=name)) or {})["spec"]["egress"]
               if r not in want]
        assert dns == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
    cond = env.wait_condition("pinned", "EgressPinned", "True", timeout=30)
    assert f"pods of Service {env.namespace}/objects" in cond["message"]

    # The Service now selects other pods: the policy follows at the next binding check.
    service(env, "objects", {"app": "objects-v2"}, 9000, "s3")
    moved = [pods_of(env, {"app": "objects-v2"}, "s3"), want[1]]
    wait_until(lambda: store_rules(env, "pinned-web") == moved, 60, "the egress to follow the Service")


def test_an_external_name_without_cidrs_is_reported_and_cidrs_pin_it(gallery_env: Env,
                                                                     running_operator: OperatorProcess) -> None:
    env = gallery_env
    doc = env.gallery("outside")
    doc["spec"]["storage"]["endpoint"] = "https://s3.invalid"
    env.apply(doc)
    cond = env.wait_condition("outside", "EgressPinned", "False", timeout=60, reason="EgressNotPinned")
    assert "storage s3.invalid:443" in cond["message"] and "spec.network.egressCIDRs" in cond["message"]
    wait_until(lambda: any(e["reason"] == "EgressPinnedFalse" and e["type"] == "Warning"
                           for e in env.events("outside")), 30, "a Warning Event about unpinned egress")

    doc["spec"]["network"] = {"egressCIDRs": ["198.51.100.0/24"]}
    env.apply(doc)
    env.wait_condition("outside", "EgressPinned", "True", timeout=60)
    s3 = {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
    wait_until(lambda: s3 in store_rules(env, "outside-web"), 30, "the S3 rule to use the CIDR")
