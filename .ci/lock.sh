#!/usr/bin/env bash
# `make lock`: resolves pyproject.toml into the hashed lock files every install uses.
#
#   .ci/requirements/dev.txt                 the virtualenv: every extra, dev tools included
#   .ci/requirements/{web,worker,operator}.txt  one image each: core's dependencies + its extra
#
# Why four files from one resolution: the images stay small (the web image carries no
# OpenCV), yet every package has one version everywhere, because each image's lock is
# resolved under the constraint of dev.txt. Existing pins are kept where still allowed;
# `make lock UPGRADE=1` moves everything to the newest allowed versions.
#
# pyproject's [tool.picsource.lock] exclude (opencv-python) is resolved, because rapidocr
# and mtcnn require it, but never emitted: it clashes with opencv-python-headless. So every
# install from a lock runs with --no-deps; a lock is complete by construction, and
# tests/harness/lockfile.py checks that it stays so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
uv="${UV:-.venv/bin/uv}"
[ -x "$uv" ] || { echo "lock: $uv not found: run \`make python\` first" >&2; exit 1; }

common=(--quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --custom-compile-command "make lock")
mapfile -t excluded < <(python3 -c 'import tomllib; [print(p) for p in tomllib.load(open("pyproject.toml", "rb"))["tool"]["picsource"]["lock"]["exclude"]]')
for package in "${excluded[@]}"; do common+=(--no-emit-package "$package"); done
[ "${UPGRADE:-}" = 1 ] && common+=(--upgrade)
out=.ci/requirements
mkdir -p "$out"

echo "==> lock: $out/dev.txt (every extra)"
"$uv" pip compile pyproject.toml --all-extras "${common[@]}" -o "$out/dev.txt"
for component in web worker operator; do
  echo "==> lock: $out/$component.txt (constrained by dev.txt)"
  "$uv" pip compile pyproject.toml --extra "$component" -c "$out/dev.txt" "${common[@]}" \
    -o "$out/$component.txt"
done
