#!/usr/bin/env bash
# Builds web/picsource_web/static/app.css from web/frontend/app.css with Tailwind CSS
# and DaisyUI installed from npm (no CDN: clusters and CI have no internet at run time).
#
# Skips in well under a second when app.css is newer than every input (templates,
# static JS, the CSS source, package files), so `make test` can always call it.
set -euo pipefail
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
out="$web/picsource_web/static/app.css"
# The owner's map draws this Natural Earth land outline (npm world-atlas, ISC; public-domain data).
outline="$web/picsource_web/static/world-land-110m.json"

if [ -f "$out" ] && [ -f "$outline" ] && [ -d "$web/node_modules/@tailwindcss/cli" ]; then
  newer=$(find "$web/frontend" "$web/picsource_web/templates" "$web/picsource_web/static" \
    "$web/picsource_web/views" "$web/package.json" "$web/package-lock.json" \
    -newer "$out" -type f ! -name app.css ! -name world-land-110m.json -print -quit 2>/dev/null || true)
  if [ -z "$newer" ]; then
    echo "==> frontend: app.css up to date"
    exit 0
  fi
fi

command -v npm >/dev/null || { echo "frontend: npm not found (install Node.js >= 20)" >&2; exit 1; }
cd "$web"
# Only ever `npm ci`: exactly package-lock.json (versions and integrity hashes), never a
# re-resolution. `npm install` is for changing package.json, by hand, then committing the lock.
[ -f package-lock.json ] || { echo "frontend: web/package-lock.json is missing" >&2; exit 1; }
echo "==> frontend: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "==> frontend: tailwindcss -> picsource_web/static/app.css"
npx --no-install tailwindcss -i frontend/app.css -o picsource_web/static/app.css --minify
echo "==> frontend: world-atlas land outline -> picsource_web/static/world-land-110m.json"
cp node_modules/world-atlas/land-110m.json "$outline"
