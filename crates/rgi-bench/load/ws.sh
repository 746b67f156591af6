#!/usr/bin/env bash
# The WebSocket load comparison of issue 10: rgi-server's WebSocket against
# tokio-tungstenite and fastwebsockets echo servers, same machine, same run,
# interleaved A B C A B C.
#
#   crates/rgi-bench/load/ws.sh [--quick]
#
# Builds the peers and ws-load in release mode, then for every scenario runs
# each server ROUNDS times, alternating, each on a fresh process pinned to
# CPU $SERVER_CPU while ws-load runs on CPU $CLIENT_CPU. Scenarios:
#   text-64     64 connections, 64-byte text messages, echo round trips
#   binary-64k  16 connections, 64 KiB binary messages, echo round trips
#   idle-2k     2,000 open, silent WebSockets: server RSS per connection
# Servers (SERVERS): tungstenite, fastwebsockets, rgi (permessage-deflate
# off, as the peers have none), and rgi-deflate (on, the client offers it as
# Chromium does): the cost of compression, reported apart.
# Binds 127.0.0.1 only; every run is bounded in time; everything started is
# stopped on exit. Prints per-round rows, then medians and rgi's ratio to
# the best peer, and writes them with the raw output to
# crates/rgi-bench/load/results/<date>-ws[-quick][-runN].txt.
#
# Environment: ROUNDS (3), DURATION seconds per echo run (5),
# SERVERS ("tungstenite fastwebsockets rgi rgi-deflate"), SERVER_CPU (0),
# CLIENT_CPU (1), THREADS server worker threads (1), PORT_BASE (19180),
# IDLE_CONNS (2000), RESULTS (output file).
# --quick: 1 round of 2 s runs, 500 idle connections (a smoke test).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-"tungstenite fastwebsockets rgi rgi-deflate"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
THREADS=${THREADS:-1}
PORT_BASE=${PORT_BASE:-19180}
IDLE_CONNS=${IDLE_CONNS:-2000}
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1; ROUNDS=1; DURATION=2; IDLE_CONNS=500 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
STAMP=$(date -u +%F)
SUFFIX=$([ "$QUICK" = 1 ] && echo -quick || true)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
results_file "$STAMP-ws$SUFFIX"

cd "$ROOT"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
echo "building release binaries in $BIN_DIR ..." >&2
cargo build --quiet --release -p rgi-bench --bin ws-load --bin rgi-peer \
  --bin tungstenite-peer --bin fastwebsockets-peer

fd_room "$IDLE_CONNS"
IDLE_CONNS=$FD_ROOM

: > "$RESULTS"
log "# rgi WebSocket vs tokio-tungstenite vs fastwebsockets"
log "command: crates/rgi-bench/load/ws.sh $* (ROUNDS=$ROUNDS DURATION=${DURATION}s THREADS=$THREADS)"
log "date: $(date -u +%FT%TZ)"
log "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "machine: nproc=$(nproc), $(lscpu | sed -n 's/^Model name: *//p'), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "ws-load pinned to CPU $CLIENT_CPU; servers pinned to CPU $SERVER_CPU"
log ""

PORT=$PORT_BASE
start_server() { # name
  PORT=$((PORT + 1))
  local cmd
  case "$1" in
    tungstenite) cmd=("$BIN_DIR/tungstenite-peer") ;;
    fastwebsockets) cmd=("$BIN_DIR/fastwebsockets-peer") ;;
    rgi) cmd=("$BIN_DIR/rgi-peer" --ws-deflate off) ;;
    rgi-deflate) cmd=("$BIN_DIR/rgi-peer" --ws-deflate on) ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
  taskset -c "$SERVER_CPU" "${cmd[@]}" --bind "127.0.0.1:$PORT" --threads "$THREADS" &
  SERVER_PID=$!
  wait_for_port "$PORT" "$1"
}

# Prints "rps p50_us p99_us server_cpu_us_per_round_trip" for one echo run
# against $PORT.
echo_load() { # server conns size [--binary]
  local deflate=()
  [ "$1" = rgi-deflate ] && deflate=(--deflate)
  timeout $((DURATION + 40)) taskset -c "$CLIENT_CPU" "$BIN_DIR/ws-load" --mode echo \
    --addr "127.0.0.1:$PORT" --pid "$SERVER_PID" --conns "$2" --size "$3" \
    --seconds "$DURATION" "${@:4}" \
    "${deflate[@]}" > "$RUN_OUT" 2>&1 || true
  raw < "$RUN_OUT"
  local figures
  figures=$(awk '/^round_trips=/ {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if (f["errors"] != 0) print "nan x x nan"; else print f["rps"], f["p50"], f["p99"], f["server_cpu_us"] }' "$RUN_OUT")
  read -r rps p50 p99 cpu <<< "${figures:-nan x x nan}"
  echo "$rps $(to_us "$p50") $(to_us "$p99") ${cpu:-nan}"
}

record() { echo "$1 $2 $3 $4 $5 $6 ${7:-nan}" >> "$ROWS"; }

for scenario in text-64 binary-64k idle-2k; do
  for round in $(seq "$ROUNDS"); do
    for server in $SERVERS; do
      echo "$scenario round $round: $server" >&2
      echo "## $scenario / $server / round $round" | raw
      start_server "$server"
      case "$scenario" in
        text-64) figures=$(echo_load "$server" 64 64) ;;
        binary-64k) figures=$(echo_load "$server" 16 65536 --binary) ;;
        idle-2k)
          deflate=()
          [ "$server" = rgi-deflate ] && deflate=(--deflate)
          timeout 150 taskset -c "$CLIENT_CPU" "$BIN_DIR/ws-load" --mode idle \
            --addr "127.0.0.1:$PORT" --pid "$SERVER_PID" --conns "$IDLE_CONNS" \
            "${deflate[@]}" > "$RUN_OUT" 2>&1 || true
          raw < "$RUN_OUT"
          figures=$(awk '/^conns=/ {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            print f["still_open"], f["per_conn_bytes"], f["rss_kib"], "nan" }' "$RUN_OUT")
          ;;
      esac
      stop_server
      record "$scenario" "$server" "$round" ${figures:-nan nan nan nan}
    done
  done
done

table() {
  awk -v servers="$SERVERS" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      if (n == 0) return "nan"
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function ratio(a, b) { return (b + 0 == 0 || a == "nan" || b == "nan") ? "-" : sprintf("%.3f", a / b) }
    {
      memory = ($1 ~ /^idle/)
      key = $1 SUBSEP $2
      if (!(key in seen)) { seen[key] = 1 }
      if (!($1 in sorder)) { sorder[$1] = ++ns; snames[ns] = $1; ismem[$1] = memory }
      v1[key] = v1[key] " " $4; v2[key] = v2[key] " " $5; v3[key] = v3[key] " " $6; v4[key] = v4[key] " " $7
      if (memory) printf "%-11s %-15s %5s %10s %16s %14s\n", $1, $2, $3, $4 " open", $5 " B/conn", $6 " KiB rss"
      else printf "%-11s %-15s %5s %10.0f %16s %14s %14s\n", $1, $2, $3, $4, $5 " us p50", $6 " us p99", $7 " us cpu/rt"
    }
    END {
      print ""
      printf "%-11s %-15s %10s %16s %14s %12s\n", "median", "server", "rt/s|open", "p50 us|B/conn", "p99 us|KiB", "cpu us/rt"
      n = split(servers, sv, " ")
      for (s = 1; s <= ns; s++) {
        name = snames[s]
        best1 = ""; best2 = ""; best3 = ""; best4 = ""
        for (k = 1; k <= n; k++) {
          key = name SUBSEP sv[k]
          if (!(key in seen)) continue
          m1 = median(v1[key]); m2 = median(v2[key]); m3 = median(v3[key]); m4 = median(v4[key])
          printf "%-11s %-15s %10.0f %16.0f %14.0f %12s\n", name, sv[k], m1, m2, m3, m4
          if (sv[k] == "rgi") { r1 = m1; r2 = m2; r3 = m3; r4 = m4 }
          if (sv[k] == "rgi-deflate") { d1 = m1; d2 = m2; d3 = m3; d4 = m4 }
          if (sv[k] == "tungstenite" || sv[k] == "fastwebsockets") {
            # The best peer: most round trips, least latency and memory.
            if (ismem[name]) { if (best2 == "" || m2 + 0 < best2 + 0) { best1 = m1; best2 = m2; best3 = m3; best4 = m4; bestname = sv[k] } }
            else if (best1 == "" || m1 + 0 > best1 + 0) { best1 = m1; best2 = m2; best3 = m3; best4 = m4; bestname = sv[k] }
          }
        }
        if (r1 != "" && best1 != "") {
          if (ismem[name]) printf "%-11s %-15s %10s %16s %14s   (bytes per connection: lower is better)\n", name, "rgi/" bestname, "", ratio(r2, best2), ratio(r3, best3)
          else printf "%-11s %-15s %10s %16s %14s %12s   (round trips: higher is better; latency and cpu: lower)\n", name, "rgi/" bestname, ratio(r1, best1), ratio(r2, best2), ratio(r3, best3), ratio(r4, best4)
        }
        if (r1 != "" && d1 != "") {
          if (ismem[name]) printf "%-11s %-15s %10s %16s %14s   (the cost of permessage-deflate)\n", name, "deflate/rgi", "", ratio(d2, r2), ratio(d3, r3)
          else printf "%-11s %-15s %10s %16s %14s %12s   (the cost of permessage-deflate)\n", name, "deflate/rgi", ratio(d1, r1), ratio(d2, r2), ratio(d3, r3), ratio(d4, r4)
        }
        r1 = ""; d1 = ""
      }
    }' "$ROWS"
}

{
  echo ""
  echo "# table (per round: round trips/s, p50, p99, server CPU per round trip; idle rows: connections still open, server RSS growth per connection, RSS)"
  table
} | tee -a "$RESULTS"
echo "results written to $RESULTS" >&2
