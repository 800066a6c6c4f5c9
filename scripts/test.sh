#!/usr/bin/env bash
# The test command: installs what the tests need (npm packages, the pinned Temporal binaries, promtool), then runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# promtool for the alert rules' test; best effort (without it that test is skipped and says so).
bash scripts/install-promtool.sh >/dev/null || true
exec npx vitest run "$@"
