"""The operator's own settings, read once from the environment at start-up.

Everything about a *gallery* comes from its Gallery resource; these are the few
knobs of the operator process itself (ports, default images, timing).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from picsource_core.config import ConfigurationError, Env
from picsource_operator import constants
from picsource_operator.leader import LeaseTiming


@dataclass(frozen=True)
class OperatorSettings:
    # Port of the Prometheus /metrics endpoint.
    metrics_port: int = constants.OPERATOR_METRICS_PORT
    # Images used when a Gallery names none (the chart pins them to its appVersion).
    web_image: str = constants.DEFAULT_WEB_IMAGE
    worker_image: str = constants.DEFAULT_WORKER_IMAGE
    # Seconds between re-verifications of bindings that are currently fine.
    binding_recheck_seconds: float = 60.0
    # Threads for the synchronous reconcile work (kopf's executor).
    max_workers: int = 16
    # Bound on one backup or restore; past it the run fails with DeadlineExceeded.
    backup_timeout_seconds: float = 3600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OperatorSettings:
        env = Env(environ)
        return cls(
            metrics_port=env.int("PICSOURCE_OPERATOR_METRICS_PORT", constants.OPERATOR_METRICS_PORT,
                                 minimum=0, maximum=65535),
            web_image=env.str("PICSOURCE_WEB_IMAGE", constants.DEFAULT_WEB_IMAGE),
            worker_image=env.str("PICSOURCE_WORKER_IMAGE", constants.DEFAULT_WORKER_IMAGE),
            binding_recheck_seconds=env.float("PICSOURCE_OPERATOR_BINDING_RECHECK_SECONDS", 60.0,
                                              minimum=1, maximum=3600),
            max_workers=env.int("PICSOURCE_OPERATOR_MAX_WORKERS", 16, minimum=1, maximum=256),
            backup_timeout_seconds=env.float("PICSOURCE_OPERATOR_BACKUP_TIMEOUT_SECONDS", 3600.0,
                                             minimum=10, maximum=86400),
        )


_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def watch_namespaces(env: Env, name: str = "PICSOURCE_WATCH_NAMESPACES") -> tuple[str, ...]:
    """The namespaces to watch ("a,b,c"); empty means every namespace (cluster-wide)."""
    raw = env.raw(name)
    if raw is None:
        return ()
    found: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not _NAMESPACE.match(item):
            raise ConfigurationError(name, f"must be a comma-separated list of namespace names, got {item!r}")
        if item not in found:
            found.append(item)
    return tuple(found)


@dataclass(frozen=True)
class LaunchSettings:
    """How the process runs (read by `python -m picsource_operator` before Kopf starts)."""

    # Namespaces to watch; () watches all of them (kopf --all-namespaces).
    namespaces: tuple[str, ...] = ()
    # Take part in leader election (several replicas, one active).
    leader_election: bool = False
    # The Lease: in the operator's own namespace, named after the release.
    lease_namespace: str = "default"
    lease_name: str = "picsource-operator"
    # This process in the Lease's holderIdentity (the pod name in a cluster).
    identity: str = ""
    timing: LeaseTiming = LeaseTiming()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LaunchSettings:
        env = Env(environ)
        lease = env.float("PICSOURCE_OPERATOR_LEASE_SECONDS", 8.0, minimum=2, maximum=300)
        renew = env.float("PICSOURCE_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS", round(lease * 0.6, 1),
                          minimum=1, maximum=300)
        retry = env.float("PICSOURCE_OPERATOR_LEASE_RETRY_SECONDS", min(2.0, renew / 3),
                          minimum=0.2, maximum=60)
        if not retry < renew < lease:
            raise ConfigurationError(
                "PICSOURCE_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS",
                f"must lie between PICSOURCE_OPERATOR_LEASE_RETRY_SECONDS ({retry:g}) and "
                f"PICSOURCE_OPERATOR_LEASE_SECONDS ({lease:g}), got {renew:g}")
        return cls(
            namespaces=watch_namespaces(env),
            leader_election=env.bool("PICSOURCE_OPERATOR_LEADER_ELECTION", False),
            lease_namespace=env.str("POD_NAMESPACE", "default"),
            lease_name=env.str("PICSOURCE_OPERATOR_LEASE_NAME", "picsource-operator"),
            identity=env.str("POD_ID", f"{socket.gethostname()}-{os.getpid()}"),
            timing=LeaseTiming(lease, renew, retry),
        )
