"""Entry point: `kopf run -m picsource_operator.main --all-namespaces` (or `--namespace NS`).

Importing this module registers every handler; nothing runs at import time.
Add `--liveness=http://0.0.0.0:8080/healthz` for a liveness endpoint.
"""

from picsource_operator import handlers

__all__ = ["handlers"]
