"""Pure builders: a parsed `Gallery` in, plain Kubernetes object dicts out.

No I/O here, so every object the operator applies is unit-tested without a
cluster. `build_all` is the one list the reconciler applies in order.
"""

from picsource_operator.builders.all import build_all, config_hash

__all__ = ["build_all", "config_hash"]
