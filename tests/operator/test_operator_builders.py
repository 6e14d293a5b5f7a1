"""Pure builders: every child object of a Gallery, checked without a cluster."""

from __future__ import annotations

import base64

import pytest
from operator_samples import gallery_body

from picsource_operator import constants
from picsource_operator.builders import build_all, config_hash
from picsource_operator.builders.config import build_app_secret, config_data, generate_secret_key
from picsource_operator.builders.web import build_ingress, build_web_deployment, gallery_url
from picsource_operator.egress import ServiceRef, database_endpoints, plan
from picsource_operator.spec import parse_gallery

KEY = "k" * 48


def objects(**spec):
    return build_all(parse_gallery(gallery_body(**spec)), secret_key=KEY, worker_replicas=1)


def by_kind(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found[0]


def test_minimal_gallery_builds_every_child_with_owner_and_labels():
    objs = objects()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "NetworkPolicy", "NetworkPolicy",
                     "PodDisruptionBudget", "Secret", "Service"]
    for obj in objs:
        meta = obj["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["name"].startswith("photos")
        (owner,) = meta["ownerReferences"]
        assert owner == {"apiVersion": "picsource.io/v1alpha1", "kind": "Gallery", "name": "photos",
                         "uid": "1234-uid", "controller": True, "blockOwnerDeletion": True}
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "picsource-operator"
        assert meta["labels"]["app.kubernetes.io/instance"] == "photos"
        assert meta["labels"]["app.kubernetes.io/name"] == "picsource"
        assert meta["labels"]["app.kubernetes.io/component"] in ("web", "worker")


def test_web_deployment_is_hardened_probed_and_rolls_without_downtime():
    dep = by_kind(objects(), "Deployment", "photos-web")
    spec = dep["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == constants.DEFAULT_WEB_IMAGE == f"ghcr.io/picsource/web:{constants.APP_VERSION}"
    assert {p["name"] for p in c["ports"]} == {"http", "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}  # not via Ingress
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    assert c["envFrom"] == [{"configMapRef": {"name": "photos-config"}}]
    env = {e["name"]: e for e in c["env"]}
    assert env["MONGODB_URI"]["valueFrom"]["secretKeyRef"] == {"name": "photos-mongo", "key": "uri"}
    assert env["S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "photos-s3", "key": "accessKey"}
    assert env["S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "photos-s3", "key": "secretKey"}
    assert env["SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "photos-app", "key": "secret-key"}
    assert env["WEB_BIND"]["value"] == "0.0.0.0:5000"  # gunicorn binds loopback by default
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations[constants.CONFIG_HASH_ANNOTATION] == config_hash(parse_gallery(gallery_body()))
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_config_hash_changes_with_configuration_and_rolls_both_deployments():
    before = objects()
    after = objects(limits={"maxUploadBytes": 1024 * 1024})
    for name in ("photos-web", "photos-worker"):
        h1 = by_kind(before, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        h2 = by_kind(after, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert h1[constants.CONFIG_HASH_ANNOTATION] != h2[constants.CONFIG_HASH_ANNOTATION]
    # Replica changes alone do not roll pods.
    g1 = parse_gallery(gallery_body())
    g2 = parse_gallery(gallery_body(web={"replicas": 5}))
    assert config_hash(g1) == config_hash(g2)


def test_configmap_carries_the_spec_as_environment():
    data = by_kind(objects(
        limits={"maxUploadBytes": 5000, "maxPixels": 1000, "quota": {"images": 7, "bytes": 9000}},
        auth={"signup": "closed"},
        worker={"analysis": {"ocr": False, "faces": True, "safetyThreshold": 0.5}},
    ), "ConfigMap")["data"]
    assert data["MONGODB_DATABASE"] == "photos"
    assert data["S3_ENDPOINT"] == "http://minio.storage.svc:9000"
    assert data["S3_BUCKET"] == "photos-bucket"
    assert data["MAX_UPLOAD_BYTES"] == "5000"
    assert data["MAX_IMAGE_PIXELS"] == "1000"
    assert (data["QUOTA_IMAGES"], data["QUOTA_BYTES"]) == ("7", "9000")
    assert data["SIGNUP"] == "closed"
    assert (data["WORKER_OCR"], data["WORKER_FACES"], data["WORKER_SAFETY_THRESHOLD"]) == ("false", "true", "0.5")
    assert all(isinstance(v, str) for v in data.values())
    assert not any("secret" in k.lower() or "password" in k.lower() for k in data)


def test_app_secret_keeps_the_given_key_and_generated_keys_are_long_and_fresh():
    g = parse_gallery(gallery_body())
    secret = build_app_secret(g, KEY)
    assert base64.b64decode(secret["data"]["secret-key"]).decode() == KEY
    assert build_app_secret(g, KEY) == secret  # stable for the same key
    a, b = generate_secret_key(), generate_secret_key()
    assert a != b and len(a) >= 32
    with pytest.raises(ValueError):
        build_app_secret(g, "short")


def test_service_targets_named_ports_and_selects_web_pods():
    svc = by_kind(objects(), "Service")
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "web"
    assert {(p["name"], p["targetPort"]) for p in svc["spec"]["ports"]} == {("http", "http"), ("metrics", "metrics")}


def test_ingress_only_with_host_and_tls_when_asked():
    assert build_ingress(parse_gallery(gallery_body())) is None
    assert not [o for o in objects() if o["kind"] == "Ingress"]
    g = parse_gallery(gallery_body(web={"ingress": {"host": "photos.example.com", "className": "nginx",
                                                    "tlsSecretName": "photos-tls"}}))
    ing = build_ingress(g)
    assert ing is not None
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["photos.example.com"], "secretName": "photos-tls"}]
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "photos-web", "port": {"name": "http"}}
    assert gallery_url(g) == "https://photos.example.com/"
    assert gallery_url(parse_gallery(gallery_body())) == "http://photos-web.team-a.svc"
    assert config_data(g)["SESSION_COOKIE_SECURE"] == "true"


def test_worker_deployment_uses_given_replicas_and_only_metrics_port():
    g = parse_gallery(gallery_body(worker={"autoscaling": {"minReplicas": 1, "maxReplicas": 4}}))
    objs = build_all(g, secret_key=KEY, worker_replicas=3)
    dep = by_kind(objs, "Deployment", "photos-worker")
    assert dep["spec"]["replicas"] == 3
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in c["ports"]] == ["metrics"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["WORKER_METRICS_PORT"] == str(c["ports"][0]["containerPort"])
    assert c["image"] == constants.DEFAULT_WORKER_IMAGE
    assert c["securityContext"]["readOnlyRootFilesystem"]


def test_network_policies_allow_only_what_each_part_needs():
    g = parse_gallery(gallery_body())
    minio = {"spec": {"selector": {"app": "minio"}, "ports": [{"port": 9000, "targetPort": 9000}]}}
    egress = plan(g, database_endpoints("mongodb://u:p@10.0.0.7:27018,10.0.0.8:27019/x"),
                  {ServiceRef("storage", "minio"): minio})
    objs = build_all(g, secret_key=KEY, worker_replicas=1, egress=egress)
    web = by_kind(objs, "NetworkPolicy", "photos-web")["spec"]
    worker = by_kind(objs, "NetworkPolicy", "photos-worker")["spec"]
    assert web["policyTypes"] == worker["policyTypes"] == ["Ingress", "Egress"]
    assert [r["ports"][0]["port"] for r in web["ingress"]] == ["http", "metrics"]
    assert worker["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    for policy in (web, worker):
        ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
        assert ports == {(53, "UDP"), (53, "TCP"), (27018, "TCP"), (27019, "TCP"), (9000, "TCP")}
        assert all(rule.get("to") for rule in policy["egress"]), "every egress rule names its peers"
    assert worker["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"


def test_pdb_never_blocks_a_single_replica_drain():
    pdb = by_kind(objects(web={"replicas": 1}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "web"


def test_custom_images_and_resources_are_used():
    g = parse_gallery(gallery_body(web={"image": "registry.local/web:dev",
                                        "resources": {"requests": {"cpu": "1"}}}))
    dep = build_web_deployment(g, "abc")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "registry.local/web:dev"
    assert c["resources"] == {"requests": {"cpu": "1"}}


def test_metrics_and_readiness_are_served_on_a_port_the_ingress_never_routes():
    g = parse_gallery(gallery_body(web={"ingress": {"host": "photos.example.com"}}))
    (c,) = build_web_deployment(g, "abc")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["WEB_INTERNAL_PORT"] == str(ports["metrics"]) != str(ports["http"])
    assert "GUNICORN_CMD_ARGS" not in env  # gunicorn_conf binds both from WEB_BIND + WEB_INTERNAL_PORT
    assert c["readinessProbe"]["httpGet"]["port"] == "metrics"
    ing = build_ingress(g)
    assert ing is not None
    ports_routed = {p["backend"]["service"]["port"]["name"]
                    for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]}
    assert ports_routed == {"http"}


def test_process_pools_follow_the_cpu_request_when_there_is_no_limit():
    """Without a CPU limit the cgroup says nothing and the pods would size themselves from
    the node's cores; the request decides then. With a limit the pods read it themselves."""
    from picsource_operator.builders.pods import cpu_cores

    def env_of(dep):
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value") for e in c["env"]}

    objs = objects()  # defaults: web requests 100m, worker requests 250m, no CPU limits
    assert env_of(by_kind(objs, "Deployment", "photos-web"))["WEB_WORKERS"] == "2"
    assert env_of(by_kind(objs, "Deployment", "photos-worker"))["WORKER_CONCURRENCY"] == "1"
    objs = objects(web={"resources": {"requests": {"cpu": "1500m"}}},
                   worker={"resources": {"requests": {"cpu": "2"}}})
    assert env_of(by_kind(objs, "Deployment", "photos-web"))["WEB_WORKERS"] == "4"
    assert env_of(by_kind(objs, "Deployment", "photos-worker"))["WORKER_CONCURRENCY"] == "2"
    objs = objects(web={"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "3"}}},
                   worker={"resources": {"limits": {"cpu": "2", "memory": "2Gi"}}})
    assert "WEB_WORKERS" not in env_of(by_kind(objs, "Deployment", "photos-web"))  # cgroup limit
    assert "WORKER_CONCURRENCY" not in env_of(by_kind(objs, "Deployment", "photos-worker"))
    assert (cpu_cores("250m"), cpu_cores("2"), cpu_cores("0.5"), cpu_cores(None), cpu_cores("2Gi")) == (
        0.25, 2.0, 0.5, None, None)
