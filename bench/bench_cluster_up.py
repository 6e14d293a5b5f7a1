"""Time to a usable test control plane with cached binaries, and time to tear it down.

"Usable" is what the `cluster` fixture waits for: /readyz ok, the kwok Node Ready and
the default ServiceAccount created. Each round uses a fresh state dir (new PKI, empty
etcd), as a test session does.

Run: ``python bench/bench_cluster_up.py [rounds]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.cluster import Cluster


def main(rounds: int) -> None:
    ups, downs = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            cluster = Cluster(Path(tmp) / "cluster")
            started = time.monotonic()
            cluster.up()
            ups.append(time.monotonic() - started)
            started = time.monotonic()
            cluster.down()
            downs.append(time.monotonic() - started)
    print(f"cluster up   (s): median {statistics.median(ups):.1f}  max {max(ups):.1f}  n={rounds}")
    print(f"cluster down (s): median {statistics.median(downs):.1f}  max {max(downs):.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
