"""The web autoscaler: read the web tier's load and decide the web Deployment's replicas.

The load is the sum of the live reports the web processes write into the gallery's own
database (picsource_core.web_load: average requests in flight); the decision is
autoscale.py's, the same as the workers'. It runs on the Gallery's timer (every 5 s),
like the worker autoscaler, and only for a Gallery with ``spec.web.autoscaling``. The
reconciler applies the web Deployment with the decision (through the same apply as every
child) and records it in ``status.desiredWebReplicas``, so a restarted operator resumes
from it instead of falling back to minReplicas.

A database that cannot be read leaves the replicas as they are: the load is unknown, not
zero, and scaling down a busy tier because MongoDB hiccupped would make things worse.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from picsource_core.web_load import WebLoadReports
from picsource_operator import metrics
from picsource_operator.autoscale import IN_FLIGHT, ScaleDecision, decide_replicas, resumed
from picsource_operator.spec import Gallery
from picsource_operator.state import GalleryState
from picsource_operator.status import desired_web, now_iso, post_event

log = logging.getLogger(__name__)


def resume_web(g: Gallery, st: GalleryState, body: dict[str, Any]) -> None:
    """After a restart, resume from the decision recorded in status (within bounds)."""
    auto = g.web.autoscaling
    if auto is None:
        st.desired_web, st.web_history, st.web_load = None, (), None
        return
    recorded = (body.get("status") or {}).get("desiredWebReplicas")
    st.desired_web, st.web_history = resumed(auto, st.desired_web, recorded, st.web_history, time.monotonic())


def refresh_load(st: GalleryState) -> None:
    """Sum the web processes' live reports (st.web_load stays as it was when that fails)."""
    if st.db is None or st.database is None or not st.database.ok:
        return
    try:
        st.web_load = WebLoadReports(st.db).total(datetime.now(UTC))
    except Exception as err:  # a flaky database must not stop the reconcile
        log.warning("web load query failed: %s", err)
        st.web_load = None


def decide_web(g: Gallery, st: GalleryState) -> ScaleDecision | None:
    """Read the load and decide; the new replicas (already in ``st.desired_web``, which the
    next apply uses) or None when they stay. The caller applies the web Deployment."""
    auto = g.web.autoscaling
    if auto is None:
        return None
    refresh_load(st)
    if st.web_load is None:
        return None
    current = desired_web(g, st)
    decision = decide_replicas(st.web_load.busy, current, auto, st.web_history, time.monotonic(), IN_FLIGHT)
    st.web_history = decision.history
    if decision.direction == "none":
        return None
    st.desired_web = decision.replicas
    return decision


def announce_web(g: Gallery, decision: ScaleDecision) -> dict[str, Any]:
    """Count, post and log an applied scale; the status field that records when."""
    metrics.WEB_AUTOSCALER_DECISIONS.labels(decision.direction).inc()
    post_event(g, "Normal", "WebScaledUp" if decision.direction == "up" else "WebScaledDown", decision.reason)
    log.info("gallery %s/%s: web: %s", g.namespace, g.name, decision.reason)
    return {"lastWebScaleTime": now_iso()}
