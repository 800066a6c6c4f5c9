#!/usr/bin/env bash
# API fuzzing: runs schemathesis (PyPI, pinned) against the service's own OpenAPI document. Starts the service as a
# user would (`npm start`) with a throw-away data folder and its own free ports, seeds a company, venue, Wellhub
# connection, activity and session through the API (the fuzzer uses their ids in part of the cases, see
# scripts/schemathesis.toml), and a second company, then fuzzes every operation twice, as the admin and as the
# company, with every check, positive and negative data and every phase (examples, coverage, fuzzing, stateful);
# the object_level_authorization check replays the company's reads with the second company's key.
# Exits non-zero on any failure. Needs Node.js (npm start installs the rest) and Python 3 with pip.
#
# Tunables (environment): SCHEMATHESIS_MAX_EXAMPLES (per operation and phase, default 25), SCHEMATHESIS_SEED
# (default 20260101), SCHEMATHESIS_WORKERS (default 2), SCHEMATHESIS_REPORT_DIR (keep the JSON and JUnit reports
# there; by default they go with the throw-away folder).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION="4.32.5"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-20260101}"
WORKERS="${SCHEMATHESIS_WORKERS:-2}"
READY_TIMEOUT=120   # seconds for the service to answer 200 on /readyz
RUN_TIMEOUT=300     # seconds for one schemathesis run before it is stopped

cache_root="${AGGREGATOR_BOOKINGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aggregator-bookings}"
st_dir="$cache_root/schemathesis-$ST_VERSION"
say() { echo "[schemathesis] $*" >&2; }
started=$(date +%s)

# --- schemathesis, pinned, in a cache outside the repo ------------------------------------------------------------

pick_python() {
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}

# Sets `st` to the command that runs the pinned schemathesis: a venv in the cache, or (where the venv module is
# missing, as on Debian without python3-venv) a `pip install --target` folder run by the system Python.
install_schemathesis() {
  local py mode=""
  [ -f "$st_dir/.installed" ] && mode="$(cat "$st_dir/.installed")"
  case "$mode" in
    venv) st=("$st_dir/bin/python" -m schemathesis.cli) ;;
    target*) st=(env "PYTHONPATH=$st_dir/lib" "${mode#target }" -m schemathesis.cli) ;;
  esac
  if [ -n "$mode" ] && "${st[@]}" --version 2>/dev/null | grep -qF "version $ST_VERSION"; then
    say "schemathesis $ST_VERSION already in $st_dir (reused)"
    return 0
  fi
  py="$(pick_python)" || { say "no python with pip found: schemathesis needs Python 3 with pip"; return 1; }
  rm -rf "$st_dir"
  mkdir -p "$cache_root"
  if "$py" -m venv "$st_dir" >/dev/null 2>&1 && [ -x "$st_dir/bin/python" ]; then
    say "installing schemathesis==$ST_VERSION from PyPI into a venv in $st_dir"
    "$st_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "schemathesis==$ST_VERSION" >&2
    mode=venv
    st=("$st_dir/bin/python" -m schemathesis.cli)
  else
    rm -rf "$st_dir"
    py="$(command -v "$py")"
    say "no venv module; installing schemathesis==$ST_VERSION from PyPI with pip --target into $st_dir/lib"
    "$py" -m pip install --quiet --disable-pip-version-check --no-input --target "$st_dir/lib" \
      "schemathesis==$ST_VERSION" >&2
    mode="target $py"
    st=(env "PYTHONPATH=$st_dir/lib" "$py" -m schemathesis.cli)
  fi
  "${st[@]}" --version | grep -qF "version $ST_VERSION" || { say "the installed schemathesis does not run"; return 1; }
  echo "$mode" >"$st_dir/.installed"
  say "installed schemathesis $ST_VERSION into $st_dir"
}

install_schemathesis

# --- the service, with its own data folder and ports ----------------------------------------------------------------

work="$(mktemp -d "${TMPDIR:-/tmp}/aggregator-bookings-fuzz.XXXXXX")"
log="$work/service.log"
service_pid=""

print_log_tail() {
  [ -f "$log" ] || return 0
  say "last lines of the service log ($log):"
  tail -n 40 "$log" >&2
}

# The node process that runs bin/service.ts: the innermost process of the service's group whose command line names it
# (npm start > sh > npm exec > sh > tsx > node). Signalling only the outer npm would not reach it.
service_process() {
  local dir pid stat fields args q leaf
  local -A parent=()
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    stat="$(cat "$dir/stat" 2>/dev/null)" || continue
    read -r -a fields <<<"${stat##*) }"   # state ppid pgrp ...
    [ "${fields[2]}" = "$service_pid" ] || continue
    args="$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null)" || continue
    case "$args" in *"bin/service.ts start"*) parent[$pid]="${fields[1]}" ;; esac
  done
  for pid in "${!parent[@]}"; do
    leaf=1
    for q in "${!parent[@]}"; do [ "${parent[$q]}" = "$pid" ] && leaf=0; done
    [ "$leaf" = 1 ] && echo "$pid"
  done
  return 0
}

stop_service() {
  local target
  [ -n "$service_pid" ] || return 0
  if kill -0 "$service_pid" 2>/dev/null; then
    target="$(service_process | head -n 1)"
    # SIGTERM to the service itself: it stops the API, the worker, then PostgreSQL and Temporal, and the wrappers
    # around it exit with it. Before it runs (still installing), the whole group gets the signal.
    if [ -n "$target" ]; then kill -TERM "$target" 2>/dev/null || true
    else kill -TERM -- "-$service_pid" 2>/dev/null || true; fi
    for _ in $(seq 1 300); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$service_pid" 2>/dev/null; then
      say "the service did not stop within 30 s of SIGTERM; killing its process group"
      kill -KILL -- "-$service_pid" 2>/dev/null || true
    fi
  fi
  wait "$service_pid" 2>/dev/null || true
  service_pid=""
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ]; then print_log_tail; fi
  stop_service
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Four ports that are free right now (held together, so they differ); the sandboxes take any free ports (0).
read -r api_port pg_port temporal_port ui_port < <(node -e '
  const net = require("node:net");
  Promise.all([0, 1, 2, 3].map(() => new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject).listen(0, "127.0.0.1", () => resolve(s));
  }))).then((servers) => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });
')
base_url="http://127.0.0.1:$api_port"

say "starting the service (npm start) with DATA_DIR=$work/data, API on $base_url; log in $log"
# Nothing from the caller's environment may point it at a developer's stack (their database or Temporal, real
# aggregator URLs), replace the generated keys or change what is tested: those settings are removed or set here.
# In its own session and process group (setsid), so that it and its children can be found, and killed if need be.
(
  unset DATABASE_URL DATABASE_POOL_SIZE TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_TASK_QUEUE TEMPORAL_API_KEY \
    TEMPORAL_TLS TEMPORAL_TLS_CERT_PATH TEMPORAL_TLS_KEY_PATH TEMPORAL_TLS_CA_PATH TEMPORAL_TLS_SERVER_NAME \
    TEMPORAL_UI_URL ADMIN_API_KEY SECRETS_KEY PUBLIC_BASE_URL API_HOST SYNC_INTERVAL BOOKING_HORIZON_DAYS \
    SANDBOX_HOST WELLHUB_API_URL CLASSPASS_API_URL EGYM_WELLPASS_API_URL ONEFIT_API_URL WORKIT_API_URL METRICS_HOST
  export NODE_ENV=development LOG_LEVEL=warn DATA_DIR="$work/data" API_PORT="$api_port" \
    EMBEDDED_POSTGRES_PORT="$pg_port" TEMPORAL_DEV_PORT="$temporal_port" TEMPORAL_UI_PORT="$ui_port" \
    SANDBOXES=auto SANDBOX_BASE_PORT=0 METRICS_PORT=off WORKER_METRICS_PORT=off TEMPORAL_METRICS_BIND_ADDRESS=off
  exec setsid npm start
) >"$log" 2>&1 </dev/null &
service_pid=$!

http_status() {
  node -e 'fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))' "$1"
}

deadline=$(( $(date +%s) + READY_TIMEOUT ))
until [ "$(http_status "$base_url/readyz")" = 200 ]; do
  if ! kill -0 "$service_pid" 2>/dev/null; then say "the service exited before it was ready"; exit 1; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then say "/readyz did not answer 200 within $READY_TIMEOUT s"; exit 1; fi
  sleep 0.5
done
say "service ready after $(( $(date +%s) - started )) s"

# --- seed data through the API ------------------------------------------------------------------------------------

seed_env="$work/seed.env"
FUZZ_BASE_URL="$base_url" FUZZ_ADMIN_KEY="$(cat "$work/data/admin-api-key")" npx tsx scripts/fuzz-seed.ts >"$seed_env"
# shellcheck disable=SC1090
. "$seed_env"
say "seeded company $COMPANY_ID: venue $VENUE_ID, connection $CONNECTION_ID, activity $ACTIVITY_ID, session $SESSION_ID, customer $CUSTOMER_ID, event endpoint $ENDPOINT_ID"

mkdir -p "$work/ids"
cp scripts/schemathesis.toml "$work/schemathesis.toml"
for pair in "company:$COMPANY_ID" "venue:$VENUE_ID" "connection:$CONNECTION_ID" "activity:$ACTIVITY_ID" \
  "session:$SESSION_ID" "customer:$CUSTOMER_ID" "endpoint:$ENDPOINT_ID"; do
  printf '"%s"\n' "${pair#*:}" >"$work/ids/${pair%%:*}.dict"   # libFuzzer dictionary format
done
bearer() { printf '{"name": "%s", "fixedHeaders": [{"name": "Authorization", "value": "Bearer %s"}]}' "$1" "$2"; }
printf '{"auth": [%s, %s, %s]}\n' "$(bearer admin "$(cat "$work/data/admin-api-key")")" \
  "$(bearer company "$COMPANY_KEY")" "$(bearer other-company "$OTHER_COMPANY_KEY")" >"$work/auth.wfc.json"

# --- fuzz, once per identity -------------------------------------------------------------------------------------

report_dir="${SCHEMATHESIS_REPORT_DIR:-$work/reports}"
mkdir -p "$report_dir"
report_dir="$(cd "$report_dir" && pwd)"   # schemathesis runs in $work
declare -A exit_codes=()

run_identity() {
  local identity="$1" code=0
  say "fuzzing as the $identity (seed $SEED, up to $MAX_EXAMPLES examples per operation and phase)"
  # Its pytest-style banner lines ("=== 1 warning in 58s ===") are rewritten so that no log reader takes them for a
  # test runner's closing line.
  (
    set -o pipefail
    cd "$work"
    timeout --foreground --signal=INT --kill-after=30 "$RUN_TIMEOUT" \
      "${st[@]}" --config-file "$work/schemathesis.toml" run "$base_url/openapi.json" --auth-wfc-user "$identity" \
      --checks all --mode all --phases examples,coverage,fuzzing,stateful \
      --seed "$SEED" --max-examples "$MAX_EXAMPLES" --workers "$WORKERS" \
      --generation-database none --request-timeout 10 --no-color \
      --report json,junit --report-json-path "$report_dir/$identity.json" \
      --report-junit-path "$report_dir/$identity.junit.xml" \
      | sed -u -E 's/^=+ (.*) =+$/-- \1 --/'
  ) || code=$?
  # Ctrl-C reaches schemathesis too, which stops cleanly with 130: then stop here (the exit trap cleans up).
  if [ "$code" -eq 130 ]; then say "interrupted"; exit 130; fi
  if [ "$code" -eq 124 ]; then say "the $identity run did not finish within $RUN_TIMEOUT s and was stopped"; fi
  exit_codes[$identity]=$code
}

# A run whose only trouble is schemathesis's own crash (hypothesis once failed with "AST constructor recursion depth
# mismatch" in its lambda-description cache, under two workers) found nothing about the service: it runs once more.
# Any failure found, or any error of another kind (a connection refused, a timeout), is kept as it is.
only_tool_errors() {
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const tool = r.errors.length > 0 && r.errors.every((e) => e.title === "Runtime Error");
    process.exit(r.test_cases.with_failures === 0 && r.failures.length === 0 && tool ? 0 : 1);
  ' "$report_dir/$1.json" 2>/dev/null
}

for identity in admin company; do
  run_identity "$identity"
  if [ "${exit_codes[$identity]}" -ne 0 ] && only_tool_errors "$identity"; then
    say "the $identity run stopped on schemathesis's own runtime error and found no failure: running it once more"
    run_identity "$identity"
  fi
done

# --- summary -------------------------------------------------------------------------------------------------------

status=0
echo
echo "schemathesis $ST_VERSION summary (seed $SEED, max examples $MAX_EXAMPLES):"
for identity in admin company; do
  node -e '
    const fs = require("node:fs");
    const [identity, file, code] = process.argv.slice(1);
    let r;
    try {
      r = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      console.log(`  ${identity}: no report (exit code ${code})`);
      process.exit(0);
    }
    const t = r.test_cases;
    const errors = r.errors.reduce((n, e) => n + e.count, 0);
    const ops = r.operations ?? {};
    console.log(`  ${identity.padEnd(8)} ${t.generated} test cases, ${t.with_failures} with failures, ` +
      `${t.unique_failures} unique failures, ${errors} errors; ${ops.tested} of ${ops.selected} operations ` +
      `tested in ${Math.round(r.running_time)} s; exit code ${code}`);
    for (const f of r.failures) console.log(`      ${f.title} (${f.code}) x${f.count}: ${f.operations.join(", ")}`);
    for (const e of r.errors) console.log(`      error: ${e.title} x${e.count}`);
  ' "$identity" "$report_dir/$identity.json" "${exit_codes[$identity]}"
  [ "${exit_codes[$identity]}" -eq 0 ] || status=1
done
echo "  took $(( $(date +%s) - started )) s end to end"
[ -z "${SCHEMATHESIS_REPORT_DIR:-}" ] || echo "  reports in $report_dir"

if [ "$status" -ne 0 ]; then
  say "schemathesis found failures (details above)"
  exit 1
fi
say "no failures"
