"""`kubectl picsource`: the plugin's pure output, then the real thing through kubectl.

The cluster test puts a `kubectl-picsource` executable on PATH and runs `kubectl picsource …`
against the real API server with the real operator, so kubectl's plugin discovery, the
kubeconfig handling and every command's exit code are what an admin gets.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_runner import Env, OperatorProcess

from picsource_operator.plugin import cli, render
from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.tools import binary
from tests.support.env import REPO, python_path

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def stamp(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


GALLERY: dict[str, Any] = {
    "apiVersion": "picsource.io/v1alpha1", "kind": "Gallery",
    "metadata": {"name": "family", "namespace": "photos", "generation": 4},
    "spec": {"web": {"replicas": 2}, "database": {"name": "family"}, "storage": {"bucket": "family"},
             "backup": {"schedule": "0 3 * * *", "destination": {"bucket": "backups", "prefix": "g"}},
             "restoreFrom": {"backup": "older"}},
    "status": {"phase": "Ready", "observedGeneration": 4, "url": "https://photos.example",
               "webReadyReplicas": 2, "workerReadyReplicas": 1, "desiredWorkers": 3, "backlog": 42,
               "lastSuccessfulBackup": {"name": "family-202612030300", "completedAt": stamp(timedelta(hours=9)),
                                        "sizeBytes": 3 * 1024 * 1024},
               "conditions": [{"type": "Ready", "status": "True", "reason": "AllReady",
                               "lastTransitionTime": stamp(timedelta(minutes=5)), "message": "all parts ready"},
                              {"type": "WorkersAvailable", "status": "False", "reason": "Scaling",
                               "lastTransitionTime": stamp(timedelta(seconds=30)), "message": "1 of 3"}]},
}


def test_status_text_shows_the_web_autoscalers_replicas_and_load() -> None:
    autoscaled = {**GALLERY, "spec": {**GALLERY["spec"], "web": {"replicas": 2, "autoscaling": {"maxReplicas": 6}}},
                  "status": {**GALLERY["status"], "webReadyReplicas": 3, "desiredWebReplicas": 4, "webLoad": 13.5}}
    text = render.status_text(autoscaled, [], NOW)
    assert "Web:       3/4 ready, autoscaled on 13.5 requests in flight\n" in text


def backup(name: str, age: timedelta, phase: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": stamp(age)}, "spec": {"gallery": "family"},
            "status": {"phase": phase, "sizeBytes": 2048, "objectCount": 12, "durationSeconds": 1.25}}


def test_status_text_shows_phase_backlog_conditions_and_backups_newest_first() -> None:
    text = render.status_text(GALLERY, [backup("old", timedelta(days=2), "Completed"),
                                        backup("new", timedelta(hours=1), "Failed")], NOW)
    assert "Gallery photos/family" in text and "Phase:     Ready\n" in text
    assert "Workers:   1/3 ready" in text and "Backlog:   42 images" in text
    assert "Web:       2/2 ready\n" in text
    assert "Last backup: family-202612030300 completed 9h ago (3.0 MiB)" in text
    conditions = text.split("Conditions:")[1].split("Backups:")[0].splitlines()
    assert conditions[1].split()[:4] == ["TYPE", "STATUS", "REASON", "AGE"]
    assert conditions[3].split()[:4] == ["WorkersAvailable", "False", "Scaling", "30s"]
    rows = text.split("Backups:")[1].splitlines()
    assert [row.split()[:2] for row in rows[2:4]] == [["new", "Failed"], ["old", "Completed"]]
    assert rows[3].split()[2:] == ["2d", "2.0", "KiB", "12", "1.2s"]


def test_status_text_says_when_nothing_is_reported_yet() -> None:
    fresh = {"metadata": {"name": "x", "namespace": "n", "generation": 1}, "spec": {}}
    text = render.status_text(fresh, [], NOW)
    assert "Phase:     Unknown  (status not yet updated)" in text
    assert "none reported yet (is the operator running?)" in text and "Last backup: none" in text


def test_backup_object_goes_to_the_flags_else_to_the_schedule_destination() -> None:
    mine = render.backup_object(GALLERY, "b1", "elsewhere", "p/q")
    assert mine["spec"] == {"gallery": "family", "destination": {"bucket": "elsewhere", "prefix": "p/q"}}
    assert mine["metadata"] == {"name": "b1", "namespace": "photos"} and mine["kind"] == "GalleryBackup"
    scheduled = render.backup_object(GALLERY, "b2", None, None)
    assert scheduled["spec"]["destination"] == {"bucket": "backups", "prefix": "g"}
    bare = {**GALLERY, "spec": {}}
    with pytest.raises(ValueError, match="no spec.backup.destination: give --bucket"):
        render.backup_object(bare, "b3", None, None)
    assert render.backup_name("family", NOW) == "family-20261203120000"
    assert len(render.backup_name("g" * 253, NOW)) <= 253


def test_restored_gallery_copies_the_spec_but_not_its_restore_or_schedule() -> None:
    obj = render.restored_gallery(GALLERY["spec"], "family-b1", "family-2", "photos",
                                  database="family_2", bucket=None, host="new.example")
    assert obj["metadata"] == {"name": "family-2", "namespace": "photos"}
    assert obj["spec"]["restoreFrom"] == {"backup": "family-b1"} and "backup" not in obj["spec"]
    assert obj["spec"]["database"] == {"name": "family_2"} and obj["spec"]["storage"] == {"bucket": "family"}
    assert obj["spec"]["web"]["ingress"] == {"host": "new.example"}
    assert GALLERY["spec"]["restoreFrom"] == {"backup": "older"}  # the source is not modified


def test_the_package_installs_the_plugin_where_kubectl_looks() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["kubectl-picsource"].partition(":")
    assert (module, function) == ("picsource_operator.plugin.cli", "main") and callable(cli.main)


def test_connection_options_go_before_or_after_the_command() -> None:
    before = cli.parser().parse_args(["-n", "a", "--context", "c", "status", "g"])
    after = cli.parser().parse_args(["status", "g", "--namespace", "b", "--kubeconfig", "k"])
    assert (before.namespace, before.context, getattr(before, "kubeconfig", None)) == ("a", "c", None)
    assert (after.namespace, after.kubeconfig, after.gallery) == ("b", "k", "g")


# --- through kubectl, on the real control plane ---------------------------------------------
@pytest.fixture
def plugin(cluster: Cluster, tmp_path: Path) -> Any:
    """run(*args) -> `kubectl picsource <args>` found on PATH by kubectl itself."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "kubectl-picsource"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m picsource_operator.plugin.cli \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": python_path(),
           "KUBECONFIG": str(cluster.kubeconfig)}

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary("kubectl")), "picsource", *args], env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    return run


def test_status_backup_restore_and_logs_through_kubectl(gallery_env: Env, running_operator: OperatorProcess,
                                                       plugin: Any) -> None:
    env, ns = gallery_env, gallery_env.namespace
    env.apply(env.gallery("album", web={"replicas": 1}))
    env.wait_condition("album", "DatabaseBound", "True")
    env.wait_condition("album", "StorageBound", "True")

    status = plugin("status", "album", "-n", ns)
    assert status.returncode == 0, status.stderr
    assert f"Gallery {ns}/album" in status.stdout and "DatabaseBound" in status.stdout
    assert "Last backup: none" in status.stdout

    bucket = f"op-plugin-{uuid.uuid4().hex[:8]}"
    env.buckets.append(bucket)
    made = plugin("backup", "album", "-n", ns, "--name", "album-b1", "--bucket", bucket, "--wait",
                  "--timeout", "60")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "album-b1 created" in made.stdout and "album-b1: Completed" in made.stdout
    wait_until(lambda: "Last backup: album-b1" in plugin("status", "album", "-n", ns).stdout, 30,
               "status to show the last backup")
    listed = plugin("status", "album", "-n", ns).stdout.split("Backups:")[1]
    assert "album-b1" in listed and "Completed" in listed

    dry = plugin("restore", "album-b1", "-n", ns, "--to", "album-2", "--database", "x_restored", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    printed = yaml.safe_load(dry.stdout)
    assert printed["spec"]["restoreFrom"] == {"backup": "album-b1"}
    assert printed["spec"]["database"]["name"] == "x_restored" and env.get("album-2") is None
    restored_db = f"op_restored_{uuid.uuid4().hex[:8]}"
    env.databases.append(restored_db)
    created = plugin("restore", "album-b1", "-n", ns, "--to", "album-2", "--database", restored_db)
    assert created.returncode == 0, created.stderr
    assert (env.get("album-2") or {})["spec"]["restoreFrom"] == {"backup": "album-b1"}
    env.wait_condition("album-2", "Restored", "True", timeout=60)

    logs = plugin("logs", "album", "-n", ns, "--component", "web", "--tail", "5")
    # kwok's simulated pods have no kubelet to serve logs: a message per pod, no traceback.
    assert "== web pod album-web-" in logs.stdout and "Traceback" not in logs.stderr


def test_refusals_are_one_line_with_exit_code_1(gallery_env: Env, plugin: Any, tmp_path: Path) -> None:
    ns = gallery_env.namespace
    missing = plugin("status", "nope", "-n", ns)
    assert (missing.returncode, missing.stderr) == (1, f'error: Gallery "nope" not found in namespace "{ns}"\n')
    no_backup = plugin("restore", "nope", "-n", ns, "--to", "x")
    assert no_backup.returncode == 1 and "GalleryBackup \"nope\" not found" in no_backup.stderr
    usage = plugin("restore", "b1")
    assert usage.returncode == 2 and "--to" in usage.stderr
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    unreachable = plugin("--kubeconfig", str(dead), "status", "x", timeout=120)
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error: cannot reach the API server")
