"""Where a gallery's pods may connect: its MongoDB and S3 endpoints, pinned to addresses.

Why: "any address on port 27017" lets a compromised web or worker pod reach every database
in the world that listens there. Each endpoint is pinned instead, by what its host is:

* an in-cluster Service name (``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``) → the
  Service's pods (``namespaceSelector`` + ``podSelector`` peers) on its *target* port.
  Not its ClusterIP: NetworkPolicy is enforced on the address a packet finally goes to,
  which for a Service is the backing pod after kube-proxy's (or the CNI's) DNAT, so an
  ipBlock of the ClusterIP would match nothing on real CNI plugins;
* an IP literal → an ``ipBlock`` of that one address (/32, /128);
* anything else (an external DNS name, an ExternalName or selector-less Service, a Service
  that does not exist) → ``spec.network.egressCIDRs`` when the Gallery names them. A DNS
  name's addresses change under the operator, so it never resolves one itself. Without
  CIDRs the endpoint stays reachable on its port at any address (a gallery must keep
  working), and ``EgressPinned=False/EgressNotPinned`` plus a Warning Event say so,
  naming the endpoint and the field that fixes it.

Pure: the Services are read by the reconcile edge (``bindings.read_services``) and passed in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from picsource_operator.conditions import EGRESS_PINNED, FALSE, TRUE, Condition, unknown
from picsource_operator.spec import Gallery

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
MONGO_PORT = 27017
Obj = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """One host:port a gallery's pods connect to; `what` is "storage" or "database"."""

    what: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.what} {host}:{self.port}"


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str
    # True for `svc.ns.svc[.domain]`: certainly a Service. `svc` and `svc.ns` may also be
    # external names (pods try the cluster's search domains first, then the name itself).
    explicit: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Egress:
    """The NetworkPolicy egress rules for a gallery's stores, and how each one was pinned."""

    rules: tuple[Obj, ...] = ()
    pinned: tuple[str, ...] = ()
    unpinned: tuple[str, ...] = ()
    missing: tuple[str, ...] = field(default=())  # endpoints not known yet (e.g. no URI)

    def condition(self) -> Condition:
        if self.unpinned:
            return Condition(EGRESS_PINNED, FALSE, "EgressNotPinned", "; ".join(self.unpinned)[:1000])
        if self.missing:
            return unknown(EGRESS_PINNED, "EndpointUnknown",
                           f"not known yet: {', '.join(self.missing)}; pods cannot start without it")
        return Condition(EGRESS_PINNED, TRUE, "EgressPinned", "; ".join(self.pinned)[:1000])


# --- endpoints ------------------------------------------------------------------------
def storage_endpoint(g: Gallery) -> Endpoint:
    return Endpoint("storage", (urlsplit(g.storage.endpoint).hostname or "").lower(), g.storage.port)


def database_endpoints(uri: str) -> list[Endpoint]:
    """Every host:port a mongodb:// URI names (27017 when absent, and for mongodb+srv,
    whose SRV record names the real hosts: an external name that needs egressCIDRs)."""
    rest = uri.split("://", 1)[-1]
    hosts = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    found: list[Endpoint] = []
    for part in hosts.split(","):
        part = unquote(part.strip())
        if not part:
            continue
        host, port = part, MONGO_PORT
        if part.startswith("["):
            host, _, tail = part[1:].partition("]")
            if tail.startswith(":"):
                port = _tcp_port(tail[1:]) or MONGO_PORT
        elif part.count(":") == 1:
            name, _, digits = part.partition(":")
            host, port = name, _tcp_port(digits) or MONGO_PORT
        endpoint = Endpoint("database", host.lower(), port)
        if endpoint not in found:
            found.append(endpoint)
    return found


def _tcp_port(text: str) -> int | None:
    """1-65535 in ASCII digits, else None: the URI comes from a user's Secret, and
    "²".isdigit() is true while int("²") raises (a bad URI is the binding check's to report)."""
    if text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535:
        return int(text)
    return None


def service_ref(host: str, namespace: str) -> ServiceRef | None:
    """The Service an in-cluster name means: `svc` (the gallery's namespace), `svc.ns`,
    `svc.ns.svc`, `svc.ns.svc.<cluster domain>`; None for anything else."""
    labels = host.rstrip(".").split(".")
    if not all(labels) or _ip(host) is not None:
        return None
    if len(labels) == 1:
        return ServiceRef(namespace, labels[0])
    if len(labels) == 2:
        return ServiceRef(labels[1], labels[0])
    if labels[2] == "svc":
        return ServiceRef(labels[1], labels[0], explicit=True)
    return None


def service_refs(endpoints: Iterable[Endpoint], namespace: str) -> list[ServiceRef]:
    """The Services the reconcile edge should read for these endpoints."""
    refs: list[ServiceRef] = []
    for ep in endpoints:
        ref = service_ref(ep.host, namespace)
        if ref is not None and ref not in refs:
            refs.append(ref)
    return refs


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# --- the plan -------------------------------------------------------------------------
def _rule(peers: Sequence[Obj] | None, port: int | str) -> Obj:
    rule: Obj = {"ports": [{"port": port, "protocol": "TCP"}]}
    if peers is not None:
        rule = {"to": list(peers), **rule}
    return rule


def _service_rule(svc: Mapping[str, Any], ref: ServiceRef, port: int) -> tuple[Obj | None, str]:
    """Pods behind Service `ref` on the target port of its port `port`, or why not."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None, f"Service {ref} is an ExternalName for {spec.get('externalName')!r}"
    selector = spec.get("selector") or {}
    if not selector:
        return None, f"Service {ref} has no selector (its endpoints are not pods the operator can name)"
    for entry in spec.get("ports") or []:
        if int(entry.get("port") or 0) == port and (entry.get("protocol") or "TCP") == "TCP":
            target = entry.get("targetPort") or port
            peer = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: ref.namespace}},
                    "podSelector": {"matchLabels": dict(selector)}}
            return _rule([peer], target), f"pods of Service {ref} (port {target})"
    return None, f"Service {ref} has no TCP port {port}"


def _destination(ep: Endpoint, services: Mapping[ServiceRef, Mapping[str, Any] | None],
                 namespace: str, cidrs: Sequence[str]) -> tuple[Obj, str, bool]:
    """(rule, description, pinned) for one endpoint."""
    ip = _ip(ep.host)
    if ip is not None:
        cidr = f"{ip}/{ip.max_prefixlen}"
        return _rule([{"ipBlock": {"cidr": cidr}}], ep.port), f"{ep} → {cidr}", True
    why = "an external name the operator does not resolve"
    ref = service_ref(ep.host, namespace)
    if ref is not None and ref in services:
        svc = services[ref]
        if svc is not None:
            rule, why = _service_rule(svc, ref, ep.port)
            if rule is not None:
                return rule, f"{ep} → {why}", True
        elif ref.explicit:
            why = f"Service {ref} not found"
    elif ref is not None and ref.explicit:
        why = f"Service {ref} could not be read"
    if cidrs:
        peers = [{"ipBlock": {"cidr": c}} for c in cidrs]
        return _rule(peers, ep.port), f"{ep} → spec.network.egressCIDRs", True
    return (_rule(None, ep.port),
            f"{ep}: {why}; reachable at any address on port {ep.port} until "
            "spec.network.egressCIDRs names its addresses", False)


def plan(g: Gallery, database: Sequence[Endpoint] | None,
         services: Mapping[ServiceRef, Mapping[str, Any] | None]) -> Egress:
    """The egress plan for a gallery. `database`: the URI's endpoints, None when the URI
    is not readable yet; `services`: each ServiceRef read (None = it does not exist;
    absent = it could not be read)."""
    endpoints = [storage_endpoint(g), *(database or [])]
    rules: list[Obj] = []
    pinned: list[str] = []
    unpinned: list[str] = []
    for ep in endpoints:
        rule, text, ok = _destination(ep, services, g.namespace, g.network.egress_cidrs)
        if rule not in rules:
            rules.append(rule)
        (pinned if ok else unpinned).append(text)
    return Egress(tuple(rules), tuple(pinned), tuple(unpinned),
                  () if database is not None else ("the database URI",))
