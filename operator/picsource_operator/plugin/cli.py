"""`kubectl picsource status|backup|restore|logs`: the plugin's command line and API calls.

Installed as the `kubectl-picsource` entry point, so kubectl finds it on PATH. kubectl
passes no global flags to plugins, hence --kubeconfig, --context and -n here. Exit
codes a script can rely on: 0 done, 1 the API or the gallery said no (the message
says why), 2 bad usage, 3 `backup --wait` timed out (the backup may still finish).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from urllib3.exceptions import HTTPError

from picsource_operator.builders.common import selector_labels
from picsource_operator.errors import SpecError
from picsource_operator.kube import Kube, KubeError
from picsource_operator.plugin import render
from picsource_operator.spec import parse_gallery

FAILED, TIMED_OUT = 1, 3
COMPONENTS = ("web", "worker")


class PluginError(Exception):
    """A refusal with a message for the admin (exit 1)."""


def connect(kubeconfig: str | None, context: str | None) -> tuple[Kube, str]:
    """A client from the kubeconfig (KUBECONFIG or ~/.kube/config), and its context's namespace."""
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
    except (k8s_config.ConfigException, OSError) as err:
        raise PluginError(f"cannot read the kubeconfig: {err}") from None
    chosen = active
    if context:
        contexts, _ = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = next((c for c in contexts if c.get("name") == context), active)
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Kube(k8s_client.ApiClient(configuration)), namespace


def gallery_or_fail(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    gallery = kube.get("Gallery", namespace, name)
    if gallery is None:
        raise PluginError(f'Gallery "{name}" not found in namespace "{namespace}"')
    return gallery


def backups_of(kube: Kube, namespace: str, gallery: str) -> list[dict[str, Any]]:
    return [b for b in kube.list_objects("GalleryBackup", namespace)
            if (b.get("spec") or {}).get("gallery") == gallery]


def cmd_status(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    gallery = gallery_or_fail(kube, namespace, args.gallery)
    sys.stdout.write(render.status_text(gallery, backups_of(kube, namespace, args.gallery), datetime.now(UTC)))
    return 0


def cmd_backup(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    gallery = gallery_or_fail(kube, namespace, args.gallery)
    name = args.name or render.backup_name(args.gallery, datetime.now(UTC))
    try:
        obj = render.backup_object(gallery, name, args.bucket, args.prefix)
    except ValueError as err:
        raise PluginError(str(err)) from None
    kube.create(obj)
    print(f"gallerybackup.{obj['apiVersion'].split('/')[0]}/{name} created")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        status = (kube.get("GalleryBackup", namespace, name) or {}).get("status") or {}
        if status.get("phase") == "Completed":
            print(f"{name}: Completed ({render.size_text(status.get('sizeBytes'))}, "
                  f"{status.get('objectCount', 0)} objects, {status.get('durationSeconds', 0):.1f}s)")
            return 0
        if status.get("phase") == "Failed":
            reasons = [c.get("message", "") for c in status.get("conditions") or [] if c.get("status") != "True"]
            print(f"{name}: Failed: {'; '.join(filter(None, reasons)) or 'see kubectl describe'}", file=sys.stderr)
            return FAILED
        time.sleep(1)
    print(f"{name}: still not finished after {args.timeout:g}s", file=sys.stderr)
    return TIMED_OUT


def cmd_restore(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    backup = kube.get("GalleryBackup", namespace, args.backup)
    if backup is None:
        raise PluginError(f'GalleryBackup "{args.backup}" not found in namespace "{namespace}"')
    phase = (backup.get("status") or {}).get("phase")
    if phase != "Completed":
        raise PluginError(f'GalleryBackup "{args.backup}" is {phase or "Pending"}, not Completed')
    source_name = (backup.get("spec") or {}).get("gallery", "")
    source = kube.get("Gallery", namespace, source_name) if source_name else None
    if source is None and not args.from_file:
        raise PluginError(f'the backed-up Gallery "{source_name}" is gone: give its spec with --from-file')
    spec = (yaml.safe_load(open(args.from_file, encoding="utf-8")) or {}).get("spec", {}) if args.from_file \
        else (source or {}).get("spec") or {}
    obj = render.restored_gallery(spec, args.backup, args.to, namespace, database=args.database,
                                  bucket=args.bucket, host=args.host)
    if args.dry_run:
        sys.stdout.write(yaml.safe_dump(obj, sort_keys=False))
        return 0
    kube.create(obj)
    print(f"gallery.{obj['apiVersion'].split('/')[0]}/{args.to} created, restoring from {args.backup}")
    return 0


def cmd_logs(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    gallery = gallery_or_fail(kube, namespace, args.gallery)
    try:
        parsed = parse_gallery(gallery)
    except SpecError as err:
        raise PluginError(f"the Gallery's spec is invalid: {err}") from None
    core = k8s_client.CoreV1Api(kube.api)
    status = 0
    for component in ([args.component] if args.component else COMPONENTS):
        selector = ",".join(f"{k}={v}" for k, v in selector_labels(parsed, component).items())
        pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", selector)]).get("items") or []
        if not pods:
            print(f"== no {component} pods for gallery {args.gallery}", file=sys.stderr)
            status = FAILED
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            print(f"== {component} pod {pod_name}")
            try:
                text = core.read_namespaced_pod_log(pod_name, namespace, tail_lines=args.tail,
                                                    _request_timeout=(5, 30))
            except k8s_client.ApiException as err:
                print(f"   cannot read its log: {err.status} {err.reason}", file=sys.stderr)
                status = FAILED
                continue
            sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return status


def parser() -> argparse.ArgumentParser:
    # The connection options go before or after the command, as with kubectl itself
    # (SUPPRESS: a subcommand that is not given one keeps the value given before it).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS,
                        help="kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context (default: the current one)")
    common.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)")
    p = argparse.ArgumentParser(prog="kubectl picsource", description="Manage PicSource Galleries.",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("status", parents=[common], help="phase, replicas, backlog, conditions and backups")
    s.add_argument("gallery")
    b = sub.add_parser("backup", parents=[common], help="create a GalleryBackup of a Gallery now")
    b.add_argument("gallery")
    b.add_argument("--name", help="the GalleryBackup's name (default: <gallery>-<UTC time>)")
    b.add_argument("--bucket", help="destination bucket (default: the Gallery's spec.backup.destination)")
    b.add_argument("--prefix", help="key prefix in the bucket")
    b.add_argument("--wait", action="store_true", help="wait until it completes or fails")
    b.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    r = sub.add_parser("restore", parents=[common], help="create a Gallery from a completed GalleryBackup")
    r.add_argument("backup")
    r.add_argument("--to", required=True, help="name of the new Gallery")
    r.add_argument("--database", help="its database name (default: the backed-up Gallery's; must be empty)")
    r.add_argument("--bucket", help="its bucket (default: the backed-up Gallery's)")
    r.add_argument("--host", help="its ingress host (default: the backed-up Gallery's)")
    r.add_argument("--from-file", help="a Gallery manifest to take the spec from, when the source is gone")
    r.add_argument("--dry-run", action="store_true", help="print the Gallery instead of creating it")
    lg = sub.add_parser("logs", parents=[common], help="recent log lines of a Gallery's pods")
    lg.add_argument("gallery")
    lg.add_argument("--component", choices=COMPONENTS, help="only web or worker pods")
    lg.add_argument("--tail", type=int, default=100, help="lines per pod (default 100)")
    return p


COMMANDS = {"status": cmd_status, "backup": cmd_backup, "restore": cmd_restore, "logs": cmd_logs}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        kube, default_namespace = connect(getattr(args, "kubeconfig", None), getattr(args, "context", None))
        return COMMANDS[args.command](kube, getattr(args, "namespace", None) or default_namespace, args)
    except PluginError as err:
        print(f"error: {err}", file=sys.stderr)
        return FAILED
    except KubeError as err:
        print(f"error: the API server said {err.status}: {err}", file=sys.stderr)
        return FAILED
    except (HTTPError, OSError) as err:
        print(f"error: cannot reach the API server: {err}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
