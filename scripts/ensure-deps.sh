#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than the lockfile, and the pinned Temporal binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[ensure-deps] installing npm packages" >&2
  # `npm ci` would be stricter, but the lockfile cannot list every platform's optional native packages here.
  npm install --no-audit --no-fund --loglevel=error >&2
fi
bash scripts/install-temporal.sh >/dev/null
