"""The operator's own settings, read once from the environment at start-up.

Everything about a *gallery* comes from its Gallery resource; these are the few
knobs of the operator process itself (ports, default images, timing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from picsource_core.config import Env
from picsource_operator import constants


@dataclass(frozen=True)
class OperatorSettings:
    # Port of the Prometheus /metrics endpoint.
    metrics_port: int = constants.OPERATOR_METRICS_PORT
    # Images used when a Gallery names none (the chart pins them to its appVersion).
    web_image: str = constants.DEFAULT_WEB_IMAGE
    worker_image: str = constants.DEFAULT_WORKER_IMAGE
    # Seconds between re-verifications of bindings that are currently fine.
    binding_recheck_seconds: float = 60.0
    # Threads for the synchronous reconcile work (kopf's executor).
    max_workers: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OperatorSettings:
        env = Env(environ)
        return cls(
            metrics_port=env.int("PICSOURCE_OPERATOR_METRICS_PORT", constants.OPERATOR_METRICS_PORT,
                                 minimum=0, maximum=65535),
            web_image=env.str("PICSOURCE_WEB_IMAGE", constants.DEFAULT_WEB_IMAGE),
            worker_image=env.str("PICSOURCE_WORKER_IMAGE", constants.DEFAULT_WORKER_IMAGE),
            binding_recheck_seconds=env.float("PICSOURCE_OPERATOR_BINDING_RECHECK_SECONDS", 60.0,
                                              minimum=1, maximum=3600),
            max_workers=env.int("PICSOURCE_OPERATOR_MAX_WORKERS", 16, minimum=1, maximum=256),
        )
