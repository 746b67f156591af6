# What the callgrind scripts (instructions.sh, ws-instructions.sh) share;
# sourced, not run: the peer under valgrind and its cleanup, a scratch
# folder (WORK), the binaries, valgrind itself, a free port.

# The peer under callgrind; stopped with SIGTERM, then up to 60 s for
# callgrind to write its file.
PEER_PID=
WORK=$(mktemp -d)
stop_peer() {
  [ -n "$PEER_PID" ] || return 0
  kill "$PEER_PID" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PEER_PID" 2>/dev/null; then
    echo "peer $PEER_PID ignored SIGTERM for 60 s: killed" >&2
    kill -9 "$PEER_PID" 2>/dev/null || true
  fi
  wait "$PEER_PID" 2>/dev/null || true
  PEER_PID=
}
cleanup() { stop_peer; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sets BIN_DIR, unless given (binaries built already: no cargo build), to
# the release target folder, building rgi-bench's binaries `bins` there.
# Run from the workspace root.
build_bins() { # bin...
  [ -z "${BIN_DIR:-}" ] || return 0
  BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
  echo "building release binaries in $BIN_DIR ..." >&2
  local args=() bin
  for bin in "$@"; do args+=(--bin "$bin"); done
  cargo build --quiet --release -p rgi-bench "${args[@]}"
}

# Installs valgrind with apt-get when it is missing.
need_valgrind() {
  if ! command -v valgrind >/dev/null; then
    echo "valgrind missing: installing it with apt-get ..." >&2
    (apt-get update -qq && apt-get install -y -qq valgrind) >/dev/null
  fi
}

# A port nothing listens on (a refused connection says so).
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "no free port found" >&2
  return 1
}
