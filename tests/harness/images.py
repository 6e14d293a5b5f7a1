"""Container image archives built by `make images` (.ci/images.sh), and the pure logic
behind "is this image up to date?".

Why: the machine that builds them has no Docker daemon and no registry access, so
.ci/images.sh builds with buildah and writes each image as an archive that containerd
imports (`ctr -n k8s.io images import`). A warm run must skip every image whose inputs
did not change, and the real-node harness must find the archives without knowing how
they were built. Both needs are answered here, as functions over text and paths:

- `input_key` hashes a Dockerfile, exactly the files its COPY/ADD lines take from the
  context (after its .dockerignore) and any extra inputs (the base images' keys);
- `lock_subset` cuts a package and its dependencies, hashes kept, out of a uv lock (the
  SecantusDB image installs the versions the test suite runs with);
- `image_archives` lists what was built: each archive `<name>-<tag>.tar` has a sidecar
  `<name>-<tag>.json` naming the image reference, its input key and its build time.

    python -m tests.harness.images key DOCKERFILE CONTEXT [EXTRA...]   # prints the key
    python -m tests.harness.images stage DOCKERFILE CONTEXT DEST       # build context
    python -m tests.harness.images lock-subset LOCK PACKAGE            # prints a lock
    python -m tests.harness.images list                                # ref <TAB> archive
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.tools import images_dir

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("web", "worker", "operator")


class ImageError(ValueError):
    """Bad input to the image helpers (a malformed reference, Dockerfile or lock)."""


@dataclass(frozen=True)
class ImageArchive:
    """One built image: its reference (as containerd will name it) and its archive."""

    ref: str
    path: Path
    key: str = ""
    seconds: float | None = None


# --- image references ------------------------------------------------------------------
_REPO = re.compile(r"^[a-z0-9]+(?:[._/-]+[a-z0-9]+|:[0-9]+/[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def split_ref(ref: str) -> tuple[str, str]:
    """("ghcr.io/picsource/web", "0.1.0") from "ghcr.io/picsource/web:0.1.0" (tag required)."""
    repo, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag or not _REPO.match(repo) or not _TAG.match(tag):
        raise ImageError(f"not an image reference with a tag: {ref!r}")
    return repo, tag


def archive_filename(ref: str) -> str:
    """`<name>-<tag>.tar`, name being the reference's last path part: web-0.1.0.tar."""
    repo, tag = split_ref(ref)
    return f"{repo.rsplit('/', 1)[-1]}-{tag}.tar"


def chart_app_version(chart_yaml: str) -> str:
    """The appVersion of a Chart.yaml (quotes allowed); app images are tagged with it."""
    match = re.search(r"^appVersion:\s*[\"']?([^\"'\s]+)[\"']?\s*$", chart_yaml, re.M)
    if not match:
        raise ImageError("Chart.yaml has no appVersion")
    return match.group(1)


def app_refs(registry: str, tag: str) -> list[str]:
    """The three application images under one registry prefix and tag."""
    return [f"{registry.rstrip('/')}/{c}:{tag}" for c in COMPONENTS]


# --- Dockerfiles and .dockerignore ------------------------------------------------------
def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, line continuations joined."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\[ \t]*\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        parts = line.strip().split(None, 1)
        if parts:
            result.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return result


def _copy_args(arguments: str) -> list[str]:
    text = arguments.strip()
    words: list[str] = []
    while text.startswith("--"):
        flag, _, text = text.partition(" ")
        words.append(flag)
        text = text.lstrip()
    if text.startswith("["):
        try:
            paths = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImageError(f"bad JSON form: {text!r}") from exc
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ImageError(f"bad JSON form: {text!r}")
        return words + paths
    return words + text.split()


def copy_sources(dockerfile: str) -> list[str]:
    """Context paths the Dockerfile's COPY/ADD lines read (not `--from=` a stage/image)."""
    sources: list[str] = []
    for name, arguments in instructions(dockerfile):
        if name not in ("COPY", "ADD"):
            continue
        words = _copy_args(arguments)
        if any(w.startswith("--from=") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        if len(paths) < 2:
            raise ImageError(f"{name} needs a source and a destination: {arguments!r}")
        for source in paths[:-1]:
            if re.match(r"^[a-z]+://", source):
                raise ImageError(f"{name} from a URL is a download at build time: {source}")
            sources.append(source.lstrip("/").removeprefix("./") or ".")
    return sources


def base_images(dockerfile: str) -> list[str]:
    """Images the FROM lines name, in order, without the stages the file itself defines."""
    stages: set[str] = set()
    bases: list[str] = []
    for name, arguments in instructions(dockerfile):
        if name != "FROM":
            continue
        words = [w for w in arguments.split() if not w.startswith("--")]
        if not words:
            raise ImageError("FROM without an image")
        image = words[0]
        if image.lower() not in stages and image != "scratch" and image not in bases:
            bases.append(image)
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
    return bases


def ignore_patterns(dockerignore: str) -> list[str]:
    """The patterns of a .dockerignore, in order (comments and blank lines dropped)."""
    patterns = []
    for raw in dockerignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append(("!" if negate else "") + body)
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ImageError(f"unclosed [ in .dockerignore pattern {pattern!r}")
            out, i = out + pattern[i : end + 1].replace("[!", "[^"), end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def is_ignored(path: str, patterns: Sequence[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def context_files(context: Path, sources: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """Every file (relative to the context) that the sources bring in, ignored ones out."""
    found: set[str] = set()
    for source in sources:
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
        if not matches or not all(m.exists() for m in matches):
            raise ImageError(f"COPY source {source!r} is not in the build context {context}")
        for match in matches:
            walk = [match] if match.is_file() else sorted(p for p in match.rglob("*") if p.is_file())
            for path in walk:
                relative = path.relative_to(context).as_posix()
                if not is_ignored(relative, patterns):
                    found.add(relative)
    return sorted(found)


def input_key(dockerfile: Path, context: Path, extra: Iterable[str] = ()) -> str:
    """A short hash of everything a build reads: the Dockerfile, the context files its
    COPY/ADD lines take (after `<Dockerfile>.dockerignore` or the context's .dockerignore)
    and `extra` strings (the base images' keys, build arguments)."""
    text = dockerfile.read_text()
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore_file.is_file():
        ignore_file = context / ".dockerignore"
    patterns = ignore_patterns(ignore_file.read_text()) if ignore_file.is_file() else []
    digest = hashlib.sha256()
    digest.update(b"dockerfile\0" + text.encode() + b"\0")
    for relative in context_files(context, copy_sources(text), patterns):
        path = context / relative
        digest.update(f"file\0{relative}\0{path.stat().st_mode & 0o111:o}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for item in extra:
        digest.update(b"extra\0" + item.encode() + b"\0")
    return digest.hexdigest()[:16]


def stage_context(dockerfile: Path, context: Path, dest: Path) -> list[str]:
    """Copy the Dockerfile (as dest/Dockerfile) and exactly the context files it reads
    into dest, every file and directory dated 1970-01-01.

    Why: buildah's layer cache keys a COPY by a digest that includes file times, so the
    same files checked out in another clone (or touched by git) would miss the cache and
    re-run every step after them, pip installs included. Returns the staged paths."""
    text = dockerfile.read_text()
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore_file.is_file():
        ignore_file = context / ".dockerignore"
    patterns = ignore_patterns(ignore_file.read_text()) if ignore_file.is_file() else []
    files = context_files(context, copy_sources(text), patterns)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for relative in files:
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(context / relative, target)
    (dest / "Dockerfile").write_text(text)
    for path in sorted(dest.rglob("*"), reverse=True):
        os.utime(path, (0, 0), follow_symlinks=False)
    os.utime(dest, (0, 0))
    return files


# --- uv locks -------------------------------------------------------------------------
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_blocks(lock: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (the pin's text with its hashes, the packages it is "# via")."""
    blocks: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    lines: list[str] = []
    via: set[str] = set()
    in_via = False

    def close() -> None:
        if current is not None:
            blocks[current] = ("\n".join(lines).rstrip(" \\") + "\n", set(via))

    for line in lock.splitlines():
        stripped = line.strip()
        pin = _PIN.match(stripped)
        if pin:
            close()
            current, lines, via, in_via = _canonical(pin.group(1)), [stripped], set(), False
        elif stripped.startswith("--hash=") and current is not None:
            lines.append("    " + stripped)
        elif stripped.startswith("# via") and current is not None:
            rest = stripped.removeprefix("# via").strip()
            in_via = not rest
            via.update([rest] if rest else [])
        elif stripped.startswith("#   ") and in_via:
            via.add(stripped.removeprefix("#").strip())
        elif stripped.startswith("#") or not stripped:
            in_via = False
        else:
            raise ImageError(f"not a line of a uv lock: {stripped!r}")
    close()
    return {name: (text, {_canonical(v.split()[0].split("[")[0]) for v in vias
                          if not v.startswith(("-c ", "-r "))})
            for name, (text, vias) in blocks.items()}  # fmt: skip


def lock_closure(lock: str, roots: Iterable[str]) -> list[str]:
    """The roots and everything they need, by the lock's "# via" annotations."""
    blocks = lock_blocks(lock)
    needs: dict[str, set[str]] = {}
    for name, (_text, vias) in blocks.items():
        for parent in vias:
            needs.setdefault(parent, set()).add(name)
    wanted = [_canonical(r) for r in roots]
    missing = [r for r in wanted if r not in blocks]
    if missing:
        raise ImageError(f"the lock has no pin for {', '.join(missing)}")
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name not in seen:
            seen.add(name)
            wanted.extend(needs.get(name, ()))
    return sorted(seen)


def lock_subset(lock: str, roots: Iterable[str]) -> str:
    """A hashed requirements file holding only the roots' closure (pip --require-hashes)."""
    blocks = lock_blocks(lock)
    names = lock_closure(lock, roots)
    header = f"# Cut from a uv lock by tests/harness/images.py: {', '.join(names)}\n"
    return header + "".join(blocks[n][0] for n in names)


# --- Debian mirror ----------------------------------------------------------------------
def debian_mirror(sources: Iterable[str], suite: str = "bookworm") -> str:
    """The mirror apt already uses for `suite` (main), from sources.list / *.sources texts.

    debootstrap must take the same mirror: it is the one this machine can reach."""
    for text in sources:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line.startswith("deb"):
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if suite in fields.get("suites", "").split() and "main" in fields.get(
                    "components", "").split() and "deb" in fields.get("types", "").split():
                return fields.get("uris", "").split()[0].rstrip("/")
            for line in stanza.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if len(words) >= 4 and words[0] == "deb" and words[2] == suite and "main" in words[3:]:
                    return words[1].rstrip("/")
    raise ImageError(f"apt has no Debian {suite} main source (set DEBIAN_MIRROR)")


# --- built archives ---------------------------------------------------------------------
def sidecar(archive: Path) -> Path:
    return archive.with_suffix(".json")


def read_sidecar(text: str, archive: Path) -> ImageArchive:
    """An ImageArchive from its sidecar's JSON ({"ref", "key", "seconds"})."""
    try:
        data = json.loads(text)
        ref = data["ref"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ImageError(f"{sidecar(archive)} is not an image sidecar: {exc}") from exc
    split_ref(ref)
    seconds = data.get("seconds")
    return ImageArchive(ref, archive, str(data.get("key", "")),
                        float(seconds) if seconds is not None else None)  # fmt: skip


def image_archives(directory: Path | None = None) -> list[ImageArchive]:
    """Every built archive in the images dir (those with a sidecar), sorted by reference.

    This is what a node imports: `ctr -n k8s.io images import <path>` for each."""
    root = directory or images_dir()
    found = []
    for path in sorted(root.glob("*.tar")):
        meta = sidecar(path)
        if meta.is_file():
            found.append(read_sidecar(meta.read_text(), path))
    return sorted(found, key=lambda a: a.ref)


def main(argv: list[str]) -> int:
    try:
        if len(argv) >= 3 and argv[0] == "key":
            print(input_key(Path(argv[1]), Path(argv[2]), argv[3:]))
        elif len(argv) == 3 and argv[0] == "lock-subset":
            print(lock_subset(Path(argv[1]).read_text(), [argv[2]]), end="")
        elif argv == ["list"]:
            for archive in image_archives():
                print(f"{archive.ref}\t{archive.path}")
        elif len(argv) == 4 and argv[0] == "stage":
            stage_context(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        elif argv == ["mirror"]:
            lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
            print(debian_mirror(p.read_text() for p in lists if p.is_file()))
        elif len(argv) == 2 and argv[0] == "filename":
            print(archive_filename(argv[1]))
        else:
            print(__doc__.split("\n\n")[-1], file=sys.stderr)
            return 2
    except (ImageError, OSError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
