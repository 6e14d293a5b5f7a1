"""The operator works with exactly the chart's ClusterRole (least privilege), authenticated
as a ServiceAccount token instead of the harness's admin certificate."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_runner import REPO, Env, OperatorProcess

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.tools import binary

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def chart_rbac(*sets: str) -> list[dict[str, Any]]:
    """The chart's templates/rbac.yaml rendered with `--set` values."""
    args = [arg for value in sets for arg in ("--set", value)]
    rendered = subprocess.run(
        [str(binary("helm")), "template", "ps", str(REPO / "charts/picsource"), "--namespace", "picsource",
         "--show-only", "templates/rbac.yaml", *args], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def chart_cluster_role() -> dict[str, Any]:
    (role,) = [d for d in chart_rbac() if d["kind"] == "ClusterRole"]
    return dict(role)


def chart_leader_role(*sets: str) -> dict[str, Any]:
    """The Role for the leader-election Lease, in the release namespace."""
    (role,) = [d for d in chart_rbac(*sets) if d["kind"] == "Role" and d["metadata"]["name"].endswith("-leader")]
    assert role["metadata"]["namespace"] == "picsource"
    return dict(role)


def service_account_kubeconfig(cluster: Cluster, namespace: str, path: Path) -> Path:
    api = cluster.api()
    api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "picsource-operator"}})
    token = api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts/picsource-operator/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}})["status"]["token"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "test", "cluster": {"server": cluster.server,
                                                   "certificate-authority": str(cluster.pki.ca_crt)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa", "namespace": namespace}}],
    }))
    return path


def test_operator_runs_with_the_charts_least_privilege_role(cluster: Cluster, gallery_env: Env,
                                                           kubectl: Any, tmp_path: Path) -> None:
    env = gallery_env
    role = chart_cluster_role()
    name = f"picsource-operator-{env.namespace}"
    role["metadata"] = {"name": name}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": "picsource-operator",
                             "namespace": env.namespace}]}
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}))
    operator = OperatorProcess(cluster, env.namespace, tmp_path / "operator.log",
                               kubeconfig=service_account_kubeconfig(cluster, env.namespace,
                                                                     tmp_path / "sa.kubeconfig"))
    try:
        operator.start()
        env.apply(env.gallery("scratch", base="reclaim-delete"))
        env.wait_condition("scratch", "Ready", "True", timeout=60)
        kubectl("delete", "service", "scratch-web", "-n", env.namespace)
        wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/services/scratch-web") is not None, 10,
                   "the Service restored under the chart's role")
        env.wait_event("scratch", "ReadyTrue")
        kubectl("delete", "gallery", "scratch", "-n", env.namespace, "--timeout=60s")
        assert not env.minio.client().bucket_exists(env.buckets[-1])
        assert "forbidden" not in operator.log().lower(), operator.log()[-3000:]
    finally:
        env.cleanup()
        operator.stop()
        for kind in ("clusterrolebinding", "clusterrole"):
            with contextlib.suppress(Exception):
                kubectl("delete", kind, name, "--ignore-not-found", check=False)


# --- least privilege: the verbs the code uses, derived from the code -----------------------
OPERATOR_SRC = REPO / "operator" / "picsource_operator"


def operator_modules() -> list[Path]:
    """The operator's code, without the kubectl plugin (plugin/): that runs as the person
    typing `kubectl picsource`, with their own rights, never as the operator."""
    return [p for p in OPERATOR_SRC.rglob("*.py") if "plugin" not in p.relative_to(OPERATOR_SRC).parts]


def _resource(kind: str) -> tuple[str, str]:
    """(API group, resource) of a kind, from the paths the operator's API edge uses."""
    from picsource_operator.kube import object_path

    parts = object_path(kind, "ns").strip("/").split("/")
    return ("" if parts[0] == "api" else parts[1]), parts[-1]


def derived_rules() -> dict[tuple[str, str], set[str]]:
    """Every (group, resource) -> verbs the operator's code needs, read from the code:
    children are applied (create, patch; get to check a conflicting object is ours) and
    watched (list, watch); ``kube.get("Kind"`` reads, ``kube.delete("Kind"`` deletes."""
    import re

    from picsource_operator import constants
    from picsource_operator.handlers import CHILDREN

    source = "\n".join(p.read_text() for p in operator_modules())
    rules: dict[tuple[str, str], set[str]] = {}

    def grant(key: tuple[str, str], *verbs: str) -> None:
        rules.setdefault(key, set()).update(verbs)

    for group, _version, plural in CHILDREN.values():
        grant((group, plural), "get", "create", "patch", "list", "watch")
    for kind in re.findall(r'kube\.get\("(\w+)"', source):
        grant(_resource(kind), "get")
    for kind in re.findall(r'kube\.delete\("(\w+)"', source):
        grant(_resource(kind), "delete")
    assert re.search(r'kopf\.on\.event\("", "v1", "secrets"', source)  # credentials: watched
    grant(("", "secrets"), "list", "watch")
    gallery = (constants.GROUP, constants.PLURAL)
    grant(gallery, "list", "watch", "patch")  # kopf: watch, progress annotations, finalizer
    grant((constants.GROUP, f"{constants.PLURAL}/status"), "patch")
    grant((constants.GROUP, f"{constants.PLURAL}/finalizers"), "update")  # blockOwnerDeletion
    backups = (constants.GROUP, constants.BACKUP_PLURAL)
    grant(backups, "list", "watch", "patch")  # kopf runs GalleryBackups (progress annotations)
    grant((constants.GROUP, f"{constants.BACKUP_PLURAL}/status"), "patch")
    assert re.search(r'kube\.list_objects\(constants\.BACKUP_KIND', source)  # retention lists them
    for group in ("", "events.k8s.io"):
        grant((group, "events"), "create", "patch")
    grant(("", "namespaces"), "list", "watch")  # kopf --all-namespaces
    grant(("apiextensions.k8s.io", "customresourcedefinitions"), "list", "watch")  # kopf discovery
    # Objects written whole (POST, PUT with resourceVersion): the leader-election Lease, and
    # the GalleryBackups a Gallery's backup schedule creates.
    writers = {"leader.py": "Lease", "backups.py": "GalleryBackup"}
    for path in operator_modules():
        for method, verb in (("create", "create"), ("replace", "update")):
            if re.search(rf"kube\.{method}\(", path.read_text()):
                assert path.name in writers, f"{path.name} calls kube.{method}: derive its kind here"
                grant(_resource(writers[path.name]), verb)
    return rules


LEASES = ("coordination.k8s.io", "leases")
CLUSTER_ONLY = {("", "namespaces"), ("apiextensions.k8s.io", "customresourcedefinitions")}


def granted_rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def test_the_cluster_role_grants_exactly_the_verbs_the_code_uses() -> None:
    derived, granted = derived_rules(), granted_rules(chart_cluster_role())
    assert granted_rules(chart_leader_role()) == {LEASES: derived.pop(LEASES)}
    assert granted == derived
    deletable = {key for key, verbs in granted.items() if "delete" in verbs}
    # Children go by garbage collection; scheduled backups past their retention are not children.
    assert deletable == {("networking.k8s.io", "ingresses"), ("picsource.io", "gallerybackups")}


def test_rbac_md_lists_the_same_rules() -> None:
    import re

    table: dict[tuple[str, str], set[str]] = {}
    for line in (REPO / "operator" / "RBAC.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        groups = [g.strip("`").replace('""', "") for g in re.findall(r'`[^`]*`', cells[0])]
        resources = [r.strip("`") for r in re.findall(r'`[^`]*`', cells[1])]
        verbs = {v.strip() for v in cells[2].split(",")}
        for group in groups:
            for resource in resources:
                table.setdefault((group, resource), set()).update(verbs)
    assert table == {**granted_rules(chart_cluster_role()), **granted_rules(chart_leader_role())}


def test_namespaced_mode_grants_the_same_verbs_per_namespace_and_nothing_cluster_wide() -> None:
    objects = chart_rbac("operator.watchNamespaces={team-a,team-b}")
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    roles = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "Role"
             and not o["metadata"]["name"].endswith("-leader")}
    assert set(roles) == {"team-a", "team-b"}
    derived = derived_rules()
    assert granted_rules(chart_leader_role("operator.watchNamespaces={team-a}")) == {LEASES: derived.pop(LEASES)}
    # A Role cannot grant cluster-scoped reads: Kopf skips discovery in namespaced mode.
    expected = {key: verbs for key, verbs in derived.items() if key not in CLUSTER_ONLY}
    for role in roles.values():
        assert granted_rules(role) == expected
    bindings = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "RoleBinding"}
    assert set(bindings) == {"team-a", "team-b", "picsource"}
    assert all(b["subjects"][0]["namespace"] == "picsource" for b in bindings.values())
