"""The stage the operator benches share: a fresh control plane (kwok nodes), MinIO and the
MongoDB-wire server, the CRDs and a namespace whose Secrets Galleries bind to; operators
started on it are stopped with it, and everything is torn down however the bench ends.

Why a module: bench_operator, bench_upgrade, bench_backup and bench_failover each built
and tore down the same five things in the same order; one place now owns that order.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "tests/operator")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from operator_runner import OperatorProcess, stage_for_galleries  # noqa: E402

from tests.harness.cluster import Cluster  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402


@dataclass
class Stage:
    work: Path
    namespace: str
    cluster: Cluster
    minio: MinioServer
    mongo: MongoServer
    api: Any = None  # the control plane's API client (tests.harness.kubeapi)
    operators: list[OperatorProcess] = field(default_factory=list)

    def start_operator(self, log_name: str = "operator.log", **options: Any) -> OperatorProcess:
        """An operator watching the stage's namespace (OperatorProcess options), stopped
        with the stage."""
        proc = OperatorProcess(self.cluster, self.namespace, self.work / log_name, **options)
        self.operators.append(proc)
        return proc.start()


@contextmanager
def operator_stage(prefix: str, namespace: str) -> Iterator[Stage]:
    work = Path(tempfile.mkdtemp(prefix=prefix))
    stage = Stage(work, namespace, Cluster(work / "cluster"), MinioServer(work / "minio"),
                  MongoServer(work / "mongo"))
    try:
        stage.cluster.up()
        stage.minio.start()
        stage.mongo.start()
        stage.api = stage_for_galleries(stage.cluster, stage.minio, stage.mongo, namespace)
        yield stage
    finally:
        for proc in stage.operators:
            proc.stop()
        if stage.operators:
            print(f"operator logs: {work}")
        stage.mongo.stop()
        stage.minio.stop()
        stage.cluster.down()
