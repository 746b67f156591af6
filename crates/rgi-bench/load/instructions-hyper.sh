#!/usr/bin/env bash
# Instructions per request, rgi-hyper against bare hyper on the same
# hyper-util automatic builder (issue 11), counted by callgrind the way
# load/instructions.sh counts rgi-server against hyper (it does the work).
#
#   crates/rgi-bench/load/instructions-hyper.sh [scenario...]
#
# Scenarios: plaintext echo h2-plaintext h2-echo (the default), or any
# other of instructions.sh's. Environment as for instructions.sh (BASE and
# PEER default to hyper-auto and rgi-hyper here).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -gt 0 ] || set -- plaintext echo h2-plaintext h2-echo
BASE=${BASE:-hyper-auto} PEER=${PEER:-rgi-hyper} exec "$HERE/instructions.sh" "$@"
