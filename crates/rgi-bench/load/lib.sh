# What the load scripts (run.sh, ws.sh) share; sourced, not run. Expects
# HERE (the load/ folder) and, for `results_file`, STAMP and a suffix.

# The results file for a run: results/<name>.txt, or -run2, -run3... when
# one exists (never overwrite a recorded run's raw file), unless RESULTS
# is set. Sets RESULTS and creates its folder.
results_file() { # name
  if [ -z "${RESULTS:-}" ]; then
    RESULTS="$HERE/results/$1.txt"
    local n=2
    while [ -e "$RESULTS" ]; do
      RESULTS="$HERE/results/$1-run$n.txt"
      n=$((n + 1))
    done
  fi
  mkdir -p "$(dirname "$RESULTS")"
}

# The server under test, its scratch files, and their cleanup on exit.
SERVER_PID=
RUN_OUT=$(mktemp)
ROWS=$(mktemp)
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() {
  stop_server
  rm -f "$RUN_OUT" "$ROWS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "$*" | tee -a "$RESULTS" >&2; }
raw() { tee -a "$RESULTS" >/dev/null; }

# Raises the file-descriptor limit to the hard one (in this shell: call it
# directly, not in `$(...)`) and sets FD_ROOM to how many connections fit:
# `wanted`, or fewer when the limit is lower (200 descriptors kept spare).
fd_room() { # wanted
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  local limit
  limit=$(ulimit -n)
  FD_ROOM=$1
  if [ "$limit" != unlimited ] && [ "$limit" -lt $(($1 + 200)) ]; then
    FD_ROOM=$((limit - 200))
    echo "file limit $limit: connections lowered to $FD_ROOM" >&2
  fi
}

# Waits until $SERVER_PID listens on 127.0.0.1:port (5 s at most).
wait_for_port() { # port name
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "$2 did not start on port $1" >&2
  return 1
}

# Latency strings (812.00us, 1.25ms, 2.10s) to microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
    else if (v ~ /s$/) print n * 1000000; else print "nan" }'
}
