#!/usr/bin/env bash
# CI's Autobahn step: the quick selection (sections 1-7 and 10, 247 cases,
# `run.sh --skip-9`) against the testbed's /ws/echo on a free port. Fails
# when any case failed. Needs python3 with venv and pip (setup.sh fetches
# the suite from PyPI); with RGI_REQUIRE_EXTERNAL=1 a missing python3 is a
# failure, otherwise a skip.
#
#   crates/rgi-server/tests/autobahn/ci.sh [TESTBED_BINARY [TESTBED_ARGS...]]
#
# e.g. `ci.sh target/release/testbed --server hyper` runs it against
# rgi-hyper (HTTP/1.1 upgrade) instead of the reference server.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "${RGI_REQUIRE_EXTERNAL:-0}" = 1 ]; then
    echo "autobahn: python3 with venv is required (RGI_REQUIRE_EXTERNAL=1)" >&2
    exit 1
  fi
  echo "autobahn: SKIPPED: python3 with venv not found"
  exit 0
fi

TESTBED="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$TESTBED" ]; then
  (cd "$ROOT" && cargo build -q --release -p testbed)
  TESTBED="${CARGO_TARGET_DIR:-$ROOT/target}/release/testbed"
fi

LOG="$(mktemp)"
RUST_LOG=rgi_server=info,rgi_hyper=info,rgi_server::access=warn,warn "$TESTBED" --bind 127.0.0.1:0 "$@" >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's/.*rgi listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -n1)"
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "autobahn: the testbed did not start:" >&2; cat "$LOG" >&2; exit 1; }

"$HERE/setup.sh"
"$HERE/run.sh" --skip-9 --deadline 600 --outdir "${AUTOBAHN_OUTDIR:-${CARGO_TARGET_DIR:-$ROOT/target}/autobahn-report}" 127.0.0.1 "$PORT"
