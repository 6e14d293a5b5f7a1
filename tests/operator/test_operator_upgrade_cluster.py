"""Upgrades on the real control plane: the CRD's v1beta1 arriving beside v1alpha1 under
existing Galleries (and the documented storage-version switch), migrations recorded before
the pods, Progressing through an image change, and refused releases that change nothing."""

from __future__ import annotations

import base64
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
import pytest
import yaml
from bson import ObjectId
from operator_runner import CRD, Env, OperatorProcess

from picsource_core.queue import REANALYSE, JobQueue
from picsource_core.reanalysis import ReanalysisLedger
from picsource_operator import constants
from picsource_operator.migrations import SCHEMA_MIGRATIONS, schema_version
from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WEB = "/apis/apps/v1/namespaces/{ns}/deployments/{name}-web"
BETA = "/apis/picsource.io/v1beta1/namespaces/{ns}/galleries/{name}"


def apply_crd(kubectl: Any, crd: dict[str, Any]) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(crd))


def repo_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD.read_text())
    return crd


def served(env: Env, version: str) -> bool:
    group = env.api.get(f"/apis/{constants.GROUP}") or {}
    return version in {v["version"] for v in group.get("versions") or []}


def stored_api_version(env: Env, name: str) -> str:
    """The apiVersion a Gallery is stored as in etcd (custom resources are stored as JSON),
    read through etcd's JSON gateway at the address the API server was started with."""
    pid = int(str(env.cluster.recorded_pids()["kube-apiserver"]["pid"]))
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    etcd = next(a.split("=", 1)[1] for a in args if a.startswith("--etcd-servers=")).split(",")[0]
    key = f"/registry/{constants.GROUP}/{constants.PLURAL}/{env.namespace}/{name}"
    request = urllib.request.Request(f"{etcd}/v3/kv/range", method="POST",
                                     data=json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        (kv,) = json.loads(response.read())["kvs"]
    return str(json.loads(base64.b64decode(kv["value"]))["apiVersion"])


def database(env: Env, gallery: dict[str, Any]) -> Any:
    return pymongo.MongoClient(env.mongo.uri, tz_aware=True)[gallery["spec"]["database"]["name"]]


def web_image(env: Env, name: str) -> str:
    web = env.obj(WEB.replace("{name}", name)) or {}
    return str(web["spec"]["template"]["spec"]["containers"][0]["image"])


def status(env: Env, name: str) -> dict[str, Any]:
    return dict((env.get(name) or {}).get("status") or {})


def wait_rolled_out(env: Env, name: str) -> None:
    """Progressing=True/RolledOut computed from the Gallery's current generation."""
    generation = (env.get(name) or {})["metadata"]["generation"]
    wait_until(lambda: env.condition(name, "Progressing").get("observedGeneration") == generation
               and env.condition(name, "Progressing").get("reason") == "RolledOut", 60,
               f"Gallery {name} rolled out at generation {generation}")


def test_the_crd_upgrade_serves_v1beta1_for_galleries_created_before_it(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    old = repo_crd()  # what a cluster had before: v1alpha1 only
    old["spec"]["versions"] = [v for v in old["spec"]["versions"] if v["name"] == "v1alpha1"]
    try:
        apply_crd(kubectl, old)
        wait_until(lambda: not served(env, "v1beta1"), 30, "v1beta1 to stop being served")
        env.apply(env.gallery("older"))
        env.wait_condition("older", "Ready", "True", timeout=60)

        apply_crd(kubectl, repo_crd())  # the upgrade: `kubectl apply --server-side -f crds/`
        wait_until(lambda: env.obj(BETA.replace("{name}", "older")) is not None, 30, "the Gallery as v1beta1")
        alpha, beta = env.get("older") or {}, env.obj(BETA.replace("{name}", "older")) or {}
        assert beta["apiVersion"] == "picsource.io/v1beta1" and beta["spec"] == alpha["spec"]
        assert beta["status"]["phase"] == "Ready"

        # A client on v1beta1 changes the spec; the operator (on v1alpha1) reconciles it.
        kubectl("patch", "galleries.v1beta1.picsource.io", "older", "-n", env.namespace, "--type=merge",
                "-p", json.dumps({"spec": {"web": {"replicas": 1}}}))
        wait_until(lambda: ((env.obj(WEB.replace("{name}", "older")) or {}).get("spec") or {}).get("replicas") == 1,
                   30, "the web Deployment scaled through a v1beta1 change")
        crd = env.api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/galleries.picsource.io") or {}
        assert crd["status"]["storedVersions"] == ["v1alpha1"]
        assert stored_api_version(env, "older") == "picsource.io/v1alpha1"  # a v1beta1 write stores v1alpha1

        # The documented switch of the storage version: v1beta1 stores, every object is
        # rewritten, then v1alpha1 leaves status.storedVersions.
        running_operator.stop()  # no status write may rewrite the object but the step under test
        switched = repo_crd()
        for version in switched["spec"]["versions"]:
            version["storage"] = version["name"] == "v1beta1"
        apply_crd(kubectl, switched)
        assert stored_api_version(env, "older") == "picsource.io/v1alpha1"  # existing objects stay as they are
        listed = json.loads(kubectl("get", "galleries.v1beta1.picsource.io", "-n", env.namespace,
                                    "-o", "json").stdout)
        for item in listed["items"]:
            kubectl("patch", "galleries.v1beta1.picsource.io", item["metadata"]["name"], "-n", env.namespace,
                    "--type=merge", "-p", "{}")
        assert stored_api_version(env, "older") == "picsource.io/v1beta1"  # the empty patch rewrote it
        kubectl("patch", "crd", "galleries.picsource.io", "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"storedVersions": ["v1beta1"]}}))
        crd = env.api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/galleries.picsource.io") or {}
        assert crd["status"]["storedVersions"] == ["v1beta1"]
        running_operator.start()
        kubectl("patch", "galleries.v1alpha1.picsource.io", "older", "-n", env.namespace, "--type=merge",
                "-p", json.dumps({"spec": {"web": {"replicas": 2}}}))
        wait_until(lambda: ((env.obj(WEB.replace("{name}", "older")) or {}).get("spec") or {}).get("replicas") == 2,
                   30, "the operator still reconciling once v1beta1 stores the Galleries")
    finally:
        apply_crd(kubectl, repo_crd())  # the session's other tests run on the repository's CRD


def test_migrations_are_recorded_before_the_pods_and_an_image_change_rolls_out_once(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    gallery = env.gallery("rolling")
    env.apply(gallery)
    env.wait_condition("rolling", "Progressing", "True", timeout=60, reason="RolledOut")
    assert status(env, "rolling")["version"] == constants.APP_VERSION
    assert status(env, "rolling")["schemaVersion"] == schema_version()
    db = database(env, gallery)
    records = list(db[SCHEMA_MIGRATIONS].find().sort("_id", 1))
    assert [r["_id"] for r in records] == list(range(1, schema_version() + 1))
    created = (env.obj(WEB.replace("{name}", "rolling")) or {})["metadata"]["creationTimestamp"]
    assert records[-1]["applied_at"].strftime("%Y-%m-%dT%H:%M:%SZ") <= created  # migrated, then the pods

    gallery["spec"]["web"] = {"image": "ghcr.io/picsource/web:0.1.1"}
    env.apply(gallery)
    wait_rolled_out(env, "rolling")
    assert web_image(env, "rolling") == "ghcr.io/picsource/web:0.1.1"
    again = list(db[SCHEMA_MIGRATIONS].find().sort("_id", 1))
    assert again == records  # nothing ran twice

    # The worker's re-analysis walk (after a model change) shows in status with the backlog.
    ReanalysisLedger(db).advance(2, datetime(2026, 1, 1, tzinfo=UTC), 5, done=True, now=datetime.now(UTC))
    JobQueue(db).request([ObjectId()], REANALYSE)
    wait_until(lambda: status(env, "rolling").get("reanalysis") == {
        "pipeline": 2, "requested": 5, "remaining": 1, "done": False, "walkedTo": "2026-01-01T00:00:00Z"},
        40, "status.reanalysis")


def test_an_unknown_release_is_refused_and_nothing_changes(gallery_env: Env, running_operator: OperatorProcess,
                                                            kubectl: Any) -> None:
    env = gallery_env
    gallery = env.gallery("pinned")
    env.apply(gallery)
    env.wait_condition("pinned", "Progressing", "True", timeout=60, reason="RolledOut")
    before = env.obj(WEB.replace("{name}", "pinned")) or {}

    gallery["spec"]["version"] = "9.0.0"
    env.apply(gallery)
    cond = env.wait_condition("pinned", "Progressing", "False", timeout=30, reason="UnsupportedVersion")
    assert "release 9.0.0 is unknown" in cond["message"]
    after = env.obj(WEB.replace("{name}", "pinned")) or {}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert web_image(env, "pinned") == constants.DEFAULT_WEB_IMAGE
    assert env.condition("pinned", "Ready")["status"] == "True"  # the old pods keep serving
    assert status(env, "pinned")["version"] == constants.APP_VERSION
    env.wait_event("pinned", "UnsupportedVersion", "Warning")
    # A credential rotation while refused rolls nothing either (the new release would come with it).
    env.secret("pinned-mongo", {"uri": env.mongo.uri + ("&" if "?" in env.mongo.uri else "?") + "appName=rotated"})
    wait_until(lambda: any(e["reason"] == "CredentialsChanged" for e in env.events("pinned")), 30,
               "the operator to see the rotated Secret")
    assert web_image(env, "pinned") == constants.DEFAULT_WEB_IMAGE

    gallery["spec"]["version"] = constants.APP_VERSION  # back to a release the operator knows
    env.apply(gallery)
    wait_rolled_out(env, "pinned")


def test_a_database_newer_than_the_release_refuses_the_rollout_after_an_operator_downgrade(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    gallery = env.gallery("newer")
    env.apply(gallery)
    env.wait_condition("newer", "Progressing", "True", timeout=60, reason="RolledOut")
    running_operator.stop()
    # A newer release migrated this database; then the operator was rolled back to this one.
    newer = schema_version() + 1
    database(env, gallery)[SCHEMA_MIGRATIONS].insert_one({"_id": newer, "name": "from-a-newer-release"})
    gallery["spec"]["web"] = {"image": "ghcr.io/picsource/web:0.0.9"}
    env.apply(gallery)
    running_operator.start()

    cond = env.wait_condition("newer", "Progressing", "False", timeout=60, reason="DowngradeRefused")
    assert f"schema version {newer}" in cond["message"] and "Nothing was changed" in cond["message"]
    assert status(env, "newer")["schemaVersion"] == newer
    assert web_image(env, "newer") == constants.DEFAULT_WEB_IMAGE  # the old pods stay
    env.wait_event("newer", "DowngradeRefused")


@pytest.mark.parametrize("api_version", ["picsource.io/v1alpha1", "picsource.io/v1beta1"])
def test_kubectl_explain_describes_the_upgrade_fields_in_both_versions(gallery_env: Env, kubectl: Any,
                                                                       api_version: str) -> None:
    def explain(field: str) -> str:
        return " ".join(kubectl("explain", field, f"--api-version={api_version}").stdout.split())

    wait_until(lambda: kubectl("explain", "gallery.spec.version", f"--api-version={api_version}",
                               check=False).returncode == 0, 60, f"kubectl explain on {api_version}")
    assert "database migrations" in explain("gallery.spec.version")
    assert "schema_migrations" in explain("gallery.status.schemaVersion")
    reanalysis = explain("gallery.status.reanalysis")
    assert "bounded number of re-analyses" in reanalysis
    assert all(name in reanalysis for name in ("pipeline", "requested", "remaining", "walkedTo", "done"))
