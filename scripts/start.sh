#!/usr/bin/env bash
# `npm start`: everything needed on a fresh machine, then the whole service (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec npx tsx bin/service.ts start "$@"
