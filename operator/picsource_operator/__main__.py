"""`python -m picsource_operator [kopf run options]`: the operator as the chart runs it.

It is `kopf run -m picsource_operator.main --standalone` with two things decided from the
environment first (settings.LaunchSettings):

* the scope: PICSOURCE_WATCH_NAMESPACES="a,b" watches those namespaces (kopf `--namespace`
  each), unset watches all (`--all-namespaces`); a bad value stops the process with one
  line naming the variable;
* with PICSOURCE_OPERATOR_LEADER_ELECTION=true, leader election (leader.py): the process
  waits as a standby, answering the liveness probe itself, until it holds the Lease; only
  then does Kopf start. Losing the Lease ends the process at once (exit 1) so two leaders
  never overlap; Kubernetes restarts it as a standby.

Kopf runs in this process through its own command line, so every `kopf run` option the
chart passes (--liveness, --verbose, extraArgs) means what Kopf documents.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from picsource_core.config import ConfigurationError
from picsource_operator.settings import LaunchSettings, OperatorSettings

log = logging.getLogger("picsource_operator")

SCOPE_OPTIONS = ("-n", "--namespace", "-A", "--all-namespaces", "-P", "--peering", "-p", "--priority")


def kopf_argv(settings: LaunchSettings, extra: Sequence[str]) -> list[str]:
    """The `kopf run` command line; scope and peering belong to the environment, not `extra`."""
    for arg in extra:
        if arg.split("=", 1)[0] in SCOPE_OPTIONS:
            raise ConfigurationError(
                "command line", f"must not set {arg.split('=', 1)[0]}: the scope is PICSOURCE_WATCH_NAMESPACES "
                "and peering is replaced by PICSOURCE_OPERATOR_LEADER_ELECTION")
    scope: list[str] = []
    for namespace in settings.namespaces:
        scope += ["--namespace", namespace]
    return ["run", "-m", "picsource_operator.main", *(scope or ["--all-namespaces"]), "--standalone", *extra]


def liveness_url(extra: Sequence[str]) -> str | None:
    """The --liveness/-L URL among kopf's options, if any."""
    for i, arg in enumerate(extra):
        name, eq, value = arg.partition("=")
        if name in ("--liveness", "-L"):
            return value if eq else (extra[i + 1] if i + 1 < len(extra) else None)
    return None


@contextmanager
def standby_probe(url: str | None) -> Iterator[None]:
    """Answer the liveness URL while waiting for the Lease (Kopf's server binds it later)."""
    if not url:
        yield
        return
    parts = urlsplit(url)
    path = parts.path or "/"

    class Probe(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            ok = self.path.split("?", 1)[0] == path
            body = b'{"standby": true}' if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json" if ok else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # probes every few seconds: not worth a line
            return

    server = ThreadingHTTPServer((parts.hostname or "0.0.0.0", parts.port or 80), Probe)  # noqa: S104
    thread = threading.Thread(target=server.serve_forever, name="standby-probe", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def standby_metrics(port: int) -> Iterator[None]:
    """Serve /metrics while standing by (picsource_operator_leader 0); the leader's own
    server (handlers.configure) takes the port over once Kopf starts."""
    from picsource_core.metrics import serve_metrics
    from picsource_operator import metrics

    metrics.LEADER.set(0)
    server = serve_metrics(port) if port else None
    try:
        yield
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def _lost(reason: str) -> None:
    """Leadership is gone: stop acting now (no cleanup that could still write)."""
    log.error("leadership lost, exiting: %s", reason)
    logging.shutdown()
    os._exit(1)


def main(argv: Sequence[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = LaunchSettings.from_env(os.environ)
        port = OperatorSettings.from_env(os.environ).metrics_port  # checked before waiting to lead
        args = kopf_argv(settings, extra)
    except ConfigurationError as err:
        print(f"picsource-operator: {err}", file=sys.stderr)
        return 2
    # Kopf configures logging when it starts; until then the standby logs this way.
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)-20.20s [%(levelname)-8.8s] %(message)s")
    # Import the handlers (and Kopf) now: a standby that takes over then starts in about a
    # second instead of spending the first seconds of its term importing.
    from kopf import cli

    import picsource_operator.main  # noqa: F401

    elector = None
    if settings.leader_election:
        from picsource_operator.kube import Kube
        from picsource_operator.leader import LeaderElector

        elector = LeaderElector(Kube.from_environment(), settings.lease_namespace, settings.lease_name,
                                settings.identity, settings.timing)
        with standby_probe(liveness_url(extra)), standby_metrics(port):
            elector.acquire()
        elector.keep_renewing(_lost)

    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
    try:
        cli.main(args=args, prog_name="kopf")  # exits with kopf's status (usage errors included)
    finally:
        if elector is not None:
            elector.release()  # a clean stop hands over at once
    return 0


if __name__ == "__main__":
    sys.exit(main())
