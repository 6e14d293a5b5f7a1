"""PicSource on a real single-node Kubernetes, used end to end as a person would.

The real node (tests/harness/realnode.py: containerd, kubelet, kube-proxy, CoreDNS in a
network namespace of its own) runs our own images. Like a person with kubectl and helm:
hostPath PVs for the bundled StatefulSets, `helm install` (operator + bundled MinIO),
SecantusDB as the MongoDB-wire backing service, `kubectl apply` the example Gallery,
wait for Ready (the Gallery's namespace enforces the restricted Pod Security Standard,
so its real pods prove they pass it). Then, from inside the namespace: sign up, upload
through the JSON API and the HTML form, see the worker pod analyse them, look at the
grid and an image page in Chromium (every image has real pixels), search; `helm test`;
delete a worker pod mid-job and the operator pod mid-reconcile; back up the gallery
(GalleryBackup) and restore it into a new Gallery whose own web Service serves every
image; scale the web pods up on uploads held in flight and back down once they end;
`helm upgrade` to a new web image tag under a load loop with zero failed requests; `helm
uninstall`.

The tests share one install and run in file order (each leaves the Gallery Ready).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from picsource_core.images import PENDING, READY
from tests.e2e import realcluster_browser as browser
from tests.e2e import realcluster_objects as obj
from tests.e2e import realcluster_ops as ops
from tests.e2e.realcluster_install import Install
from tests.e2e.realcluster_steps import rolling_upgrade
from tests.e2e.realcluster_web import WebUser, analysed
from tests.harness.kubeapi import wait_until
from tests.harness.realnode import RealCluster
from tests.harness.realnode_tools import image_archive
from tests.harness.tools import MissingToolError, binary

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]
PASSWORD = "a long enough passphrase 42"
UPLOAD_TAG = "roadtrip"


def _require_tools_and_images() -> None:
    """Fail (never skip) naming what is missing and the command that provides it."""
    problems = []
    for tool in ("helm", "kubectl"):
        try:
            binary(tool)
        except MissingToolError as exc:
            problems.append(str(exc))
    tag = obj.app_version()
    refs = [f"{obj.REGISTRY}/{c}:{tag}" for c in ("web", "worker", "operator")]
    refs.append(f"{obj.REGISTRY}/minio:{obj.minio_tag()}")
    for ref in refs:
        if not image_archive(ref).exists():
            problems.append(f"image archive {image_archive(ref)} ({ref}): run `make images`")
    if not browser.CHROMIUM.exists():
        problems.append(f"{browser.CHROMIUM}: `bash .ci/tools.sh apt` (Debian chromium)")
    if problems:
        pytest.fail("the real-cluster e2e test needs:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def install(real_cluster: RealCluster) -> Iterator[Install]:
    _require_tools_and_images()
    installer = Install(real_cluster)
    try:
        installer.install_all()
    except BaseException:
        print(installer.describe())
        raise
    print(f"\nreal-cluster install timings: {installer.timings}")
    yield installer


@pytest.fixture(scope="module")
def user(install: Install) -> WebUser:
    person = WebUser(install.web_url(), install.node.call)
    person.signup("realperson", PASSWORD)
    return person


@pytest.fixture(scope="module")
def uploaded(user: WebUser) -> dict[str, str]:
    """Two photos through the API, one through the HTML form: {id: how}."""
    ids = {}
    for seed in (1, 2):
        made = user.api_upload(obj.photo(seed), f"api-{seed}.jpg", f"{UPLOAD_TAG},api",
                               title=f"api photo {seed}")  # fmt: skip
        ids[made["id"]] = "api"
    ids[user.form_upload(obj.photo(3, (800, 600)), "form.jpg", f"{UPLOAD_TAG},form",
                         title="form photo")] = "form"  # fmt: skip
    return ids


def user_secrets() -> set[str]:
    """The two Secrets the person created for the example Gallery (theirs to delete)."""
    gallery = obj.example_gallery(obj.GALLERY_NS, "http://unused")
    return {f"Secret/{s['metadata']['name']}" for s in obj.gallery_secrets(gallery, "", "", "")}


def wait_analysed(user: WebUser, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}

    def all_done() -> bool:
        for image_id in ids:
            if image_id not in done:
                image, analysis = user.image(image_id), user.analysis(image_id)
                if analysed(image, analysis):
                    done[image_id] = {"image": image, "analysis": analysis}
        return len(done) == len(ids)

    try:
        wait_until(all_done, timeout, f"{len(ids)} images analysed by the worker", interval=1.0)
    except TimeoutError as exc:
        states = {i: user.analysis(i).get("status") for i in ids if i not in done}
        raise AssertionError(f"{exc}; not analysed: {states}") from exc
    return done


def test_helm_install_brings_the_example_gallery_to_ready(install: Install) -> None:
    gallery = install.get("gallery", obj.GALLERY, "-n", obj.GALLERY_NS)
    ready = [c for c in gallery["status"].get("conditions", []) if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", gallery["status"]
    images = {c["image"] for pod in install.pods(obj.GALLERY_NS, "web") + install.pods(obj.GALLERY_NS, "worker")
              for c in pod["spec"]["containers"]}  # fmt: skip
    assert images == {f"{obj.REGISTRY}/web:{install.tag}", f"{obj.REGISTRY}/worker:{install.tag}"}
    operator = install.pods(obj.NAMESPACE, "operator")
    assert operator and all(s["ready"] for p in operator for s in p["status"]["containerStatuses"])


def test_the_gallery_namespace_enforces_the_restricted_pod_security_standard(install: Install) -> None:
    labels = install.get("namespace", obj.GALLERY_NS)["metadata"].get("labels", {})
    assert {k: labels.get(k) for k in obj.RESTRICTED} == obj.RESTRICTED, labels
    pods = install.pods(obj.GALLERY_NS, "web") + install.pods(obj.GALLERY_NS, "worker")
    assert pods and all(s["ready"] for p in pods for s in p["status"]["containerStatuses"])
    # Enforced, not just labelled: a pod that runs as root with privilege escalation is refused.
    root_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e2e-root", "namespace": obj.GALLERY_NS},
                "spec": {"containers": [{"name": "c", "image": pods[0]["spec"]["containers"][0]["image"],
                                         "securityContext": {"runAsUser": 0}}]}}  # fmt: skip
    refused = install.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(root_pod), check=False)
    assert refused.returncode != 0 and 'violates PodSecurity "restricted' in refused.stderr, refused


def test_uploads_through_api_and_form_are_analysed_and_searchable(
    install: Install, user: WebUser, uploaded: dict[str, str]
) -> None:
    done = wait_analysed(user, list(uploaded), 240)
    logs = install.kubectl("logs", "-n", obj.GALLERY_NS, "-l", "app.kubernetes.io/component=worker",
                           "--tail=-1", "--prefix").stdout  # fmt: skip
    for image_id in uploaded:  # the worker pod itself logged each job's outcome
        assert f"image {image_id}: " in logs, f"no worker pod log line for {image_id}:\n{logs[-2000:]}"
    for image_id, seen in done.items():
        labels = seen["analysis"]["result"]["labels"]
        assert labels and all(label["label"] for label in labels), seen["analysis"]
        assert seen["analysis"]["result"].get("exif"), f"{image_id}: EXIF not extracted"
        thumb = user.fetch(seen["image"]["urls"]["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/"), (
            f"{image_id} thumbnail: HTTP {thumb.status_code} from {thumb.url}"
        )
    assert set(user.search(tag=UPLOAD_TAG)) == set(uploaded)
    assert set(user.search(tag="form")) == {i for i, how in uploaded.items() if how == "form"}
    assert set(user.search(q="api photo")) >= {i for i, how in uploaded.items() if how == "api"}


@pytest.mark.browser
def test_chromium_in_the_namespace_loads_grid_thumbnails_and_the_original(
    install: Install, user: WebUser, uploaded: dict[str, str], tmp_path: Path
) -> None:
    wait_analysed(user, list(uploaded), 240)
    with browser.chromium_in(install.node.netns_path, tmp_path) as chromium:
        page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        browser.sign_in(page, user.base, "realperson", PASSWORD)
        page.goto(f"{user.base}/")
        assert page.locator("[data-image-id]").count() == len(uploaded)
        grid = browser.wait_images_loaded(page)
        assert len(grid) >= len(uploaded), grid
        form_id = next(i for i, how in uploaded.items() if how == "form")
        page.goto(f"{user.base}/images/{form_id}")
        browser.wait_images_loaded(page)
        original = user.image(form_id)["urls"]["original"]
        assert browser.natural_width(page, original) == 800, f"original {original} did not load"
        page.goto(f"{user.base}/search?tag=form")
        assert page.locator("[data-image-id]").count() == 1


def test_helm_test_pod_runs_and_passes(install: Install) -> None:
    result = install.helm(
        "test", obj.RELEASE, "-n", obj.NAMESPACE, "--timeout", "180s", timeout=240
    )
    assert "Phase:          Succeeded" in result.stdout, result.stdout


def test_deleting_a_worker_pod_mid_job_loses_no_image(install: Install, user: WebUser) -> None:
    ids = [user.api_upload(obj.photo(10 + i, (1600, 1200)), f"batch-{i}.jpg", "batch")["id"]
           for i in range(6)]  # fmt: skip

    states: dict[str, str] = {}

    def one_started() -> bool:
        states.update({i: str(user.analysis(i).get("status")) for i in ids})
        return any(state != PENDING for state in states.values())

    wait_until(one_started, 120, "the worker to pick up a job", interval=0.3)
    victims = [p["metadata"]["name"] for p in install.pods(obj.GALLERY_NS, "worker")]
    install.kubectl("delete", "pod", "-n", obj.GALLERY_NS, *victims, "--wait=false")
    assert set(states.values()) - {READY}, f"all done before the pod was deleted: {states}"
    wait_analysed(user, ids, 300)
    left = {p["metadata"]["name"] for p in install.pods(obj.GALLERY_NS, "worker")}
    assert left and not left & set(victims)


def test_deleting_the_operator_mid_reconcile_converges(install: Install) -> None:
    install.kubectl("patch", "gallery", obj.GALLERY, "-n", obj.GALLERY_NS, "--type=merge",
                    "-p", '{"spec":{"worker":{"replicas":2}}}')  # fmt: skip
    operator = [p["metadata"]["name"] for p in install.pods(obj.NAMESPACE, "operator")]
    install.kubectl("delete", "pod", "-n", obj.NAMESPACE, *operator, "--wait=false")

    def converged() -> bool:
        dep = install.get("deployment", f"{obj.GALLERY}-worker", "-n", obj.GALLERY_NS)
        gallery = install.get("gallery", obj.GALLERY, "-n", obj.GALLERY_NS)
        status = gallery.get("status", {})
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
        )
        return (dep["spec"]["replicas"] == 2 and dep["status"].get("readyReplicas") == 2 and ready
                and status.get("observedGeneration") == gallery["metadata"]["generation"])  # fmt: skip

    wait_until(converged, 300, "the Gallery to converge after the operator pod was deleted", 2.0)
    install.kubectl("patch", "gallery", obj.GALLERY, "-n", obj.GALLERY_NS, "--type=merge",
                    "-p", '{"spec":{"worker":{"replicas":1}}}')  # fmt: skip


def test_backup_and_restore_into_a_new_gallery_serves_every_image(
    install: Install, user: WebUser, uploaded: dict[str, str]
) -> None:
    wait_analysed(user, list(uploaded), 240)
    images = user.search(limit="100")
    assert len(images) >= 3, images  # the uploads of the tests above, analysed
    try:
        done = ops.backup_and_restore(install)
        print(f"\nbackup: {done.backup['documentCount']} documents, {done.backup['objectCount']} objects, "
              f"{done.backup['sizeBytes']} bytes in {done.backup_seconds:.1f} s; restored gallery Ready "
              f"in {done.restore_seconds:.1f} s ({done.restored.get('message')})")  # fmt: skip
        assert done.restored.get("status") == "True", done.restored
        assert done.backup["objectCount"] >= len(images), done.backup
        restored = WebUser(f"http://{ops.cluster_ip(install, f'{ops.RESTORED}-web', obj.GALLERY_NS)}",
                           install.node.call, token=user.token)  # fmt: skip
        print(f"restored gallery's Service serving {restored.wait_serving():.1f} s after Ready")
        restored.login("realperson", PASSWORD)  # the account, its password and token came back
        assert set(restored.search(limit="100")) == set(images)
        for image_id in images:
            thumb = restored.fetch(restored.image(image_id)["urls"]["thumbnail"])
            assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/"), (
                f"restored {image_id} thumbnail: HTTP {thumb.status_code} from {thumb.url}")
    finally:
        ops.remove_restored(install)


def test_web_pods_scale_up_under_requests_in_flight_and_back_down(install: Install, user: WebUser) -> None:
    autoscaling = {"minReplicas": 1, "maxReplicas": 3, "targetInFlightPerReplica": 1,
                   "scaleDownStabilizationSeconds": 10}  # fmt: skip
    replicas = len(install.pods(obj.GALLERY_NS, "web"))
    scaled = ops.autoscale_under_held_requests(install, user.base, user.token, autoscaling, held=4)
    print(f"\nweb autoscaling: {scaled.before} -> {scaled.peak} ready web pods in {scaled.up_seconds:.1f} s "
          f"with 4 uploads held in flight (webLoad {scaled.web_load:g}); back to {scaled.before} in "
          f"{scaled.down_seconds:.1f} s after they ended (window 10 s)")  # fmt: skip
    assert {"WebScaledUp", "WebScaledDown"} <= set(scaled.events), scaled.events
    wait_until(lambda: ops.web_replicas(install) == (replicas, replicas, replicas), 150,
               f"{replicas} ready web pods again with autoscaling off", 1.0)  # fmt: skip
    install.wait_gallery_ready(120)


def test_helm_upgrade_rolls_the_web_tier_with_zero_failed_requests(
    install: Install, user: WebUser
) -> None:
    upgrade = rolling_upgrade(install, user, f"{install.tag}-e2e", min_requests=300)
    result = upgrade.load
    print(f"\nrolling upgrade: {result.failed} failed of {result.total} requests, "
          f"rolled out in {upgrade.rollout_seconds:.1f} s")
    assert result.failed == 0, f"{result.failed} of {result.total} failed: {result.errors}"


def test_helm_uninstall_leaves_only_retained_data_and_the_crd(install: Install) -> None:
    install.kubectl(
        "delete", "gallery", obj.GALLERY, "-n", obj.GALLERY_NS, "--timeout=180s", timeout=200
    )
    install.helm(
        "uninstall", obj.RELEASE, "-n", obj.NAMESPACE, "--wait", "--timeout", "180s", timeout=210
    )
    install.kubectl(
        "delete", "statefulset,service", "-n", obj.NAMESPACE, obj.DB_NAME, "--wait=true"
    )

    def gone() -> bool:
        left = (
            install.get("pods", "-n", obj.NAMESPACE)["items"]
            + install.get("pods", "-n", obj.GALLERY_NS)["items"]
        )
        return not left

    wait_until(gone, 180, "every pod of the release and the Gallery to go", 2.0)
    kinds = "deployments,statefulsets,services,configmaps,secrets,serviceaccounts"
    for ns, allowed in ((obj.NAMESPACE, set()), (obj.GALLERY_NS, user_secrets())):
        items = install.get(kinds, "-n", ns)["items"]
        names = {f"{i['kind']}/{i['metadata']['name']}" for i in items
                 if i["metadata"]["name"] not in ("kube-root-ca.crt", "default")} - allowed  # fmt: skip
        assert not names, f"left in namespace {ns} after uninstall: {sorted(names)}"
    cluster = install.get(
        "clusterroles,clusterrolebindings", "-l", f"app.kubernetes.io/instance={obj.RELEASE}"
    )
    assert not cluster["items"], [i["metadata"]["name"] for i in cluster["items"]]
    assert install.get("crd", "galleries.picsource.io")["metadata"]["name"]
    claims = {i["metadata"]["name"] for i in install.get("pvc", "-n", obj.NAMESPACE)["items"]}
    assert claims == {obj.minio_claim(), obj.db_claim()}, claims
    for name in ("minio", "secantusdb"):  # Retain: the data is still on the node
        assert any((install.pv_root / name).iterdir()), f"{name} volume is empty"
