"""The web tier's request load, reported by each web process for the operator's autoscaler.

Every gunicorn worker process of the web tier upserts one small document into
``web_load`` every few seconds (picsource_web.load): how many requests it was serving on
average since its previous report, how many it is serving right now, and how many it
finished. The operator's web autoscaler sums the live reports of the gallery's database
(one database per Gallery, so every report in it is that Gallery's web tier) and sizes
the web Deployment from the sum.

Why reports in MongoDB rather than the operator scraping each pod's /metrics: the
operator already holds a client to this database (it reads the analysis backlog there),
while scraping needs the pod list (more RBAC), an ingress rule to the metrics port of
every pod, and Prometheus' multiprocess files summed per pod, and cannot be exercised in
the tests, whose pods are simulated by kwok and run no process. A report that stops
(killed pod, scaled-down replica) drops out by itself: readers ignore reports past
``expires_at``, and a TTL index removes them later. The expiry is written with the web
pod's clock and compared with the reader's: node clocks are assumed to agree within a few
seconds (NTP), well inside the three report intervals a report lives.

Why "requests in flight, averaged over the report's interval" (Little's law: arrival
rate x time in the system) and not requests per second: a web pod's capacity is its
gunicorn threads, and a thread is taken as long as a request lasts, so a few slow
searches or zip downloads load a pod as much as many cheap page views. The average, not
the count at the moment of the report, so a sample taken between two bursts does not
read as idle. Knative's autoscaler scales on the same quantity ("concurrency").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from picsource_core.mongo import WEB_LOAD, Document


@dataclass(frozen=True)
class LoadSample:
    """One web process's load over the interval since its previous report."""

    #: Average number of requests in flight over the interval (the autoscaler's measure).
    busy: float
    #: Requests in flight at the moment of the report.
    in_flight: int
    #: Requests finished during the interval.
    completed: int
    #: Length of the interval, in seconds.
    seconds: float


@dataclass(frozen=True)
class WebLoad:
    """The sum of the live reports of one gallery's web processes."""

    busy: float = 0.0
    in_flight: int = 0
    #: Requests finished per second (each process's completed / its interval, summed).
    rate: float = 0.0
    pods: int = 0
    processes: int = 0


class WebLoadReports:
    """The ``web_load`` collection: one document per web process, keyed ``<pod>/<pid>``."""

    def __init__(self, db: Database[Document]) -> None:
        self.collection = db[WEB_LOAD]

    def report(self, process: str, pod: str, sample: LoadSample, *, now: datetime,
               ttl_seconds: float) -> None:
        """Replace the process's report; it counts until ``now + ttl_seconds``."""
        self.collection.replace_one({"_id": process}, {
            "pod": pod,
            "busy": float(sample.busy),
            "in_flight": int(sample.in_flight),
            "completed": int(sample.completed),
            "seconds": float(sample.seconds),
            "at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }, upsert=True)

    def withdraw(self, process: str) -> None:
        """Drop the process's report (a clean exit: its load is gone at once)."""
        self.collection.delete_one({"_id": process})

    def total(self, now: datetime) -> WebLoad:
        """Sum the reports that have not expired at ``now``."""
        busy, in_flight, rate, processes, pods = 0.0, 0, 0.0, 0, set()
        fields = {"pod": 1, "busy": 1, "in_flight": 1, "completed": 1, "seconds": 1}
        for doc in self.collection.find({"expires_at": {"$gt": now}}, fields):
            busy += float(doc.get("busy") or 0.0)
            in_flight += int(doc.get("in_flight") or 0)
            seconds = float(doc.get("seconds") or 0.0)
            if seconds > 0:
                rate += int(doc.get("completed") or 0) / seconds
            processes += 1
            pods.add(str(doc.get("pod") or doc["_id"]))
        return WebLoad(busy=busy, in_flight=in_flight, rate=rate, pods=len(pods), processes=processes)
