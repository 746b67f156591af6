#!/usr/bin/env bash
# Instructions per request, rgi-server against hyper, counted by callgrind.
#
#   crates/rgi-bench/load/instructions.sh [scenario...]
#
# Scenarios: pipelined plaintext conn-per-request echo (default: all four;
# see src/bin/instr-client.rs), and h2-plaintext h2-echo (HTTP/2 with prior
# knowledge: `GET /` and `POST /echo` with 4 KiB, driven by
# `h2load -c 1 -m 10`, for peers that speak h2c). For each scenario and peer, the peer runs
# under `valgrind --tool=callgrind` twice, on a free 127.0.0.1 port: once
# serving N1 requests from instr-client, once N2; it is stopped with
# SIGTERM and the total Ir read from the `summary:` line of callgrind's
# file. (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one request with
# startup and shutdown cancelled out: user-space instructions, nearly blind
# to the load of the shared machine (pipelined, plaintext and echo repeat
# to 0.1 %, conn-per-request to ~1 %). Prints one row per scenario: hyper,
# rgi, rgi/hyper.
#
# Environment: N1 (200), N2 (1200), N1_PIPELINED (3200), N2_PIPELINED
# (19200: batches of 16), PAUSE_US client pause between steps (2000),
# HOST_HEADER the requests' host (default 127.0.0.1:<port>, as wrk sends;
# `localhost` reproduces the phase 3 figures), THREADS worker threads (1),
# N1_H2 (1000), N2_H2 (6000), BASE the baseline peer (hyper) and PEER the
# peer measured against it (rgi): `src/bin/$BASE-peer.rs`, so
# `BASE=hyper-auto PEER=rgi-hyper` compares rgi-hyper with bare hyper on
# the same builder (load/instructions-hyper.sh); BIN_DIR binaries built
# already (a copy of an earlier build, to compare): no cargo build;
# BASE_ARGS, PEER_ARGS more flags for either peer (such as
# `BASE_ARGS="--head-timeout-ms 0"` for hyper-auto-peer, or
# `PEER_ARGS="--access-log common"`: rgi-peer with its access log, which
# callgrind counts with every other thread; stdout goes to a file).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
N1=${N1:-200}
N2=${N2:-1200}
N1_PIPELINED=${N1_PIPELINED:-$((200 * 16))}
N2_PIPELINED=${N2_PIPELINED:-$((1200 * 16))}
N1_H2=${N1_H2:-1000}
N2_H2=${N2_H2:-6000}
THREADS=${THREADS:-1}
BASE=${BASE:-hyper}
PEER=${PEER:-rgi}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(pipelined plaintext conn-per-request echo)
for scenario in "${SCENARIOS[@]}"; do
  case "$scenario" in
    pipelined|plaintext|conn-per-request|echo|h2-plaintext|h2-echo) ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "unknown scenario: $scenario (try --help)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- cleanup
# shellcheck source=callgrind-lib.sh
source "$HERE/callgrind-lib.sh"

# ---------------------------------------------------------------- setup
cd "$ROOT"
build_bins "$BASE-peer" "$PEER-peer" instr-client
need_valgrind
case " ${SCENARIOS[*]}" in
  *" h2-"*)
    if ! command -v h2load >/dev/null; then
      echo "h2load missing: installing it with apt-get ..." >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client) >/dev/null
    fi
    head -c 4096 /dev/zero | tr '\0' e > "$WORK/body" ;;
esac

# Sends `requests` requests of `scenario` to the peer on `port`; fails
# unless every one was answered.
drive() { # port scenario requests
  local url
  case "$2" in
    h2-*)
      # h2load does not wait for the server: one probe connection when it
      # listens (the same in every run, so it cancels out).
      for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && break
        sleep 0.1
      done
      url="http://127.0.0.1:$1/"
      local data=()
      if [ "$2" = h2-echo ]; then url+=echo; data=(-d "$WORK/body"); fi
      timeout 600 h2load -n "$3" -c 1 -m 10 "${data[@]}" "$url" > "$WORK/h2load.out" 2>&1 || true
      if ! grep -q "requests: $3 total, $3 started, $3 done, $3 succeeded, 0 failed" "$WORK/h2load.out"; then
        grep '^requests:' "$WORK/h2load.out" >&2 || tail -3 "$WORK/h2load.out" >&2
        return 1
      fi ;;
    *)
      timeout 600 "$BIN_DIR/instr-client" --addr "127.0.0.1:$1" --scenario "$2" \
        --requests "$3" --wait 60 --pause-us "${PAUSE_US:-2000}" \
        --host "${HOST_HEADER:-127.0.0.1:$1}" ;;
  esac
}

# BASE_ARGS / PEER_ARGS: more flags for that peer (word-split).
peer_args() { if [ "$1" = base ]; then echo "${BASE_ARGS:-}"; else echo "${PEER_ARGS:-}"; fi; }

# Sets IR to the total Ir of one peer under callgrind serving `requests`.
# (Not a $(...) subshell: the peer's pid must stay visible to the trap.)
IR=
count() { # peer scenario requests role
  local port out="$WORK/$4-$1-$2-$3.callgrind"
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$BIN_DIR/$1-peer" --bind "127.0.0.1:$port" --threads "$THREADS" $(peer_args "$4") 2>"$WORK/valgrind.log" >"$WORK/peer-stdout.txt" &
  PEER_PID=$!
  # instr-client retries the connection for up to --wait s (the start
  # wait), and bounds every step; `timeout` bounds the whole run (drive).
  if ! drive "$port" "$2" "$3"; then
    echo "$1-peer, $2, $3 requests: the client failed; valgrind said:" >&2
    tail -5 "$WORK/valgrind.log" >&2
    return 1
  fi
  stop_peer
  IR=$(awk '/^summary:/ { print $2 }' "$out")
  if [ -z "$IR" ]; then echo "no summary in $out" >&2; return 1; fi
}

# ---------------------------------------------------------------- run
echo "# instructions per request (callgrind), $(date -u +%FT%TZ)," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(valgrind --version)"
printf '%-18s %12s %12s %10s\n' scenario "$BASE" "$PEER" "$PEER/$BASE"
for scenario in "${SCENARIOS[@]}"; do
  n1=$N1 n2=$N2
  if [ "$scenario" = pipelined ]; then n1=$N1_PIPELINED n2=$N2_PIPELINED; fi
  case "$scenario" in h2-*) n1=$N1_H2 n2=$N2_H2 ;; esac
  declare -A per_request=()
  for role in base peer; do # by role: BASE and PEER may be one binary with other flags
    if [ $role = base ]; then peer=$BASE; else peer=$PEER; fi
    count "$peer" "$scenario" "$n1" $role; ir1=$IR
    count "$peer" "$scenario" "$n2" $role; ir2=$IR
    echo "$peer ($role) $scenario: Ir($n1) = $ir1, Ir($n2) = $ir2" >&2
    per_request[$role]=$(( (ir2 - ir1) / (n2 - n1) ))
  done
  printf '%-18s %12s %12s %10s\n' "$scenario" "${per_request[base]}" "${per_request[peer]}" \
    "$(awk -v r="${per_request[peer]}" -v h="${per_request[base]}" 'BEGIN { printf "%.3f", r / h }')"
done
