#!/usr/bin/env bash
# What the access log costs: rgi-peer on the plaintext route with the
# access log off and on (written to a file through stdout), same run,
# interleaved off on off on, each server pinned to CPU $SERVER_CPU and wrk
# to CPU $CLIENT_CPU; prints per-round figures, medians and the on/off ratio.
#
#   crates/rgi-bench/load/access-log.sh
#
# Environment: ROUNDS (5), DURATION seconds per run (5), FORMAT (common),
# SERVER_CPU (0), CLIENT_CPU (1), PORT (18180), CONNS (64).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
FORMAT=${FORMAT:-common}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18180}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cd "$ROOT"
cargo build --quiet --release -p rgi-bench --bin rgi-peer
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rgi-peer"
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
echo "command: crates/rgi-bench/load/access-log.sh (ROUNDS=$ROUNDS DURATION=${DURATION}s FORMAT=$FORMAT CONNS=$CONNS)"
echo "date: $(date -u +%FT%TZ) commit: $(git rev-parse --short HEAD) machine: nproc=$(nproc)"
for round in $(seq "$ROUNDS"); do
  for mode in off "$FORMAT"; do
    taskset -c "$SERVER_CPU" "$BIN" --bind "127.0.0.1:$PORT" --access-log "$mode" > "$WORK/access.log" &
    PID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
    rps=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" | awk '/^Requests\/sec:/ {print $2}')
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    lines=$(wc -l < "$WORK/access.log")
    echo "round $round access-log=$mode req/s=$rps log_lines=$lines"
    echo "$mode $rps" >> "$WORK/rows"
  done
done
awk -v on="$FORMAT" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { v[$1] = v[$1] " " $2 }
  END {
    off = median(v["off"]); o = median(v[on])
    printf "median req/s: off %.0f, %s %.0f, ratio on/off %.3f\n", off, on, o, o / off
  }' "$WORK/rows"
