"""`python -m picsource_worker`: validate settings, then run the supervisor.

A configuration error prints one line naming the variable and exits 2 (what
Kubernetes shows in the pod's last state), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from picsource_core.config import ConfigurationError


def main() -> int:
    from picsource_worker.settings import Settings

    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        print(f"picsource-worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s supervisor %(message)s"
    )
    from picsource_worker.supervisor import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
