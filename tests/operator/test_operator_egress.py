"""Egress pinning (#14 item 11), pure: which peers each store endpoint gets in the
NetworkPolicies, and the EgressPinned condition that says what could not be pinned."""

from __future__ import annotations

import pytest
from operator_samples import gallery_body

from picsource_operator.builders import build_all
from picsource_operator.builders.network import DNS_PEER
from picsource_operator.conditions import FALSE, TRUE, UNKNOWN, phase
from picsource_operator.egress import (
    NAMESPACE_LABEL,
    Endpoint,
    ServiceRef,
    database_endpoints,
    plan,
    service_ref,
    service_refs,
    storage_endpoint,
)
from picsource_operator.spec import SpecError, parse_gallery

MINIO = ServiceRef("storage", "minio")
MONGO = ServiceRef("db", "mongo")


def service(selector=None, port=9000, target=None, **spec):
    ports = [{"name": "s3", "port": port, "protocol": "TCP", **({"targetPort": target} if target else {})}]
    return {"kind": "Service", "spec": {**({"selector": selector} if selector is not None else {}),
                                        "ports": ports, **spec}}


def gallery(endpoint="http://minio.storage.svc:9000", cidrs=None):
    spec = {"storage": {"endpoint": endpoint, "credentialsSecretRef": {"name": "s3"}, "bucket": "b"}}
    if cidrs is not None:
        spec["network"] = {"egressCIDRs": cidrs}
    return parse_gallery(gallery_body(**spec))


def store_rules(g, uri, services):
    """The NetworkPolicy egress rules of both pods, minus DNS (checked to be identical)."""
    objs = build_all(g, secret_key="k" * 48, worker_replicas=1, egress=plan(g, database_endpoints(uri), services))
    policies = [o["spec"]["egress"] for o in objs if o["kind"] == "NetworkPolicy"]
    assert len(policies) == 2 and policies[0] == policies[1]
    dns, *rest = policies[0]
    assert dns["to"] == [DNS_PEER]
    return rest


def test_a_service_endpoint_is_pinned_to_the_services_pods_on_its_target_port():
    services = {MINIO: service({"app": "minio", "tier": "s3"}, 9000, "s3-api"),
                MONGO: service({"app": "mongo"}, 27017, 27018)}
    rules = store_rules(gallery(), "mongodb://u:p@mongo.db.svc.cluster.local:27017/x", services)
    assert rules == [
        {"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "storage"}},
                 "podSelector": {"matchLabels": {"app": "minio", "tier": "s3"}}}],
         "ports": [{"port": "s3-api", "protocol": "TCP"}]},
        {"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "db"}},
                 "podSelector": {"matchLabels": {"app": "mongo"}}}],
         "ports": [{"port": 27018, "protocol": "TCP"}]},
    ]
    cond = plan(gallery(), database_endpoints("mongodb://mongo.db.svc.cluster.local"), services).condition()
    assert (cond.status, cond.reason) == (TRUE, "EgressPinned")
    assert "pods of Service storage/minio" in cond.message and "pods of Service db/mongo" in cond.message


def test_ip_literals_become_single_address_blocks():
    rules = store_rules(gallery("http://10.1.2.3:9000"), "mongodb://[fd00::5]:27020,10.1.2.4/x", {})
    assert [r["to"] for r in rules] == [[{"ipBlock": {"cidr": "10.1.2.3/32"}}],
                                        [{"ipBlock": {"cidr": "fd00::5/128"}}],
                                        [{"ipBlock": {"cidr": "10.1.2.4/32"}}]]
    assert [r["ports"][0]["port"] for r in rules] == [9000, 27020, 27017]


def test_external_names_go_to_the_galleries_egress_cidrs():
    g = gallery("https://s3.example.com", cidrs=["203.0.113.0/24", "2001:db8::/32"])
    rules = store_rules(g, "mongodb+srv://cluster0.example.net/db", {})
    blocks = [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "2001:db8::/32"}}]
    assert rules == [{"to": blocks, "ports": [{"port": 443, "protocol": "TCP"}]},
                     {"to": blocks, "ports": [{"port": 27017, "protocol": "TCP"}]}]
    assert plan(g, database_endpoints("mongodb+srv://cluster0.example.net/db"), {}).condition().status == TRUE


def test_an_endpoint_that_cannot_be_pinned_is_reported_not_silently_opened():
    g = gallery("https://s3.example.com")
    egress = plan(g, database_endpoints("mongodb://db.example.net:27017"), {})
    cond = egress.condition()
    assert (cond.status, cond.reason) == (FALSE, "EgressNotPinned")
    assert "storage s3.example.com:443" in cond.message and "database db.example.net:27017" in cond.message
    assert "spec.network.egressCIDRs" in cond.message
    # The gallery keeps working (its port stays open), and the condition says so.
    assert {r["ports"][0]["port"] for r in egress.rules if "to" not in r} == {443, 27017}
    assert phase([cond]) == "Ready", "advisory: never holds back the phase"


@pytest.mark.parametrize(("svc", "why"), [
    (None, "Service storage/minio not found"),
    (service(None), "has no selector"),
    (service({"app": "x"}, type="ExternalName", externalName="s3.example.com"), "ExternalName"),
    (service({"app": "minio"}, port=9999), "has no TCP port 9000"),
])
def test_services_the_operator_cannot_name_pods_for_are_not_pinned(svc, why):
    cond = plan(gallery(), [], {MINIO: svc}).condition()
    assert cond.status == FALSE and why in cond.message
    cidrs = plan(gallery(cidrs=["10.8.0.0/16"]), [], {MINIO: svc})
    assert cidrs.condition().status == TRUE
    assert cidrs.rules[0]["to"] == [{"ipBlock": {"cidr": "10.8.0.0/16"}}]


def test_an_unreadable_database_uri_leaves_egress_unknown():
    cond = plan(gallery(), None, {MINIO: service({"app": "minio"})}).condition()
    assert (cond.status, cond.reason) == (UNKNOWN, "EndpointUnknown")


def test_in_cluster_names_and_the_services_they_mean():
    assert service_ref("minio", "team-a") == ServiceRef("team-a", "minio")
    assert service_ref("minio.storage", "team-a") == ServiceRef("storage", "minio")
    assert service_ref("minio.storage.svc", "team-a") == ServiceRef("storage", "minio")
    assert service_ref("minio.storage.svc.cluster.local", "team-a").explicit
    assert service_ref("s3.eu-west-1.amazonaws.com", "team-a") is None
    assert service_ref("10.0.0.1", "team-a") is None
    # A two-label name may be external: it is looked up, and only a Service found pins it.
    egress = plan(gallery("http://example.com:9000"), [], {ServiceRef("com", "example"): None})
    assert "external name" in egress.condition().message
    assert service_refs([storage_endpoint(gallery()), Endpoint("database", "mongo.db", 1)], "x") == [MINIO, MONGO]


def test_database_endpoints_from_uris():
    assert database_endpoints("mongodb://localhost") == [Endpoint("database", "localhost", 27017)]
    assert database_endpoints("mongodb://u:p%40x@Db-0:27018,db-1:27019/x?replicaSet=rs") == [
        Endpoint("database", "db-0", 27018), Endpoint("database", "db-1", 27019)]
    assert database_endpoints("mongodb://[::1]:27020") == [Endpoint("database", "::1", 27020)]
    assert database_endpoints("mongodb+srv://cluster.example.com/db") == [
        Endpoint("database", "cluster.example.com", 27017)]


@pytest.mark.parametrize("bad", ["10.0.0.1/33", "10.0.0.1/24", "example.com", ""])
def test_a_bad_egress_cidr_is_a_spec_error_naming_the_field(bad):
    with pytest.raises(SpecError, match=r"spec\.network\.egressCIDRs\[1\]"):
        gallery(cidrs=["10.0.0.0/8", bad])
    assert gallery(cidrs=["10.0.0.0/8", "10.0.0.0/8"]).network.egress_cidrs == ("10.0.0.0/8",)


@pytest.mark.parametrize("uri", ["mongodb://db:²", "mongodb://db:٣", "mongodb://[::1]:²", "mongodb://db:99999",
                                 "mongodb://db:0"])
def test_a_port_that_is_not_an_ascii_tcp_port_is_not_read_as_one(uri: str) -> None:
    """The URI comes from a user's Secret: "²".isdigit() is true but int("²") raises, and
    Arabic-Indic digits or 99999 would make a policy the API server refuses."""
    (endpoint,) = database_endpoints(uri)
    assert endpoint.port == 27017
