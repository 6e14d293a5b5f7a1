"""Leader election over a coordination.k8s.io Lease, so two operator replicas never both act.

Why a Lease and not Kopf's peering: Kopf's peering is meant to pause deployed operators
while a developer runs one locally; it has no per-object locks, pauses *every* peer when
two share a priority, needs cluster-scoped CRDs and a pre-created peering object, and a
paused-then-resumed process keeps its in-memory caches (our last written status, binding
checks) from its earlier term. A Lease in the operator's own namespace needs a namespaced
Role only, and this module uses it the way client-go does:

* a standby polls the Lease; it may take it when nobody holds it, or when the holder has not
  renewed for `lease_seconds` *as measured by the standby's own monotonic clock* from the
  moment it last saw the record change (no trust in other nodes' wall clocks);
* every write carries the resourceVersion it read, so two standbys cannot both win;
* the leader renews every `retry_seconds`; if it cannot renew for `renew_deadline_seconds`
  (< `lease_seconds`) it exits at once, before any standby may take over;
* a leader stopping cleanly releases the Lease, so the standby takes over at its next poll.

Only the leader runs Kopf at all (`picsource_operator.__main__`), so a new leader starts
from nothing, exactly as after a restart: the resume handlers reconcile every Gallery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from picsource_operator.kube import Kube, KubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class LeaseTiming:
    lease_seconds: float = 8.0  # how long a silent holder keeps the Lease
    renew_deadline_seconds: float = 4.8  # a leader unable to renew for this long exits
    retry_seconds: float = 1.6  # how often the leader renews and a standby looks


def micro_time(now: datetime | None = None) -> str:
    """A Lease's MicroTime (RFC 3339 with microseconds)."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def may_take(spec: Obj, identity: str, unchanged_for: float, timing: LeaseTiming) -> bool:
    """Whether `identity` may write itself into a Lease with this spec.

    `unchanged_for` is how long (local monotonic seconds) the record has been unchanged
    since this process last saw it change. A Lease is free when it has no holder, when we
    hold it, or when its holder let it lapse.
    """
    holder = spec.get("holderIdentity") or ""
    if not holder or holder == identity:
        return True
    duration = float(spec.get("leaseDurationSeconds") or timing.lease_seconds)
    return unchanged_for >= duration


def claimed_spec(spec: Obj, identity: str, timing: LeaseTiming, now: str) -> Obj:
    """The spec that makes `identity` the holder (a renewal when it already is)."""
    renewing = spec.get("holderIdentity") == identity
    return {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, round(timing.lease_seconds)),
        "acquireTime": spec.get("acquireTime") if renewing and spec.get("acquireTime") else now,
        "renewTime": now,
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if renewing else 1),
    }


def released_spec(spec: Obj, now: str) -> Obj:
    """A Lease nobody holds (what a leader writes when it stops cleanly)."""
    return {**spec, "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": now}


class LeaderElector:
    """Acquire, renew and release one Lease; `clock` is injectable for tests."""

    def __init__(self, kube: Kube, namespace: str, name: str, identity: str,
                 timing: LeaseTiming = LeaseTiming(), clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timing, self.clock = timing, clock
        self._seen_version = ""
        self._seen_at = clock()
        self._renewed_at = 0.0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- one attempt --------------------------------------------------------------------
    def try_acquire(self, deadline: float | None = None) -> bool:
        """One attempt to take or renew the Lease; True when we hold it afterwards.

        With `deadline` (a `clock()` value) no request may outlast it: a hung API server
        must not keep a leader acting past its renew deadline.
        """
        started = self.clock()

        def timeout() -> float | tuple[float, float]:
            return (5, 30) if deadline is None else max(0.1, deadline - self.clock())

        lease = self.kube.get("Lease", self.namespace, self.name, timeout=timeout())
        now = micro_time()
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": claimed_spec({}, self.identity, self.timing, now)}
            return self._write(lambda: self.kube.create(body, timeout=timeout()), started)
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if version != self._seen_version:
            self._seen_version, self._seen_at = version, self.clock()
        spec = lease.get("spec") or {}
        if not may_take(spec, self.identity, self.clock() - self._seen_at, self.timing):
            return False
        lease["spec"] = claimed_spec(spec, self.identity, self.timing, now)
        if spec.get("holderIdentity") != self.identity:
            log.info("taking the Lease %s/%s from %r", self.namespace, self.name,
                     spec.get("holderIdentity") or "nobody")
        return self._write(lambda: self.kube.replace(lease, timeout=timeout()), started)

    def _write(self, write: Callable[[], Obj], started: float) -> bool:
        try:
            written = write()
        except KubeError as err:
            if err.status == 409:  # someone else wrote first: look again next time
                return False
            raise
        self._seen_version = str((written.get("metadata") or {}).get("resourceVersion") or "")
        self._seen_at = self.clock()
        # Counted from before the attempt: the server applied the renewal no earlier, so the
        # renew deadline measured from here ends before any standby's view of the Lease does.
        self._renewed_at = started
        return True

    # --- the loops ----------------------------------------------------------------------
    def acquire(self) -> None:
        """Block until this process holds the Lease (a standby spends its life here)."""
        log.info("waiting to lead: Lease %s/%s as %r", self.namespace, self.name, self.identity)
        while not self._stop.is_set():
            try:
                if self.try_acquire():
                    log.info("leading: Lease %s/%s held by %r", self.namespace, self.name, self.identity)
                    return
            except Exception as err:  # noqa: BLE001 - any failure (urllib3's too) means "not yet"
                log.warning("Lease %s/%s not readable: %s", self.namespace, self.name, err)
            self._stop.wait(self.timing.retry_seconds)
        raise InterruptedError("stopped before leading")

    def keep_renewing(self, on_lost: Callable[[str], None]) -> None:
        """Renew in a daemon thread; `on_lost(reason)` when the Lease cannot be kept."""
        self._renewer = threading.Thread(target=self._renew_loop, args=(on_lost,),
                                         name="lease-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self, on_lost: Callable[[str], None]) -> None:
        """Every failure counts against the renew deadline, whatever its type: a renewer
        that died quietly would leave a leader acting after its Lease ran out."""
        while not self._stop.wait(self.timing.retry_seconds):
            try:
                renewed = self.try_acquire(deadline=self._renewed_at + self.timing.renew_deadline_seconds)
            except Exception as err:  # noqa: BLE001 - see above
                silent = self.clock() - self._renewed_at
                if silent >= self.timing.renew_deadline_seconds:
                    on_lost(f"could not renew the Lease for {silent:.1f}s: {err}")
                    return
                log.warning("Lease renewal failed (%.1fs since the last): %s", silent, err)
                continue
            if not renewed:
                on_lost(f"another process took the Lease {self.namespace}/{self.name}")
                return

    def release(self) -> None:
        """Stop renewing and give the Lease up if we still hold it (best effort)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.timing.retry_seconds + 5)
        try:
            lease = self.kube.get("Lease", self.namespace, self.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = released_spec(lease.get("spec") or {}, micro_time())
            self.kube.replace(lease)
            log.info("released the Lease %s/%s", self.namespace, self.name)
        except Exception as err:  # noqa: BLE001 - best effort: the Lease lapses anyway
            log.warning("could not release the Lease %s/%s: %s", self.namespace, self.name, err)
