#!/usr/bin/env bash
# Instructions per WebSocket echo round trip, rgi-server against
# fastwebsockets and tokio-tungstenite, counted by callgrind.
#
#   crates/rgi-bench/load/ws-instructions.sh [scenario...]
#
# Scenarios: text-64 (64-byte text messages), binary-64k (64 KiB binary
# ones of a 64-symbol alphabet, compressible 4:3) and random-64k (64 KiB of
# random bytes, which deflate cannot shrink); default all three. For each scenario and server (SERVERS: fastwebsockets,
# tungstenite, rgi = rgi-peer --ws-deflate off, rgi-deflate = rgi-peer with
# permessage-deflate, the client offering it), the server runs under
# `valgrind --tool=callgrind` twice on a free 127.0.0.1 port: once while
# `ws-load --mode echo --messages N1` makes N1 round trips on each of CONNS
# connections, once N2; it is stopped with SIGTERM and the total Ir read from
# callgrind's `summary:` line. (Ir(N2) - Ir(N1)) / ((N2 - N1) * CONNS) is
# the server's user-space instructions per round trip, handshakes, startup
# and shutdown cancelled out: nearly blind to the load of a shared machine,
# unlike round trips per second. Prints one row per scenario and server,
# and the ratio of rgi to the best peer.
#
# Environment: CONNS (16), N1 (100), N2 (600), N1_BIG / N2_BIG for
# the 64 KiB scenarios (20 / 120), SERVERS ("fastwebsockets tungstenite rgi
# rgi-deflate"), THREADS worker threads (1), BIN_DIR binaries built already
# (no cargo build).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CONNS=${CONNS:-16}
N1=${N1:-100}
N2=${N2:-600}
N1_BIG=${N1_BIG:-20}
N2_BIG=${N2_BIG:-120}
THREADS=${THREADS:-1}
read -r -a SERVERS <<< "${SERVERS:-fastwebsockets tungstenite rgi rgi-deflate}"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(text-64 binary-64k random-64k)
for scenario in "${SCENARIOS[@]}"; do
  case "$scenario" in
    text-64|binary-64k|random-64k) ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "unknown scenario: $scenario (try --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=callgrind-lib.sh
source "$HERE/callgrind-lib.sh"

cd "$ROOT"
build_bins rgi-peer fastwebsockets-peer tungstenite-peer ws-load
need_valgrind

# Sets IR to the server's total Ir for `messages` round trips per connection.
IR=
count() { # server scenario messages
  local port out="$WORK/$1-$2-$3.callgrind" bin=$1 args=() load=()
  case "$1" in
    rgi) bin=rgi args=(--ws-deflate off) ;;
    rgi-deflate) bin=rgi load=(--deflate) ;;
  esac
  case "$2" in
    text-64) load+=(--size 64) ;;
    binary-64k) load+=(--size 65536 --binary) ;;
    random-64k) load+=(--size 65536 --random) ;;
  esac
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$BIN_DIR/$bin-peer" --bind "127.0.0.1:$port" --threads "$THREADS" "${args[@]}" \
    2>"$WORK/valgrind.log" >/dev/null &
  PEER_PID=$!
  # valgrind starts slowly on a loaded machine: up to 3 minutes.
  local up=
  for _ in $(seq 1800); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "$1 did not start on port $port; valgrind said:" >&2
    tail -5 "$WORK/valgrind.log" >&2
    return 1
  fi
  local line
  line=$(timeout 900 "$BIN_DIR/ws-load" --mode echo --addr "127.0.0.1:$port" \
    --conns "$CONNS" --messages "$3" "${load[@]}")
  case "$line" in
    *"round_trips=$(( $3 * CONNS )) "*" errors=0"*) ;;
    *) echo "$1, $2, $3 per connection: ws-load said: $line" >&2
       tail -5 "$WORK/valgrind.log" >&2
       return 1 ;;
  esac
  stop_peer
  IR=$(awk '/^summary:/ { print $2 }' "$out")
  if [ -z "$IR" ]; then echo "no summary in $out" >&2; return 1; fi
}

echo "# instructions per WebSocket round trip (callgrind), $(date -u +%FT%TZ)," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $CONNS connections, $(valgrind --version)"
printf '%-12s %-15s %14s %8s\n' scenario server "Ir/round trip" "/best"
for scenario in "${SCENARIOS[@]}"; do
  n1=$N1 n2=$N2
  case "$scenario" in *-64k) n1=$N1_BIG n2=$N2_BIG ;; esac
  declare -A per=()
  for server in "${SERVERS[@]}"; do
    count "$server" "$scenario" "$n1"; ir1=$IR
    count "$server" "$scenario" "$n2"; ir2=$IR
    echo "$server $scenario: Ir($n1 x $CONNS) = $ir1, Ir($n2 x $CONNS) = $ir2" >&2
    per[$server]=$(( (ir2 - ir1) / ((n2 - n1) * CONNS) ))
  done
  best=
  for server in fastwebsockets tungstenite; do
    [ -n "${per[$server]:-}" ] || continue
    if [ -z "$best" ] || [ "${per[$server]}" -lt "$best" ]; then best=${per[$server]}; fi
  done
  for server in "${SERVERS[@]}"; do
    ratio=-
    [ -z "$best" ] || ratio=$(awk -v a="${per[$server]}" -v b="$best" 'BEGIN { printf "%.3f", a / b }')
    printf '%-12s %-15s %14s %8s\n' "$scenario" "$server" "${per[$server]}" "$ratio"
  done
  unset per
done
