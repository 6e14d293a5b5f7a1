"""The web tier: Deployment, Service, optional Ingress and PodDisruptionBudget.

Rolling updates keep every serving pod until its replacement is ready
(maxUnavailable 0), and the config-hash annotation on the pod template makes a
spec change roll the pods instead of leaving them on stale configuration.
/metrics and /readyz are answered only on the `metrics` port, which the Ingress
never routes to.
"""

from __future__ import annotations

from picsource_operator import constants, knobs
from picsource_operator.builders import pods
from picsource_operator.builders.common import (
    WEB,
    Obj,
    labels,
    metadata,
    selector_labels,
    web_name,
)
from picsource_operator.spec import Gallery

# Seconds a terminating web pod keeps serving before gunicorn gets SIGTERM; the grace
# period (30 s) covers it plus gunicorn's graceful timeout (20 s).
WEB_DRAIN_SECONDS = 5


def build_web_deployment(g: Gallery, config_hash: str, secrets_hash: str | None = None,
                         replicas: int | None = None) -> Obj:
    """`replicas`: the web autoscaler's decision (None: spec.web.replicas)."""
    volume, mount = pods.tmp_volume()
    container: Obj = {
        "name": "web",
        "image": g.web.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": constants.WEB_HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": constants.WEB_METRICS_PORT, "protocol": "TCP"},
        ],
        "envFrom": pods.env_from(g),
        "env": [
            *pods.env(g),
            {"name": "WEB_BIND", "value": f"0.0.0.0:{constants.WEB_HTTP_PORT}"},
            # Gunicorn binds this port too, and only it answers /metrics and /readyz:
            # the Ingress routes the `http` port, so neither is reachable from outside.
            {"name": "WEB_INTERNAL_PORT", "value": str(constants.WEB_METRICS_PORT)},
            {"name": "PROMETHEUS_MULTIPROC_DIR", "value": "/tmp/prometheus"},
            *pods.process_count_env(g.web.resources, "WEB_WORKERS", per_cpu=2),
        ],
        "resources": g.web.resources.as_dict(),
        "livenessProbe": pods.http_probe("/healthz", "http", period=10, failures=3, initial=5),
        "readinessProbe": pods.http_probe("/readyz", "metrics", period=5, failures=2),
        "startupProbe": pods.http_probe("/healthz", "http", period=2, failures=30),
        "securityContext": pods.container_security_context(),
        "volumeMounts": [mount],
        # Serve on while the endpoint removal reaches kube-proxy, then SIGTERM: without
        # the pause a rolling update resets a few connections (seen on a real node).
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(WEB_DRAIN_SECONDS)]}}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(g, web_name(g), WEB),
        "spec": {
            "replicas": g.web.replicas if replicas is None else replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(g, WEB)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": pods.template_metadata(
                    labels(g, WEB),
                    {"prometheus.io/scrape": "true", "prometheus.io/port": str(constants.WEB_METRICS_PORT)},
                    g.web.pods, pods.template_annotations(config_hash, secrets_hash)),
                "spec": {
                    **pods.placement(g.web.pods, selector_labels(g, WEB)),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pods.pod_security_context(),
                    "containers": [container],
                    "volumes": [volume],
                },
            },
        },
    }


def build_web_service(g: Gallery) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(g, web_name(g), WEB),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(g, WEB),
            "ports": [
                {"name": "http", "port": constants.SERVICE_HTTP_PORT, "targetPort": "http",
                 "protocol": "TCP"},
                {"name": "metrics", "port": constants.WEB_METRICS_PORT, "targetPort": "metrics",
                 "protocol": "TCP"},
            ],
        },
    }


def build_ingress(g: Gallery) -> Obj | None:
    """The Ingress for `web.ingress.host`, or None when no host is set."""
    ing = g.web.ingress
    if ing is None:
        return None
    spec: Obj = {
        "rules": [{
            "host": ing.host,
            "http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": web_name(g), "port": {"name": "http"}}},
            }]},
        }],
    }
    if ing.class_name:
        spec["ingressClassName"] = ing.class_name
    if ing.tls_secret_name:
        spec["tls"] = [{"hosts": [ing.host], "secretName": ing.tls_secret_name}]
    # The admin's annotations win; the body-size defaults let the web tier's largest upload
    # request through controllers that would cut it off at 1 MiB (knobs.BODY_SIZE_ANNOTATIONS).
    annotations = {**knobs.body_size_annotations(g.limits.max_upload_bytes), **ing.annotations}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(g, g.name, WEB, annotations=annotations),
        "spec": spec,
    }


def build_web_pdb(g: Gallery) -> Obj:
    """At most one web pod voluntarily evicted at a time (never blocks a one-replica drain)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(g, web_name(g), WEB),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(g, WEB)},
        },
    }


def gallery_url(g: Gallery) -> str:
    """Public URL when an Ingress host is set, otherwise the in-cluster Service URL."""
    if g.web.ingress is not None:
        scheme = "https" if g.web.ingress.tls_secret_name else "http"
        return f"{scheme}://{g.web.ingress.host}/"
    return f"http://{web_name(g)}.{g.namespace}.svc"
