#!/usr/bin/env bash
# rgi-hyper against bare hyper (issue 11): the same routes on the same
# hyper-util automatic builder, HTTP/1.1 with wrk and HTTP/2 (h2c) with
# h2load, interleaved A B A B, server and load generator pinned to their
# own CPUs, medians of ROUNDS runs.
#
#   crates/rgi-bench/load/hyper.sh
#
# Environment: ROUNDS (3), DURATION seconds per run (5), SERVER_CPU (0),
# CLIENT_CPU (1), PORT (18180). Installs wrk and h2load (nghttp2-client)
# with apt-get when missing. Binds 127.0.0.1 only; every run is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18180}
SERVERS="hyper-auto rgi-hyper"

for tool in wrk h2load; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool missing: installing it with apt-get ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nghttp2-client) >/dev/null
  fi
done

cd "$ROOT"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
cargo build --quiet --release -p rgi-bench --bin hyper-auto-peer --bin rgi-hyper-peer

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
BODY=$(mktemp)
OUT=$(mktemp)
trap 'stop_server; rm -f "$BODY" "$OUT"' EXIT
head -c 4096 /dev/zero | tr '\0' e > "$BODY"

start_server() {
  taskset -c "$SERVER_CPU" "$BIN_DIR/$1-peer" --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$1-peer did not start" >&2
  exit 1
}

# Prints requests per second for one run.
measure() { # scenario
  case "$1" in
    h1-plaintext)
      timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/" > "$OUT" 2>&1 || true
      awk '/^Requests\/sec:/ {print $2}' "$OUT" ;;
    h1-echo-4k)
      timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d"${DURATION}s" -s "$HERE/echo.lua" "http://127.0.0.1:$PORT/echo" > "$OUT" 2>&1 || true
      awk '/^Requests\/sec:/ {print $2}' "$OUT" ;;
    h2-plaintext)
      timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" h2load -c10 -m100 -D "$DURATION" "http://127.0.0.1:$PORT/" > "$OUT" 2>&1 || true
      awk '/^finished in/ {print $4}' "$OUT" ;;
    h2-echo-4k)
      timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" h2load -c10 -m100 -D "$DURATION" -d "$BODY" "http://127.0.0.1:$PORT/echo" > "$OUT" 2>&1 || true
      awk '/^finished in/ {print $4}' "$OUT" ;;
  esac
}

echo "# rgi-hyper vs bare hyper ($(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), ROUNDS=$ROUNDS DURATION=${DURATION}s)"
echo "| scenario | hyper-auto req/s (median) | rgi-hyper req/s (median) | rgi-hyper / hyper | per-round ratios |"
echo "| --- | --- | --- | --- | --- |"
for scenario in h1-plaintext h1-echo-4k h2-plaintext h2-echo-4k; do
  declare -A runs=([hyper-auto]="" [rgi-hyper]="")
  for round in $(seq "$ROUNDS"); do
    for server in $SERVERS; do
      start_server "$server"
      rps=$(measure "$scenario")
      stop_server
      echo "$scenario round $round $server: ${rps:-nan}" >&2
      runs[$server]+="${rps:-nan} "
    done
  done
  median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
  h=$(echo "${runs[hyper-auto]}" | median)
  r=$(echo "${runs[rgi-hyper]}" | median)
  ratio=$(awk -v r="$r" -v h="$h" 'BEGIN {printf "%.3f", r / h}')
  # Each round's pair (A then B, run back to back): how far one run's
  # ratio can stray on this machine.
  spread=$(paste -d' ' <(echo "${runs[hyper-auto]}" | tr ' ' '\n' | grep -v '^$') \
                       <(echo "${runs[rgi-hyper]}" | tr ' ' '\n' | grep -v '^$') |
    awk '$1 > 0 { q = $2 / $1; if (NR == 1 || q < lo) lo = q; if (NR == 1 || q > hi) hi = q }
         END { printf "%.3f to %.3f", lo, hi }')
  echo "| $scenario | $h | $r | $ratio | $spread |"
done
