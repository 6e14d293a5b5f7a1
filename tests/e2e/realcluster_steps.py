"""Measured steps shared by the real-cluster e2e test and bench/bench_real_cluster.py:
a rolling `helm upgrade` of the web tier under load, and upload → thumbnail visible.

Why a module: the test asserts on these figures and the benchmark prints them; both must
measure the same thing the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.e2e import realcluster_objects as obj
from tests.e2e.realcluster_install import CHART, Install
from tests.e2e.realcluster_web import LoadLoop, LoadResult, WebUser
from tests.harness.kubeapi import wait_until


def web_rolled(install: Install, image_ref: str, replicas: int) -> bool:
    """Every web pod runs image_ref and is Ready, and there are exactly `replicas`."""
    pods = install.pods(obj.GALLERY_NS, "web")
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    ready = all(s["ready"] for p in pods for s in p["status"].get("containerStatuses", []))
    return images == {image_ref} and ready and len(pods) == replicas


def gallery_rolled_out(install: Install) -> bool:
    """The Gallery's Progressing condition says RolledOut (the operator's upgrade step saw
    every pod of the release ready)."""
    gallery = install.get("gallery", obj.GALLERY, "-n", obj.GALLERY_NS)
    conditions = gallery.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Progressing" and c.get("status") == "True"
               and c.get("reason") == "RolledOut" for c in conditions)  # fmt: skip


@dataclass(frozen=True)
class Upgrade:
    """What a rolling upgrade under load measured."""

    load: LoadResult
    #: From `helm upgrade` until every web pod runs the new image, Ready, and the
    #: Gallery reports Progressing=True/RolledOut.
    rollout_seconds: float


def rolling_upgrade(install: Install, user: WebUser, new_tag: str, min_requests: int) -> Upgrade:
    """Retag the web image in containerd, `helm upgrade` to it, roll, all under load.

    The load loop (one keep-alive client inside the namespace, like a browser) runs from
    before the upgrade until the rollout is done and at least min_requests were made.
    """
    install.ctr("images", "tag", "--force", f"{obj.REGISTRY}/web:{install.tag}",
                f"{obj.REGISTRY}/web:{new_tag}")  # fmt: skip
    replicas = len(install.pods(obj.GALLERY_NS, "web"))
    paths = [("/healthz", {}), ("/api/v1/images?limit=5", user.bearer), ("/login", {})]
    load = LoadLoop(str(install.node.netns_path), user.base, paths,
                    limit=max(20_000, min_requests * 4), seconds=600).start()  # fmt: skip
    try:
        load.wait_total(50, 60)
        started = time.monotonic()
        install.helm("upgrade", obj.RELEASE, str(CHART), "-n", obj.NAMESPACE, "--reuse-values",
                     "--set", f"images.web.tag={new_tag}", "--wait", "--timeout", "300s",
                     timeout=330)  # fmt: skip
        target = f"{obj.REGISTRY}/web:{new_tag}"
        wait_until(lambda: web_rolled(install, target, replicas) and gallery_rolled_out(install), 360,
                   f"every web pod on {target} and Ready, and the Gallery RolledOut", 1.0)  # fmt: skip
        rollout = time.monotonic() - started
        load.wait_total(max(min_requests, load.result.total + 50), 300)
    finally:
        result = load.stop()
    return Upgrade(load=result, rollout_seconds=rollout)


def upload_to_thumbnail(user: WebUser, data: bytes, name: str, timeout: float = 120) -> float:
    """Seconds from the start of an API upload until its thumbnail is served (HTTP 200)."""
    started = time.monotonic()
    image_id = user.api_upload(data, name, "bench")["id"]
    deadline = started + timeout
    while time.monotonic() < deadline:
        thumb = user.image(image_id)["urls"]["thumbnail"]
        if thumb and user.fetch(thumb).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"no thumbnail for {image_id} after {timeout:.0f}s")
