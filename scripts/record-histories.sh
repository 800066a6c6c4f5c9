#!/usr/bin/env bash
# Records workflow histories from the code checked out here, for the replay test (test/replay/replay.test.ts):
# real scenarios against a Temporal dev server, PostgreSQL and the aggregators' sandboxes, written to
# test/replay/histories/<workflowType>/<label>/. Usage: npm run record-histories -- <label>
set -euo pipefail
cd "$(dirname "$0")/.."
label="${1:-}"
if [[ ! "$label" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
  echo "usage: npm run record-histories -- <label>   (the version the histories come from, e.g. v0.3.0 or after-2026-12-06)" >&2
  exit 2
fi
# Only the Temporal binaries: an npm install here could rewrite a node_modules this checkout shares with another.
bash scripts/install-temporal.sh >/dev/null
RECORD_HISTORIES="$label" exec npx vitest run --project main test/replay/record-histories.test.ts
