#!/usr/bin/env bash
# Installs promtool (Prometheus's rule checker) into the cache outside the repo, for the alert rules' test
# (test/unit/alert-rules-promtool.test.ts). From the distribution's package registry: `apt-get download prometheus`
# and only promtool taken out of the package (nothing is installed on the system). `--go` builds it with `go install`
# instead, which downloads and compiles all of Prometheus: more than ten minutes on a small machine.
# Reuses what is there. Never fails the caller: without promtool the test says it was skipped and why, and the rules
# are still checked by test/unit/ops-files.test.ts. Prints PROMTOOL=path on the last line when installed.
set -uo pipefail

GO_VERSION_TAG="v0.316.0"   # the Go module version of Prometheus 3.x's promtool, for --go

cache_root="${AGGREGATOR_BOOKINGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aggregator-bookings}"
dir="$cache_root/promtool"
say() { echo "[install-promtool] $*" >&2; }

if [ -x "$dir/promtool" ]; then
  say "promtool already in $dir (reused): $("$dir/promtool" --version 2>&1 | head -n 1)"
  echo "PROMTOOL=$dir/promtool"
  exit 0
fi

if [ "${1:-}" = "--go" ]; then
  command -v go >/dev/null 2>&1 || { say "no go found"; exit 0; }
  say "building promtool $GO_VERSION_TAG with go install (slow)"
  mkdir -p "$dir"
  if GOBIN="$dir" go install "github.com/prometheus/prometheus/cmd/promtool@$GO_VERSION_TAG" >&2; then
    say "installed promtool into $dir"
    echo "PROMTOOL=$dir/promtool"
  else
    say "go install failed"
  fi
  exit 0
fi

if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  say "downloading the prometheus package with apt-get download (taking only promtool out of it)"
  if (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) && dpkg -x "$tmp"/prometheus_*.deb "$tmp/x" 2>/dev/null && [ -x "$tmp/x/usr/bin/promtool" ]; then
    mkdir -p "$dir"
    cp "$tmp/x/usr/bin/promtool" "$dir/promtool.part" && mv "$dir/promtool.part" "$dir/promtool"
    rm -rf "$tmp"
    say "installed $("$dir/promtool" --version 2>&1 | head -n 1) into $dir"
    echo "PROMTOOL=$dir/promtool"
    exit 0
  fi
  rm -rf "$tmp"
  say "apt-get download prometheus failed (no package index? run apt-get update)"
fi
say "promtool not installed: its test is skipped (bash scripts/install-promtool.sh --go builds it with Go)"
exit 0
