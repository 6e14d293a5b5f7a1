"""Write a one-layer container image archive (`docker save` format) from local files.

Why: the real node needs a pause image, CoreDNS and a tiny test image, and no container
registry is reachable. Each of them is one static binary, so an image is just one layer
tar plus a config; writing that directly needs no buildah, no daemon and no root. The
result loads with `ctr -n k8s.io images import` like the archives .ci/images.sh exports.

The archive is reproducible: sorted entries, zero mtimes, uid/gid 0, so the same inputs
give the same image id on every machine.

    python3 -m tests.harness.image_archive OUT.tar NAME:TAG \
        --file /coredns=/path/to/coredns --entrypoint /coredns [--user 65535:65535]
        [--symlink /bin/sh=busybox] [--port 53/udp]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageSpec:
    """What goes into the image: files (path in image -> bytes, mode), links, config."""

    name: str  # repository:tag as containerd will list it
    files: Mapping[str, tuple[bytes, int]]
    symlinks: Mapping[str, str] = field(default_factory=dict)  # path in image -> target
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    user: str = ""
    ports: Sequence[str] = ()  # "53/udp"
    env: Sequence[str] = ("PATH=/bin:/usr/bin:/sbin:/usr/sbin",)


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def layer_tar(spec: ImageSpec) -> bytes:
    """The single layer: directories, files and symlinks, deterministic."""
    entries: dict[str, tarfile.TarInfo] = {}
    payload: dict[str, bytes] = {}
    for path in [*spec.files, *spec.symlinks]:
        for parent in _parents(path):
            info = tarfile.TarInfo(parent)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            entries.setdefault(parent, info)
    for path, (data, mode) in spec.files.items():
        name = path.strip("/")
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        entries[name], payload[name] = info, data
    for path, target in spec.symlinks.items():
        name = path.strip("/")
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        entries[name] = info
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            info = entries[name]
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            content = payload.get(name)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buf.getvalue()


def config_json(spec: ImageSpec, diff_id: str) -> bytes:
    """The image config (OCI/Docker image spec) for one layer with diff_id."""
    config: dict[str, object] = {"Env": list(spec.env)}
    if spec.entrypoint:
        config["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd:
        config["Cmd"] = list(spec.cmd)
    if spec.user:
        config["User"] = spec.user
    if spec.ports:
        config["ExposedPorts"] = {p: {} for p in spec.ports}
    document = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "picsource image_archive"}],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def archive(spec: ImageSpec) -> bytes:
    """A `docker save` archive: manifest.json, the config and the layer."""
    if ":" not in spec.name.rsplit("/", 1)[-1]:
        raise ValueError(f"image name {spec.name!r} needs an explicit :tag")
    layer = layer_tar(spec)
    layer_hex = hashlib.sha256(layer).hexdigest()
    config = config_json(spec, f"sha256:{layer_hex}")
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": [spec.name],
            "Layers": [f"{layer_hex}/layer.tar"],
        }
    ]
    members = {
        f"{layer_hex}/layer.tar": layer,
        f"{config_hex}.json": config,
        "manifest.json": json.dumps(manifest).encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise SystemExit(f"image_archive: {flag} wants IMAGE_PATH=VALUE, got {value!r}")
        result[key] = rest
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.harness.image_archive")
    parser.add_argument("output", type=Path)
    parser.add_argument("name", help="repository:tag")
    parser.add_argument("--file", action="append", default=[], help="/path/in/image=host/path")
    parser.add_argument("--symlink", action="append", default=[], help="/path/in/image=target")
    parser.add_argument("--entrypoint", nargs="*", default=[])
    parser.add_argument("--cmd", nargs="*", default=[])
    parser.add_argument("--user", default="")
    parser.add_argument("--port", action="append", default=[])
    args = parser.parse_args(argv)
    files = {}
    for image_path, host_path in _pairs(args.file, "--file").items():
        source = Path(host_path)
        if not source.is_file():
            raise SystemExit(f"image_archive: {source} does not exist")
        files[image_path] = (source.read_bytes(), source.stat().st_mode & 0o7777)
    spec = ImageSpec(
        name=args.name,
        files=files,
        symlinks=_pairs(args.symlink, "--symlink"),
        entrypoint=args.entrypoint,
        cmd=args.cmd,
        user=args.user,
        ports=args.port,
    )
    data = archive(spec)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.output)
    print(f"image_archive: {args.output} ({spec.name}, {len(data) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
