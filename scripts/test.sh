#!/usr/bin/env bash
# The test command: installs what the tests need (npm packages, the pinned Temporal binaries), then runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec npx vitest run "$@"
