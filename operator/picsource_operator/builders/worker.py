"""The analysis worker Deployment.

Workers take no traffic, so they expose only their metrics port (which also
answers /healthz for the liveness probe). The replica count is an argument:
fixed from the spec, or the autoscaler's latest decision.
"""

from __future__ import annotations

import math

from picsource_operator import constants, knobs
from picsource_operator.builders import pods
from picsource_operator.builders.common import (
    WORKER,
    Obj,
    labels,
    metadata,
    selector_labels,
    worker_name,
)
from picsource_operator.spec import Gallery


def concurrency_env(g: Gallery) -> list[Obj]:
    """WORKER_CONCURRENCY: one analysis process per CPU, but no more than the memory limit holds.

    The CPU figure is the request's (pods.process_count_env) or, with a CPU limit, the one
    the worker reads from its cgroup (rounded up); the variable is set whenever the
    memory limit holds fewer processes than that, so a worker is never sized into an OOM kill.
    """
    by_cpu = pods.process_count_env(g.worker.resources, "WORKER_CONCURRENCY", per_cpu=1)
    fit = knobs.processes_that_fit(g.worker.resources.limits.get("memory"), g.worker.analysis.ocr)
    if fit is None:
        return by_cpu
    fit = max(1, fit)  # spec.py refuses a limit that holds none
    limit = pods.cpu_cores(g.worker.resources.limits.get("cpu"))
    cpus = int(by_cpu[0]["value"]) if by_cpu else (math.ceil(limit) if limit is not None else None)
    if cpus is not None and cpus <= fit:
        return by_cpu
    return [{"name": "WORKER_CONCURRENCY", "value": str(fit if cpus is None else min(cpus, fit))}]


def build_worker_deployment(g: Gallery, config_hash: str, replicas: int,
                            secrets_hash: str | None = None) -> Obj:
    volume, mount = pods.tmp_volume()
    container: Obj = {
        "name": "worker",
        "image": g.worker.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "metrics", "containerPort": constants.WORKER_METRICS_PORT, "protocol": "TCP"},
        ],
        "envFrom": pods.env_from(g),
        "env": [
            *pods.env(g),
            {"name": "WORKER_METRICS_PORT", "value": str(constants.WORKER_METRICS_PORT)},
            {"name": "WORKER_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *concurrency_env(g),
        ],
        "resources": g.worker.resources.as_dict(),
        "livenessProbe": pods.http_probe("/healthz", "metrics", period=15, failures=4, initial=10),
        "readinessProbe": pods.http_probe("/healthz", "metrics", period=10, failures=3),
        "securityContext": pods.container_security_context(),
        "volumeMounts": [mount],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(g, worker_name(g), WORKER),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(g, WORKER)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": pods.template_metadata(
                    labels(g, WORKER),
                    {"prometheus.io/scrape": "true", "prometheus.io/port": str(constants.WORKER_METRICS_PORT)},
                    g.worker.pods, pods.template_annotations(config_hash, secrets_hash)),
                "spec": {
                    **pods.placement(g.worker.pods, selector_labels(g, WORKER)),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    # Long enough to finish (or release) the job in hand on SIGTERM.
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": pods.pod_security_context(),
                    "containers": [container],
                    "volumes": [volume],
                },
            },
        },
    }
