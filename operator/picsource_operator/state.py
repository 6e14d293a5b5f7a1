"""Per-operator runtime state, kept in kopf's `memo` (filled at start-up).

Why in memory: binding checks, autoscaler history and the last written status
are caches that make reconciles cheap; losing them on restart only costs one
extra check each, so nothing here needs to be persisted beyond the Gallery's own
status (which is where `desiredWorkers` survives a restart).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pymongo.database import Database

from picsource_core.mongo import Document
from picsource_core.web_load import WebLoad
from picsource_operator.autoscale import History
from picsource_operator.bindings import MongoClients, SecretReader
from picsource_operator.conditions import Condition
from picsource_operator.egress import Egress
from picsource_operator.kube import Kube
from picsource_operator.settings import OperatorSettings
from picsource_operator.spec import Gallery

Key = tuple[str, str]  # (namespace, name)


@dataclass
class DeploymentState:
    ready: int
    desired: int
    resource_version: int = 0  # to ignore a watch event older than an apply response
    # The rollout (upgrade.rolled_out): pods of the current template, all pods, and whether
    # the controller has seen the current template at all (status.observedGeneration).
    updated: int = 0
    total: int = 0
    current: bool = True


@dataclass
class GalleryState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    uid: str = ""
    gallery: Gallery | None = None  # the last parsed spec, for status refreshes from child events
    storage: Condition | None = None
    database: Condition | None = None
    db: Database[Document] | None = None
    checked_at: float = 0.0  # monotonic time of the last binding check
    checked_generation: int = -1
    applied_at: float = 0.0  # monotonic time of the last full apply
    applied_generation: int = -1
    history: History = ()
    desired_workers: int | None = None
    backlog: int | None = None
    backlog_at: float = 0.0  # monotonic time of the last queue query
    desired_web: int | None = None  # the web autoscaler's decision (web_scaling.py)
    web_history: History = ()
    web_load: WebLoad | None = None  # the web processes' load reports, summed at the last tick
    last_status: dict[str, Any] | None = None
    phase: str = "Pending"
    ingress_may_exist: bool | None = None  # None: unknown (decided from the Gallery's status)
    egress: Egress | None = None  # where the pods may connect (resolved with the bindings)
    applied_egress: Egress | None = None  # the plan of the last full apply
    secret_key: str = ""  # the app Secret's key, kept so a deleted Secret comes back unchanged
    secrets_hash: str | None = None  # digest of the referenced Secrets' data; None: not read yet
    applied_secrets_hash: str | None = None  # the digest on the pod templates of the last full apply
    restored: Condition | None = None  # spec.restoreFrom's outcome (None: not attempted by this process)
    restore_job: Future[Any] | None = None  # the restore running in the backup pool
    # Upgrades (upgrade.py): the release whose schema this process confirmed in the database,
    # the database's schema version, and what blocks the rollout (a refusal or failed migration).
    schema_release: str | None = None
    schema_version: int | None = None
    upgrade_blocked: Condition | None = None
    reanalysis: dict[str, Any] | None = None  # status.reanalysis (upgrade_step.reanalysis_progress)


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: Kube
    mongo: MongoClients = field(default_factory=MongoClients)
    galleries: dict[Key, GalleryState] = field(default_factory=dict)
    deployments: dict[Key, DeploymentState] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Applies of one gallery's children run side by side: latency is API round trips.
    apply_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="apply"))
    # GalleryBackups run here, two at a time, off kopf's reconcile threads.
    backup_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="backup"))
    secrets: SecretReader = field(init=False)

    def __post_init__(self) -> None:
        self.secrets = SecretReader(self.kube)

    def gallery(self, namespace: str, name: str, uid: str = "") -> GalleryState:
        with self.lock:
            state = self.galleries.get((namespace, name))
            if state is None or (uid and state.uid and state.uid != uid):
                state = GalleryState(uid=uid)  # a re-created Gallery starts afresh
                self.galleries[(namespace, name)] = state
            elif uid and not state.uid:
                state.uid = uid
            return state

    def forget(self, namespace: str, name: str) -> None:
        with self.lock:
            self.galleries.pop((namespace, name), None)

    def phases(self) -> list[str]:
        with self.lock:
            return [s.phase for s in self.galleries.values()]
