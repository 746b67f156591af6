#!/usr/bin/env bash
# The load comparison of issue 5: rgi-server against hyper, same routes, same
# machine, same run, interleaved A B A B.
#
#   crates/rgi-bench/load/run.sh [--quick]
#
# Builds both peers and the load clients in release mode, installs wrk if it
# is missing (apt, else `cargo install oha`), then for every scenario runs
# each server ROUNDS times, alternating, each on a fresh process pinned to
# CPU $SERVER_CPU while the load generator runs on CPU $CLIENT_CPU. Binds
# 127.0.0.1 only; every run is bounded in time; everything started is
# stopped on exit. Prints a table (per round, then medians and the rgi/hyper
# ratio) and writes it with the raw tool output to
# crates/rgi-bench/load/results/<date>[-quick][-runN].txt (a new file
# for every run of the day).
#
# Environment: ROUNDS (3), DURATION seconds per run (5), SERVERS ("hyper rgi"),
# SERVER_CPU (0), CLIENT_CPU (1), THREADS server worker threads (1),
# PORT_BASE (18080), RESULTS (output file), IDLE_CONNS (10000),
# SCENARIOS (all but sleep-10ms). A server named blocking-N is blocking-peer
# with a pool of N threads (the blocking handlers of rgi-blocking; its
# sleep-10ms scenario is 64 connections on a handler that blocks 10 ms):
#   SERVERS="rgi blocking-32" SCENARIOS="plaintext echo-4k" load/run.sh
#   SERVERS="blocking-8 blocking-32 blocking-128" SCENARIOS=sleep-10ms load/run.sh
# --quick: 1 round of 2 s runs, 2,000 idle connections, 10 uploads (a smoke test).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-"hyper rgi"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
THREADS=${THREADS:-1}
PORT_BASE=${PORT_BASE:-18080}
IDLE_CONNS=${IDLE_CONNS:-10000}
UPLOADS=${UPLOADS:-50}
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1; ROUNDS=1; DURATION=2; IDLE_CONNS=2000; UPLOADS=10 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
STAMP=$(date -u +%F)
# (`|| true`: under `set -e` a failed test in the substitution would end
# the script silently in full mode.)
SUFFIX=$([ "$QUICK" = 1 ] && echo -quick || true)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
results_file "$STAMP$SUFFIX"

# ---------------------------------------------------------------- build
cd "$ROOT"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
BINS=(--bin conn-per-request --bin idle-conns --bin big-uploads)
for server in $SERVERS; do BINS+=(--bin "${server%%-*}-peer"); done
echo "building release binaries in $BIN_DIR ..." >&2
cargo build --quiet --release -p rgi-bench "${BINS[@]}"

# ---------------------------------------------------------------- load generator
LOADGEN=
if command -v wrk >/dev/null; then
  LOADGEN=wrk
else
  echo "wrk missing: installing it with apt-get ..." >&2
  if (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 && command -v wrk >/dev/null; then
    LOADGEN=wrk
  else
    echo "apt-get failed: cargo install oha ..." >&2
    command -v oha >/dev/null || cargo install --quiet oha
    LOADGEN=oha
  fi
fi

# File descriptors for the idle-connection scenario (server and client).
fd_room "$IDLE_CONNS"
IDLE_CONNS=$FD_ROOM

: > "$RESULTS"
log "# rgi vs hyper load run"
log "command: crates/rgi-bench/load/run.sh $* (ROUNDS=$ROUNDS DURATION=${DURATION}s THREADS=$THREADS SERVERS=\"$SERVERS\" SCENARIOS=\"${SCENARIOS:-all}\")"
log "date: $(date -u +%FT%TZ)"
log "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "machine: nproc=$(nproc), $(lscpu | sed -n 's/^Model name: *//p'), $(uname -sr)"
log "load generator: $LOADGEN ($($LOADGEN --version 2>&1 | head -1)), pinned to CPU $CLIENT_CPU; servers pinned to CPU $SERVER_CPU"
log ""

# ---------------------------------------------------------------- helpers
PORT=$PORT_BASE
start_server() { # name, or blocking-N
  PORT=$((PORT + 1))
  local bin="$BIN_DIR/${1%%-*}-peer" extra=()
  [ "${1#*-}" != "$1" ] && extra=(--pool "${1#*-}")
  taskset -c "$SERVER_CPU" "$bin" --bind "127.0.0.1:$PORT" --threads "$THREADS" "${extra[@]}" &
  SERVER_PID=$!
  wait_for_port "$PORT" "$1-peer"
}

# Prints "rps p50_us p99_us" for one wrk/oha run against $PORT.
http_load() { # conns path [wrk lua script [script args]]
  local conns=$1 path=$2 script=${3:-} url="http://127.0.0.1:$PORT$2"
  shift 3
  if [ "$LOADGEN" = wrk ]; then
    local args=(-t1 -c"$conns" -d"${DURATION}s" --latency)
    [ -n "$script" ] && args+=(-s "$HERE/$script")
    args+=("$url")
    [ $# -gt 0 ] && args+=(-- "$@")
    timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" wrk "${args[@]}" > "$RUN_OUT" 2>&1 || true
    raw < "$RUN_OUT"
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$RUN_OUT")
    p50=$(awk '$1 == "50%" {print $2}' "$RUN_OUT")
    p99=$(awk '$1 == "99%" {print $2}' "$RUN_OUT")
    echo "${rps:-nan} $(to_us "${p50:-x}") $(to_us "${p99:-x}")"
  else
    local args=(-c "$conns" -z "${DURATION}s" --no-tui)
    case "$script" in
      pipeline.lua) echo "nan nan nan"; echo "(oha cannot pipeline)" | raw; return ;;
      echo.lua) args+=(-m POST -d "$(head -c 4096 /dev/zero | tr '\0' e)") ;;
    esac
    timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" oha "${args[@]}" "$url" > "$RUN_OUT" 2>&1 || true
    raw < "$RUN_OUT"
    local rps p50 p99
    rps=$(awk '/Requests\/sec:/ {print $2}' "$RUN_OUT")
    p50=$(awk '/50(\.00)?% in/ {print $3 * 1000000; exit}' "$RUN_OUT")
    p99=$(awk '/99(\.00)?% in/ {print $3 * 1000000; exit}' "$RUN_OUT")
    echo "${rps:-nan} ${p50:-nan} ${p99:-nan}"
  fi
}

# One measurement: scenario server round, then the three figures.
record() { echo "$1 $2 $3 $4 $5 $6 ${7:-nan}" >> "$ROWS"; }

# The server process's CPU time so far (all threads, user + system), in
# clock ticks: what a request costs, whatever else runs on the machine.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo nan; }

# CPU microseconds per request between two cpu_ticks readings, for a wrk
# run whose output is in $RUN_OUT ("N requests in Ts").
cpu_per_request() { # before after
  local requests
  requests=$(awk '/ requests in / { print $1; exit }' "$RUN_OUT")
  awk -v a="$1" -v b="$2" -v n="${requests:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    if (n + 0 > 0 && a != "nan" && b != "nan") printf "%.1f\n", (b - a) * 1000000 / hz / n; else print "nan" }'
}

run_scenario() { # scenario
  local scenario=$1 round server figures
  for round in $(seq "$ROUNDS"); do
    for server in $SERVERS; do
      echo "$scenario round $round: $server" >&2
      echo "## $scenario / $server / round $round" | raw
      start_server "$server"
      local cpu_before cpu=nan
      cpu_before=$(cpu_ticks "$SERVER_PID")
      case "$scenario" in
        plaintext) figures=$(http_load 64 / "") ;;
        pipelined) figures=$(http_load 64 / pipeline.lua 16) ;;
        echo-4k) figures=$(http_load 64 /echo echo.lua) ;;
        stream) figures=$(http_load 16 "/stream?n=100&size=16384" "") ;;
        sleep-10ms) figures=$(http_load 64 "/sleep?ms=10" "") ;;
        conn-per-request)
          timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" "$BIN_DIR/conn-per-request" \
            --addr "127.0.0.1:$PORT" --concurrency 32 --seconds "$DURATION" > "$RUN_OUT" 2>&1 || true
          raw < "$RUN_OUT"
          figures=$(awk '/^requests=/ {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            print f["rps"], f["p50"], f["p99"] }' "$RUN_OUT")
          read -r rps p50 p99 <<< "${figures:-nan x x}"
          figures="$rps $(to_us "$p50") $(to_us "$p99")"
          ;;
        idle-10k)
          timeout 150 taskset -c "$CLIENT_CPU" "$BIN_DIR/idle-conns" --addr "127.0.0.1:$PORT" \
            --pid "$SERVER_PID" --conns "$IDLE_CONNS" > "$RUN_OUT" 2>&1 || true
          raw < "$RUN_OUT"
          figures=$(awk '/^conns=/ {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            print f["still_open"], f["rss_kib"], f["peak_kib"] }' "$RUN_OUT")
          ;;
        uploads-8m)
          timeout 150 taskset -c "$CLIENT_CPU" "$BIN_DIR/big-uploads" --addr "127.0.0.1:$PORT" \
            --pid "$SERVER_PID" --count "$UPLOADS" --size $((8 << 20)) > "$RUN_OUT" 2>&1 || true
          raw < "$RUN_OUT"
          figures=$(awk '/^uploads=/ {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            print f["ok"], f["rss_kib"], f["peak_kib"] }' "$RUN_OUT")
          ;;
      esac
      case "$scenario" in
        plaintext|pipelined|echo-4k|stream|sleep-10ms)
          cpu=$(cpu_per_request "$cpu_before" "$(cpu_ticks "$SERVER_PID")") ;;
      esac
      stop_server
      record "$scenario" "$server" "$round" ${figures:-nan nan nan} "$cpu"
    done
  done
}

for scenario in ${SCENARIOS:-plaintext pipelined echo-4k stream conn-per-request idle-10k uploads-8m}; do
  run_scenario "$scenario"
done

# ---------------------------------------------------------------- table
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
      memory = ($1 ~ /^(idle|uploads)/)
      key = $1 SUBSEP $2
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      if (!($1 in sorder)) { sorder[$1] = ++ns; snames[ns] = $1; ismem[$1] = memory }
      v1[key] = v1[key] " " $4; v2[key] = v2[key] " " $5; v3[key] = v3[key] " " $6
      if ($7 != "nan") { hascpu[$1] = 1; v4[key] = v4[key] " " $7 }
      if (memory) printf "%-17s %-6s %5s %12s %12s %12s\n", $1, $2, $3, $4 " conns/ok", $5 " KiB rss", $6 " KiB peak"
      else printf "%-17s %-6s %5s %12.0f %12s %12s %14s\n", $1, $2, $3, $4, $5 " us", $6 " us", $7 " cpu us/req"
    }
    END {
      print ""
      printf "%-17s %-6s %12s %12s %12s %12s\n", "median", "server", "req/s|n", "p50|rss KiB", "p99|peak KiB", "cpu us/req"
      nsv = split(servers, sv, " ")
      for (s = 1; s <= ns; s++) {
        name = snames[s]
        for (k = 1; k <= nsv; k++) {
          key = name SUBSEP sv[k]
          if (!(key in seen)) continue
          m1[sv[k]] = median(v1[key]); m2[sv[k]] = median(v2[key]); m3[sv[k]] = median(v3[key])
          m4[sv[k]] = (name in hascpu) ? median(v4[key]) : "nan"
          printf "%-17s %-6s %12.0f %12.0f %12.0f %12s\n", name, sv[k], m1[sv[k]], m2[sv[k]], m3[sv[k]], (m4[sv[k]] == "nan") ? "" : sprintf("%.1f", m4[sv[k]])
        }
        # With two servers, the second against the first (rgi/hyper by
        # default).
        a = sv[2]; b = sv[1]
        if (nsv == 2 && (a in m1) && (b in m1)) {
          if (ismem[name])
            printf "%-17s %-6s %12s %12s %12s   (rss and peak: lower is better)\n", name, "ratio", "", ratio(m2[a], m2[b]), ratio(m3[a], m3[b])
          else
            printf "%-17s %-6s %12s %12s %12s %12s   (req/s: higher is better; latency, cpu: lower)\n", name, "ratio", ratio(m1[a], m1[b]), ratio(m2[a], m2[b]), ratio(m3[a], m3[b]), ratio(m4[a], m4[b])
        }
        delete m1; delete m2; delete m3; delete m4
      }
    }' "$ROWS"
}

{
  echo ""
  echo "# table (per round: req/s p50 p99, server CPU per request; memory rows: connections or uploads done, RSS, peak RSS)"
  printf "%-17s %-6s %5s %12s %12s %12s\n" scenario server round "req/s|n" "p50|rss" "p99|peak"
  table
} | tee -a "$RESULTS"
echo "results written to $RESULTS" >&2
