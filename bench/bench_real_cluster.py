"""PicSource on the real single-node cluster: the figures a Helm installer feels.

- helm install → Gallery Ready (s): from `helm install` (hostPath PVs already there)
  through SecantusDB and `kubectl apply` of the example Gallery to its Ready condition.
  Goal ≤ 60 s.
- upload → thumbnail visible (s): an API upload until its thumbnail URL answers 200
  through the web Service, inside the node's namespace. Goal ≤ 5 s (median).
- rolling upgrade: `helm upgrade` to a new web image tag under a keep-alive load loop;
  failed requests out of ≥ 1,000 (goal 0), and the rollout time until every web pod runs
  the new image and the Gallery reports Progressing=True/RolledOut.

Not a test: it prints figures. The node comes up fresh in a temporary state dir (its
own start-up times are printed too) and is torn down at the end.

Run: ``python bench/bench_real_cluster.py [uploads]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e import realcluster_objects as obj
from tests.e2e.realcluster_install import Install
from tests.e2e.realcluster_steps import rolling_upgrade, upload_to_thumbnail
from tests.e2e.realcluster_web import WebUser
from tests.harness.realnode import RealCluster

MIN_REQUESTS = 1000


def main(uploads: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-realnode-") as tmp:
        node = RealCluster(Path(tmp) / "node")
        started = time.monotonic()
        node.up()
        print(f"node up (s): {time.monotonic() - started:.1f}  "
              + "  ".join(f"{k} {v:.1f}" for k, v in node.timings.items()))  # fmt: skip
        try:
            return _measure(Install(node), uploads)
        finally:
            node.down()


def _measure(install: Install, uploads: int) -> int:
    install.weigh_node()
    install.volumes()
    started = time.monotonic()
    install.helm_install()
    helm_done = time.monotonic() - started
    install.database()
    install.gallery()
    install.wait_gallery_ready()
    ready = time.monotonic() - started
    print(f"helm install --wait (s): {helm_done:.1f}")
    print(f"helm install -> Gallery Ready (s): {ready:.1f}  (goal <= 60)")

    user = WebUser(install.web_url(), install.node.call)
    user.signup("bencher", "a long enough passphrase 42")
    upload_to_thumbnail(user, obj.photo(100), "warm-up.jpg")  # first request per process
    times = [
        upload_to_thumbnail(user, obj.photo(101 + i), f"bench-{i}.jpg") for i in range(uploads)
    ]
    print(f"upload -> thumbnail visible (s): median {statistics.median(times):.2f}  "
          f"max {max(times):.2f}  n={uploads}  (goal median <= 5)")  # fmt: skip

    upgrade = rolling_upgrade(install, user, f"{install.tag}-bench", MIN_REQUESTS)
    result = upgrade.load
    print(f"rolling upgrade: {result.failed} failed of {result.total} requests  (goal 0 of >= {MIN_REQUESTS}); "
          f"helm upgrade -> every web pod new and Ready, Gallery Progressing=RolledOut (s): "
          f"{upgrade.rollout_seconds:.1f}")  # fmt: skip
    for error in result.errors[:5]:
        print(f"  {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
