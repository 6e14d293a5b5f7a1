"""The cluster admin's knobs, checked on the pure builders: scheduling and metadata per
Gallery and per component, Ingress annotations and the body size, image digests, and
worker memory that fits its analysis processes."""

from __future__ import annotations

from typing import Any

import pytest
from operator_samples import gallery_body

from picsource_core.uploads import upload_request_limit
from picsource_operator import constants
from picsource_operator.builders import build_all
from picsource_operator.builders.common import labels as operator_labels
from picsource_operator.knobs import nginx_size, quantity_bytes
from picsource_operator.spec import SpecError, parse_gallery

KEY = "k" * 48
DIGEST = "sha256:" + "0123456789abcdef" * 4
ZONE_SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
GPU_TOLERATION = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}


def children(**spec: Any) -> dict[str, dict[str, Any]]:
    objs = build_all(parse_gallery(gallery_body(**spec)), secret_key=KEY, worker_replicas=1)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objs}


def pod(objs: dict[str, dict[str, Any]], component: str) -> dict[str, Any]:
    template: dict[str, Any] = objs[f"Deployment/photos-{component}"]["spec"]["template"]
    return template


def worker_env(**worker: Any) -> dict[str, str]:
    (container,) = pod(children(worker=worker), "worker")["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_without_knobs_the_pods_carry_no_scheduling_fields():
    objs = children()
    for component in ("web", "worker"):
        spec = pod(objs, component)["spec"]
        for name in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
                     "priorityClassName", "imagePullSecrets"):
            assert name not in spec, (component, name)


def test_gallery_wide_knobs_reach_both_components():
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}}
    objs = children(pods={
        "nodeSelector": {"node-role/gallery": "true"}, "tolerations": [GPU_TOLERATION], "affinity": affinity,
        "topologySpreadConstraints": [ZONE_SPREAD], "priorityClassName": "gallery-high",
        "imagePullSecrets": [{"name": "registry"}], "labels": {"cost-centre": "photos"},
        "annotations": {"backup.velero.io/backup-volumes": "tmp"}})
    for component in ("web", "worker"):
        template = pod(objs, component)
        spec = template["spec"]
        assert spec["nodeSelector"] == {"node-role/gallery": "true"}
        assert spec["tolerations"] == [GPU_TOLERATION]
        assert spec["affinity"] == affinity
        assert spec["priorityClassName"] == "gallery-high"
        assert spec["imagePullSecrets"] == [{"name": "registry"}]
        # A constraint without a labelSelector spreads this component's own pods.
        (spread,) = spec["topologySpreadConstraints"]
        assert spread == {**ZONE_SPREAD, "labelSelector": {"matchLabels": {
            "app.kubernetes.io/name": "picsource", "app.kubernetes.io/instance": "photos",
            "app.kubernetes.io/component": component}}}
        assert template["metadata"]["labels"]["cost-centre"] == "photos"
        assert template["metadata"]["annotations"]["backup.velero.io/backup-volumes"] == "tmp"
        # The operator's own metadata is all still there.
        assert template["metadata"]["labels"]["app.kubernetes.io/component"] == component
        assert constants.CONFIG_HASH_ANNOTATION in template["metadata"]["annotations"]


def test_component_knobs_refine_the_gallery_wide_ones():
    objs = children(
        pods={"nodeSelector": {"pool": "general", "disk": "ssd"}, "tolerations": [GPU_TOLERATION],
              "labels": {"team": "a", "tier": "shared"}, "priorityClassName": "gallery"},
        worker={"pods": {"nodeSelector": {"pool": "batch"}, "tolerations": [],
                         "labels": {"tier": "batch"}, "priorityClassName": "batch-low"}},
        web={"pods": {"topologySpreadConstraints": [{**ZONE_SPREAD, "labelSelector": {
            "matchLabels": {"custom": "yes"}}}]}})
    web, worker = pod(objs, "web"), pod(objs, "worker")
    assert web["spec"]["nodeSelector"] == {"pool": "general", "disk": "ssd"}
    assert worker["spec"]["nodeSelector"] == {"pool": "batch", "disk": "ssd"}  # merged, worker wins
    assert web["spec"]["tolerations"] == [GPU_TOLERATION]
    assert "tolerations" not in worker["spec"]  # an empty list replaces the gallery's
    assert (web["metadata"]["labels"]["tier"], worker["metadata"]["labels"]["tier"]) == ("shared", "batch")
    assert worker["metadata"]["labels"]["team"] == "a"
    assert (web["spec"]["priorityClassName"], worker["spec"]["priorityClassName"]) == ("gallery", "batch-low")
    # An explicit labelSelector is the admin's and is kept.
    assert web["spec"]["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": {"custom": "yes"}}
    assert "topologySpreadConstraints" not in worker["spec"]


def test_admin_annotations_may_turn_scraping_off_but_not_the_rolling_hashes():
    objs = children(worker={"pods": {"annotations": {"prometheus.io/scrape": "false"}}})
    assert pod(objs, "worker")["metadata"]["annotations"]["prometheus.io/scrape"] == "false"
    assert pod(objs, "web")["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


@pytest.mark.parametrize("key", sorted(operator_labels(parse_gallery(gallery_body()), "web")))
@pytest.mark.parametrize("where", ["pods", "web.pods", "worker.pods"])
def test_the_operators_own_labels_are_refused_naming_the_field(key: str, where: str):
    body = gallery_body()
    node = body["spec"]
    for part in where.split("."):
        node = node.setdefault(part, {})
    node["labels"] = {key: "mine"}
    with pytest.raises(SpecError, match=rf"spec\.{where}\.labels\[{key}\] is the operator's own"):
        parse_gallery(body)


@pytest.mark.parametrize(("pods", "field"), [
    ({"annotations": {constants.CONFIG_HASH_ANNOTATION: "x"}}, "spec.pods.annotations[picsource.io/config-hash]"),
    ({"labels": {"picsource.io/anything": "x"}}, "spec.pods.labels[picsource.io/anything]"),
    ({"labels": {"bad key!": "x"}}, "spec.pods.labels[bad key!]"),
    ({"labels": {"ok": "not a label value"}}, "spec.pods.labels[ok]"),
    ({"nodeSelector": {"pool": 3}}, "spec.pods.nodeSelector[pool]"),
    ({"tolerations": "gpu"}, "spec.pods.tolerations"),
    ({"affinity": ["node"]}, "spec.pods.affinity"),
    ({"topologySpreadConstraints": [{"maxSkew": 1}]}, "spec.pods.topologySpreadConstraints[0].topologyKey"),
    ({"priorityClassName": "Not_A_Name"}, "spec.pods.priorityClassName"),
    ({"imagePullSecrets": [{"nom": "registry"}]}, "spec.pods.imagePullSecrets[0].name"),
])
def test_bad_knobs_are_refused_naming_the_field(pods: dict[str, Any], field: str):
    with pytest.raises(SpecError) as err:
        parse_gallery(gallery_body(pods=pods))
    assert str(err.value).startswith(field), str(err.value)


def test_ingress_class_and_annotations_pass_through_with_the_body_size_set():
    objs = children(web={"ingress": {"host": "photos.example.com", "className": "public",
                                     "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}},
                    limits={"maxUploadBytes": 50 * 1024 * 1024})
    ingress = objs["Ingress/photos"]
    assert ingress["spec"]["ingressClassName"] == "public"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    # The web tier's own request limit (10 files' worth + 1 MiB), in MiB rounded up.
    assert upload_request_limit(50 * 1024 * 1024) == 501 * 1024 * 1024
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "501m"
    assert annotations["nginx.org/client-max-body-size"] == "501m"
    assert nginx_size("501m") == upload_request_limit(50 * 1024 * 1024)


def test_an_admins_body_size_wins_when_it_lets_one_upload_through():
    ann = {"nginx.ingress.kubernetes.io/proxy-body-size": "25m"}
    objs = children(web={"ingress": {"host": "photos.example.com", "annotations": ann}})  # 20 MiB uploads
    annotations = objs["Ingress/photos"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "25m"
    assert annotations["nginx.org/client-max-body-size"] == "201m"  # the other controller's: still set
    ann = {"nginx.ingress.kubernetes.io/proxy-body-size": "0"}  # nginx: unlimited
    assert children(web={"ingress": {"host": "photos.example.com", "annotations": ann}})


@pytest.mark.parametrize(("value", "message"), [
    ("20m", r"smaller than one upload of spec\.limits\.maxUploadBytes .*21m"),
    ("lots", "is not a size such as 64m"),
])
def test_a_body_size_that_cuts_uploads_off_is_refused(value: str, message: str):
    name = "nginx.org/client-max-body-size"
    body = gallery_body(web={"ingress": {"host": "photos.example.com", "annotations": {name: value}}})
    with pytest.raises(SpecError, match=rf"^spec\.web\.ingress\.annotations\[{name}\] .*{message}"):
        parse_gallery(body)


@pytest.mark.parametrize("image", [
    f"ghcr.io/picsource/web@{DIGEST}",
    f"ghcr.io/picsource/web:0.2.0@{DIGEST}",
    f"registry.local:5000/team/picsource-web@{DIGEST}",
    "picsource/web:latest",
    "web",
])
def test_image_digests_and_tags_pass_through(image: str):
    objs = children(web={"image": image}, worker={"image": image.replace("web", "worker")})
    assert pod(objs, "web")["spec"]["containers"][0]["image"] == image
    assert pod(objs, "worker")["spec"]["containers"][0]["image"] == image.replace("web", "worker")


@pytest.mark.parametrize(("image", "message"), [
    ("ghcr.io/picsource/web@sha256:1234", "malformed digest"),
    ("ghcr.io/picsource/web@sha256:" + "A" * 64, "malformed digest"),
    ("ghcr.io/picsource/web@md5:" + "0" * 32, "malformed digest"),
    ("Ghcr.io/PicSource/Web:1", "is not an image reference"),
    ("ghcr.io/picsource/web:", "is not an image reference"),
])
def test_bad_image_references_are_refused_naming_the_field(image: str, message: str):
    with pytest.raises(SpecError, match=rf"^spec\.worker\.image .*{message}"):
        parse_gallery(gallery_body(worker={"image": image}))


def test_the_default_worker_memory_holds_one_ocr_process_and_its_supervisor():
    worker = pod(children(), "worker")["spec"]["containers"][0]
    requested = quantity_bytes(worker["resources"]["requests"]["memory"])
    limit = quantity_bytes(worker["resources"]["limits"]["memory"])
    assert requested is not None and limit is not None
    # OCR: 490 MB max RSS per analysis process (README's benchmark table), plus the supervisor.
    assert requested >= 490e6 + 128 * 2**20
    assert limit >= requested
    assert worker_env()["WORKER_CONCURRENCY"] == "1"


def test_worker_processes_are_capped_by_the_memory_limit():
    # Four CPUs requested, but 1.5Gi holds only two OCR processes (640Mi each + 128Mi).
    assert worker_env(resources={"requests": {"cpu": "4"}, "limits": {"memory": "1536Mi"}})[
        "WORKER_CONCURRENCY"] == "2"
    # Without OCR a process needs less: three fit.
    assert worker_env(resources={"requests": {"cpu": "4"}, "limits": {"memory": "1536Mi"}},
                      analysis={"ocr": False})["WORKER_CONCURRENCY"] == "3"
    # A CPU limit of 4 would start 4 processes from the cgroup: the variable caps them at 3.
    assert worker_env(resources={"limits": {"cpu": "4", "memory": "2Gi"}})["WORKER_CONCURRENCY"] == "3"
    # When the memory limit holds every CPU's process, the cgroup decides as before.
    assert "WORKER_CONCURRENCY" not in worker_env(resources={"limits": {"cpu": "2", "memory": "4Gi"}})


@pytest.mark.parametrize(("memory", "ocr"), [("512Mi", True), ("700M", True), ("400Mi", False)])
def test_a_worker_memory_limit_that_holds_no_process_is_refused(memory: str, ocr: bool):
    body = gallery_body(worker={"resources": {"limits": {"memory": memory}}, "analysis": {"ocr": ocr}})
    with pytest.raises(SpecError, match=r"^spec\.worker\.resources\.limits\.memory .* cannot hold one"):
        parse_gallery(body)


def test_memory_quantities_are_read_as_the_api_server_reads_them():
    assert [quantity_bytes(q) for q in ("768Mi", "1Gi", "1e9", "500M", "1.5Gi", "128974848", "lots")] == [
        768 * 2**20, 2**30, 1e9, 500e6, 1.5 * 2**30, 128974848, None]
