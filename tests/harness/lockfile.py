"""The Python lock files (.ci/requirements/*.txt) read and checked against pyproject.toml.

Why: every install (the virtualenv, each image) takes exactly the lock, so the lock must
say what pyproject.toml asks for. `make lock` writes the files; this module is what
`make lint` and the tests use to catch a lock that has drifted from pyproject.toml, a
pin without a hash, a package with two versions in two locks, or a lock that is not
closed (a locked package needs something the lock lacks). All functions are pure over
text and metadata, so they are tested without a network.

    python -m tests.harness.lockfile --check   # one line per problem; exit 1 if any
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK_DIR = REPO / ".ci" / "requirements"
PYPROJECT = REPO / "pyproject.toml"
# Which pyproject groups each lock holds: core's dependencies plus the component's extra.
LOCK_GROUPS: Mapping[str, tuple[str, ...]] = {
    "dev": ("core", "web", "worker", "operator", "dev"),
    "web": ("core", "web"),
    "worker": ("core", "worker"),
    "operator": ("core", "operator"),
}
# Locks are resolved for the images' interpreter and platform (.ci/lock.sh).
TARGET_ENVIRONMENT: Mapping[str, str] = {
    **{str(k): str(v) for k, v in default_environment().items()},
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:\\)?$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def parse_lock(text: str) -> dict[str, Pin]:
    """Pins of a hashed requirements file, by canonical name (comments ignored)."""
    pins: dict[str, Pin] = {}
    current: str | None = None
    hashes: set[str] = set()
    version = ""

    def close() -> None:
        if current is not None:
            pins[current] = Pin(version, frozenset(hashes))

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PIN.match(stripped)
        if match:
            close()
            current, version, hashes = canonicalize_name(match.group(1)), match.group(2), set()
        elif stripped.startswith("--hash=") and current is not None:
            hashes.update(_HASH.findall(stripped))
        else:
            raise ValueError(f"not a hashed pin: {stripped!r}")
    close()
    return pins


def pyproject_groups(pyproject: Mapping) -> dict[str, list[Requirement]]:
    """The requirement groups of pyproject.toml: "core" (dependencies) and each extra."""
    project = pyproject["project"]
    groups = {"core": [Requirement(r) for r in project["dependencies"]]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[extra] = [Requirement(r) for r in reqs]
    return groups


def excluded(pyproject: Mapping) -> set[str]:
    """Packages resolved but deliberately left out of every lock ([tool.picsource.lock])."""
    names = pyproject.get("tool", {}).get("picsource", {}).get("lock", {}).get("exclude", [])
    return {canonicalize_name(n) for n in names}


def declared_metadata(pyproject: Mapping) -> dict[str, list[str]]:
    """Requires-Dist that pyproject's [tool.uv] dependency-metadata declares in place of a
    package's own (name -> requirements): the lock is resolved, and closed, under these."""
    entries = pyproject.get("tool", {}).get("uv", {}).get("dependency-metadata", [])
    return {canonicalize_name(e["name"]): list(e.get("requires-dist", [])) for e in entries}


def disagreements(pyproject: Mapping, locks: Mapping[str, Mapping[str, Pin]]) -> list[str]:
    """Every way the locks fail pyproject.toml or each other; empty when they agree."""
    problems: list[str] = []
    groups = pyproject_groups(pyproject)
    for lock_name, group_names in LOCK_GROUPS.items():
        if lock_name not in locks:
            problems.append(f"{lock_name}.txt is missing: run `make lock`")
            continue
        pins = locks[lock_name]
        for group in group_names:
            for req in groups.get(group, []):
                if req.marker and not req.marker.evaluate(dict(TARGET_ENVIRONMENT)):
                    continue
                pin = pins.get(canonicalize_name(req.name))
                if pin is None:
                    problems.append(f"{lock_name}.txt lacks {req} (pyproject [{group}]): run `make lock`")
                elif not req.specifier.contains(pin.version, prereleases=True):
                    problems.append(f"{lock_name}.txt pins {req.name}=={pin.version}, "
                                    f"pyproject asks {req}: run `make lock`")  # fmt: skip
        problems += [f"{lock_name}.txt: {name}=={pin.version} has no hash"
                     for name, pin in pins.items() if not pin.hashes]  # fmt: skip
        problems += [f"{lock_name}.txt holds {name}, which pyproject excludes from every lock"
                     for name in excluded(pyproject) & set(pins)]  # fmt: skip
    problems += _version_splits(locks)
    return problems


def _version_splits(locks: Mapping[str, Mapping[str, Pin]]) -> list[str]:
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for lock_name, pins in sorted(locks.items()):
        for name, pin in pins.items():
            first = seen.setdefault(name, (lock_name, pin.version))
            if first[1] != pin.version:
                problems.append(f"{name} is {first[1]} in {first[0]}.txt but "
                                f"{pin.version} in {lock_name}.txt: run `make lock`")  # fmt: skip
    return problems


def unmet_requirements(requires: Mapping[str, Iterable[str]], pins: Mapping[str, Pin],
                       allowed_missing: set[str]) -> list[str]:  # fmt: skip
    """Requirements of locked packages (name -> Requires-Dist) that the lock does not meet.

    Extras-only requirements and ones whose markers are false on the target are ignored;
    `allowed_missing` are the packages pyproject excludes on purpose.
    """
    environment = {**TARGET_ENVIRONMENT, "extra": ""}
    unmet = []
    for package, reqs in sorted(requires.items()):
        for text in reqs:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate(environment):
                continue
            name = canonicalize_name(req.name)
            pin = pins.get(name)
            if pin is None:
                if name not in allowed_missing:
                    unmet.append(f"{package} requires {req}, which the lock lacks")
            elif not req.specifier.contains(pin.version, prereleases=True):
                unmet.append(f"{package} requires {req}, the lock has {pin.version}")
    return unmet


def read_locks(directory: Path = LOCK_DIR) -> dict[str, dict[str, Pin]]:
    return {path.stem: parse_lock(path.read_text()) for path in sorted(directory.glob("*.txt"))}


def read_pyproject(path: Path = PYPROJECT) -> dict:
    return tomllib.loads(path.read_text())


def main(argv: list[str]) -> int:
    if argv != ["--check"]:
        print("usage: python -m tests.harness.lockfile --check", file=sys.stderr)
        return 2
    problems = disagreements(read_pyproject(), read_locks())
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
