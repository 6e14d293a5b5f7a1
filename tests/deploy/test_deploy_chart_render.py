"""The Helm chart without a cluster: lint, what it renders, and what its schema refuses.

These pin the promises of the chart (operator replicas under leader election, non-root and
read-only pods everywhere, least-privilege RBAC, documented and validated values) so a
template edit that breaks one of them fails here in a second, long before an install.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.helm import CHART, CI_VALUES, ci_id, find, helm, pod_specs, render

VALUES_FILE = CHART / "values.yaml"


def test_chart_version_matches_the_project() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = (CHART.parents[1] / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', project, re.M)
    assert version is not None
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == version.group(1) == "0.1.0"
    # The operator's default web/worker images carry the same version as the chart's.
    constants = (CHART.parents[1] / "operator" / "picsource_operator" / "constants.py").read_text()
    assert f'APP_VERSION: Final = "{chart["appVersion"]}"' in constants


@pytest.mark.parametrize("values_file", [None, *CI_VALUES],
                         ids=["no-values", *map(ci_id, CI_VALUES)])  # fmt: skip
def test_helm_lint_strict(values_file: Path | None) -> None:
    args: list[str | Path] = ["lint", "--strict", CHART]
    if values_file:
        args += ["-f", values_file]
    result = helm(*args)
    assert "0 chart(s) failed" in result.stdout


def test_ci_values_sets_cover_the_switches() -> None:
    assert {ci_id(p) for p in CI_VALUES} >= {
        "default", "with-backing-services", "with-monitoring", "with-default-gallery",
    }


def test_operator_deployment() -> None:
    objects = render()
    deployment = find(objects, "Deployment", "-operator")
    spec = deployment["spec"]
    # Two replicas, one leading (a Lease): a rolling update never leaves none.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/picsource/operator:0.1.0"
    command = container["command"]
    assert command == ["python", "-m", "picsource_operator", "--liveness=http://0.0.0.0:8080/healthz"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9102}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "PICSOURCE_WATCH_NAMESPACES" not in env  # all namespaces
    assert env["PICSOURCE_OPERATOR_LEADER_ELECTION"] == "true"
    assert env["PICSOURCE_OPERATOR_LEASE_NAME"] == deployment["metadata"]["name"]
    assert env["PICSOURCE_OPERATOR_METRICS_PORT"] == "9102"
    assert env["PICSOURCE_WEB_IMAGE"] == "ghcr.io/picsource/web:0.1.0"
    assert env["PICSOURCE_WORKER_IMAGE"] == "ghcr.io/picsource/worker:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["serviceAccountName"] == find(objects, "ServiceAccount")["metadata"]["name"]


@pytest.mark.parametrize("values_file", CI_VALUES, ids=map(ci_id, CI_VALUES))
def test_every_pod_is_non_root_read_only_and_bounded(values_file: Path) -> None:
    specs = pod_specs(render([values_file]))
    assert specs
    for name, pod in specs:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"].get("runAsUser", 0) != 0, name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name


def test_scheduling_and_pull_secret_values_reach_every_pod() -> None:
    sets = [
        "imagePullSecrets[0].name=regcred",
        "operator.nodeSelector.disk=ssd", "mongodb.nodeSelector.disk=ssd",
        "minio.nodeSelector.disk=ssd",
        "operator.tolerations[0].key=dedicated", "operator.tolerations[0].operator=Exists",
        "mongodb.enabled=true", "minio.enabled=true",
    ]
    specs = dict(pod_specs(render(sets=sets)))
    for name, pod in specs.items():
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], name
        if "test" not in name:
            assert pod["nodeSelector"] == {"disk": "ssd"}, name
    operator = next(p for n, p in specs.items() if n.endswith("-operator"))
    assert operator["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]


def test_rbac_is_least_privilege() -> None:
    role = find(render(), "ClusterRole")
    rules = role["rules"]
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]
    }
    for (group, resource), verbs in granted.items():
        assert "*" not in verbs and group != "*" and resource != "*", (group, resource)
    assert not any(r in {"pods", "nodes", "clusterroles", "roles", "rolebindings"}
                   for _, r in granted), granted  # fmt: skip
    # The exact verbs are derived from the operator's code and compared with this role by
    # tests/operator/test_operator_rbac.py; here only what no rule may ever grant.
    assert not any("update" in verbs for key, verbs in granted.items()
                   if key != ("picsource.io", "galleries/finalizers")), granted
    # Deletes: the Ingress of a removed host, and scheduled backups past their retention.
    assert {key for key, verbs in granted.items() if "delete" in verbs} == {
        ("networking.k8s.io", "ingresses"), ("picsource.io", "gallerybackups")}
    binding = find(render(), "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_watch_namespaces_reach_the_operator_and_its_roles() -> None:
    objects = render(sets=["operator.watchNamespaces={team-a,team-b}"])
    container = find(objects, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PICSOURCE_WATCH_NAMESPACES"] == "team-a,team-b"
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Role")
    assert [ns for ns, _ in roles] == ["picsource", "team-a", "team-b"]  # the leader Lease's Role at home


def test_backing_services_have_volumes_and_generated_credentials() -> None:
    objects = render(sets=["mongodb.enabled=true", "minio.enabled=true"], namespace="gal")
    mongo = find(objects, "StatefulSet", "-mongodb")
    assert mongo["spec"]["template"]["spec"]["containers"][0]["image"] == "mongo:7.0"
    assert mongo["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    minio = find(objects, "StatefulSet", "-minio")
    assert minio["spec"]["template"]["spec"]["containers"][0]["image"].startswith("minio/minio:")
    assert minio["spec"]["volumeClaimTemplates"]
    import base64

    mongo_secret = find(objects, "Secret", "-mongodb")["data"]
    password = base64.b64decode(mongo_secret["password"]).decode()
    assert len(password) == 32 and password.isalnum()
    uri = base64.b64decode(mongo_secret["uri"]).decode()
    assert uri == f"mongodb://root:{password}@rel-picsource-mongodb.gal.svc:27017/?authSource=admin"
    minio_secret = find(objects, "Secret", "-minio")["data"]
    assert len(base64.b64decode(minio_secret["secretKey"])) == 40
    # An explicit password wins over generation.
    given = render(sets=["mongodb.enabled=true", "mongodb.auth.rootPassword=s3cret"])
    assert base64.b64decode(find(given, "Secret", "-mongodb")["data"]["password"]) == b"s3cret"


def test_default_gallery_binds_to_the_bundled_services() -> None:
    objects = render([CHART / "ci" / "with-default-gallery-values.yaml"], namespace="gal")
    gallery = find(objects, "Gallery")
    spec = gallery["spec"]
    assert spec["storage"] == {
        "endpoint": "http://rel-picsource-minio.gal.svc:9000",
        "credentialsSecretRef": {"name": "rel-picsource-minio-app"},
        "bucket": "picsource-default",
    }
    assert spec["database"] == {"uriSecretRef": {"name": "rel-picsource-mongodb-app", "key": "uri"},
                                "name": "picsource"}  # fmt: skip
    assert spec["worker"]["autoscaling"] == {"minReplicas": 1, "maxReplicas": 3}


def _secret(objects: list[dict], suffix: str) -> dict[str, str]:
    import base64

    return {k: base64.b64decode(v).decode() for k, v in find(objects, "Secret", suffix)["data"].items()}


def test_galleries_get_application_users_never_root_credentials() -> None:
    """#14 item 13: the Gallery's Secrets are app users limited to its bucket and database;
    the root Secrets are read by the database pods and the app-users Job alone."""
    objects = render([CHART / "ci" / "with-default-gallery-values.yaml"], namespace="gal")
    roots = {"rel-picsource-mongodb", "rel-picsource-minio"}
    spec = find(objects, "Gallery")["spec"]
    referenced = {spec["storage"]["credentialsSecretRef"]["name"], spec["database"]["uriSecretRef"]["name"]}
    assert referenced == {"rel-picsource-minio-app", "rel-picsource-mongodb-app"}

    mongo, mongo_app = _secret(objects, "-mongodb"), _secret(objects, "-mongodb-app")
    assert mongo_app["username"] == "picsource" and mongo_app["password"] != mongo["password"]
    assert mongo_app["uri"] == (f"mongodb://picsource:{mongo_app['password']}@rel-picsource-mongodb.gal.svc:27017"
                                "/picsource?authSource=picsource")
    minio, minio_app = _secret(objects, "-minio"), _secret(objects, "-minio-app")
    assert minio_app["accessKey"] == "picsource" and minio_app["accessKey"] != minio["accessKey"]
    assert len(minio_app["secretKey"]) == 40 and minio_app["secretKey"] != minio["secretKey"]
    assert minio_app["bucket"] == "picsource-default"

    readers: dict[str, set[str]] = {}
    for name, pod in pod_specs(objects):
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    readers.setdefault(ref["name"], set()).add(name)
    assert readers["rel-picsource-mongodb"] == {"rel-picsource-mongodb", "rel-picsource-app-users"}
    assert readers["rel-picsource-minio"] == {"rel-picsource-minio", "rel-picsource-app-users"}
    assert not roots & {o["metadata"]["name"] for o in objects if o["kind"] == "Gallery"}

    job = find(objects, "Job", "-app-users")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "picsource_operator.bootstrap"]
    assert container["image"] == find(objects, "Deployment", "-operator")["spec"]["template"]["spec"][
        "containers"][0]["image"]
    env = {e["name"]: e.get("value") or e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    assert env["MINIO_APP_ACCESS_KEY"] == env["MINIO_APP_BUCKET"] == "rel-picsource-minio-app"
    assert env["MONGODB_APP_USERNAME"] == "rel-picsource-mongodb-app"
    assert env["MINIO_ENDPOINT"] == "http://rel-picsource-minio.gal.svc:9000"
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    # Only the enabled service is bootstrapped; with neither, there is no Job.
    only_minio = render(sets=["minio.enabled=true"])
    assert not any(e["name"].startswith("MONGODB_") for e in find(only_minio, "Job", "-app-users")[
        "spec"]["template"]["spec"]["containers"][0]["env"])
    assert not [o for o in render() if o["kind"] == "Job"]


def test_default_gallery_without_bindings_explains_what_is_missing() -> None:
    result = helm("template", "rel", CHART, "--set", "gallery.enabled=true", check=False)
    assert result.returncode != 0
    assert "gallery.enabled needs a storage binding" in result.stderr


def test_monitoring_objects_are_off_by_default_and_built_from_the_shared_files() -> None:
    kinds = {o["kind"] for o in render()}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    objects = render([CHART / "ci" / "with-monitoring-values.yaml"])
    rule = find(objects, "PrometheusRule")
    source = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    monitor = find(objects, "ServiceMonitor")
    service = find(objects, "Service", "-operator")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "picsource-operator"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_dashboard_configmap_holds_the_shared_dashboard() -> None:
    configmap = find(render(), "ConfigMap", "-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["picsource-dashboard.json"])
    assert shipped == json.loads((CHART / "files" / "grafana-dashboard.json").read_text())


def test_helm_test_hook_checks_operator_liveness() -> None:
    pod = find(render(), "Pod", "-test-liveness")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    command = pod["spec"]["containers"][0]["command"]
    assert command[-1] == "http://rel-picsource-operator.picsource.svc:8080/healthz"
    service = find(render(), "Service", "-operator")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["healthz"] == 8080


def test_helm_test_pod_is_bounded_by_its_deadline_not_a_wget_flag() -> None:
    # busybox's `wget -T` segfaults in Debian's static busybox (the real node's image);
    # a pod deadline bounds the DNS lookup too, which -T never did.
    pod = find(render(), "Pod", "-test-liveness")
    assert 0 < pod["spec"]["activeDeadlineSeconds"] <= 120
    assert "-T" not in pod["spec"]["containers"][0]["command"]


# --- values documentation and schema ----------------------------------------------------

def _leaf_paths(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict) and node:
        paths: set[str] = set()
        for key, value in node.items():
            paths |= _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return paths
    return {prefix}


def test_every_value_is_documented_with_param() -> None:
    text = VALUES_FILE.read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, re.M))
    leaves = _leaf_paths(yaml.safe_load(text))
    undocumented = {leaf for leaf in leaves
                    if not any(leaf == d or leaf.startswith(d + ".") for d in documented)}  # fmt: skip
    assert not undocumented, f"values without a `## @param` line: {sorted(undocumented)}"
    values = yaml.safe_load(text)
    for path in documented:
        node = values
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f"@param {path} names no value"
            node = node[part]


def test_schema_closes_every_object_of_the_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load(VALUES_FILE.read_text())

    def walk(value: object, node: dict, path: str) -> None:
        if not isinstance(value, dict) or "properties" not in node:
            return
        assert node.get("additionalProperties") is False, f"{path or 'root'} accepts unknown keys"
        for key, sub in value.items():
            assert key in node["properties"], f"{path}.{key} missing from values.schema.json"
            walk(sub, node["properties"][key], f"{path}.{key}".lstrip("."))

    walk(values, schema, "")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["operator.metricsPort=abc"], "at '/operator/metricsPort': got string, want integer"),
        (["operator.metricsPort=70000"], "/operator/metricsPort"),
        (["operator.replicas=0"], "/operator/replicas"),
        (["operator.watchNamespaces={team-a,Team_B}"], "/operator/watchNamespaces/1"),
        (["operator.leaderElection.leaseSeconds=1"], "/operator/leaderElection/leaseSeconds"),
        (["mongodb.enabled=yes"], "at '/mongodb/enabled': got string, want boolean"),
        (["operator.logLevel=loud"], "/operator/logLevel"),
        (["operator.image.pullPolicy=Sometimes"], "/operator/image/pullPolicy"),
        (["minio.auth.rootPassword=short"], "/minio/auth/rootPassword"),
        (["minio.bucket=Not_A_Bucket"], "/minio/bucket"),
        (["gallery.name=Bad Name"], "/gallery/name"),
        (["metrics.serviceMonitor.interval=soon"], "/metrics/serviceMonitor/interval"),
        (["imagePullSecrets[0]=regcred"], "/imagePullSecrets/0"),
        (["unknownTopLevel=1"], "additional properties 'unknownTopLevel' not allowed"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_schema_rejects_bad_values_readably(sets: list[str], message: str) -> None:
    args: list[str | Path] = ["template", "rel", CHART]
    for s in sets:
        args += ["--set", s]
    result = helm(*args, check=False)
    assert result.returncode != 0, f"{sets} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


def test_chart_readme_lists_every_parameter() -> None:
    documented = re.findall(r"^\s*## @param (\S+) \S", VALUES_FILE.read_text(), re.M)
    readme = (CHART / "README.md").read_text()
    missing = [p for p in documented if f"| `{p}` |" not in readme]
    assert not missing, f"charts/picsource/README.md lacks {missing}"
