#!/usr/bin/env bash
# Instructions per message under valgrind's callgrind: the repeatable measure on machines where
# wall-clock figures move by tens of percent between runs (BENCHMARKS.md, "What each
# optimisation bought").
#
#   bench/callgrind.sh                      # 64 B, sockwire and libzmq, every side below
#   SIZE=8 SYSTEMS="sockwire omq" bench/callgrind.sh
#   SIDES="inproc" RT=current bench/callgrind.sh
#
# Sides: `recv` (the PULL process of a tcp run), `send` (the PUSH process), `inproc` (PUSH and
# PULL in one process). Each side runs twice, with N1 and N2 messages, and reports
# (I(N2) - I(N1)) / (N2 - N1), so start-up and connection set-up cancel out. Only the measured
# process runs under valgrind; its peer runs natively. Needs valgrind and a release build of
# sockwire-bench (built here if missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SIZE="${SIZE:-64}"
SYSTEMS="${SYSTEMS:-sockwire libzmq}"
SIDES="${SIDES:-recv send inproc}"
RT="${RT:-multi}"
N1="${N1:-100000}"
N2="${N2:-300000}"
BIN="${BIN:-$ROOT/target/release/sockwire-bench}"
CAP_MS=600000

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -p sockwire-bench >&2)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Total instructions of one measured process (callgrind's "Collected" line).
collected() {
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$1" | tail -n 1
}

# measure SYSTEM SIDE COUNT -> instructions of the measured process
measure() {
  local sys=$1 side=$2 n=$3 log="$WORK/cg.log"
  local vg=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out")
  case "$side" in
    inproc)
      "${vg[@]}" "$BIN" __role thr-inproc "$sys" "inproc://cg" "$SIZE" "$n" 0 "$CAP_MS" "$RT" \
        </dev/null >/dev/null 2>"$log"
      ;;
    recv | send)
      local recv=("$BIN") send=("$BIN")
      if [ "$side" = recv ]; then recv=("${vg[@]}" "$BIN"); else send=("${vg[@]}" "$BIN"); fi
      rm -f "$WORK/stop"
      mkfifo "$WORK/stop"
      coproc RECV { "${recv[@]}" __role thr-recv "$sys" "tcp://127.0.0.1:0" "$SIZE" "$n" 0 "$CAP_MS" "$RT" 2>"$WORK/recv.err"; }
      local rpid=$RECV_PID line
      exec 8<&"${RECV[0]}"
      read -r line <&8
      local ep=${line#READY }
      "${send[@]}" __role thr-send "$sys" "$ep" "$SIZE" "$n" 0 "$CAP_MS" "$RT" \
        <"$WORK/stop" >/dev/null 2>"$WORK/send.err" &
      local sender=$!
      exec 9>"$WORK/stop"
      read -r line <&8 || true
      exec 8<&-
      echo stop >&9
      exec 9>&-
      wait "$sender" || true
      wait "$rpid" 2>/dev/null || true
      if [ "$side" = recv ]; then cp "$WORK/recv.err" "$log"; else cp "$WORK/send.err" "$log"; fi
      ;;
  esac
  collected "$log"
}

printf '%-10s %-7s %10s  (size %s B, %s runtime, N = %s and %s)\n' system side "instr/msg" "$SIZE" "$RT" "$N1" "$N2"
for sys in $SYSTEMS; do
  for side in $SIDES; do
    a=$(measure "$sys" "$side" "$N1")
    b=$(measure "$sys" "$side" "$N2")
    if [ -z "$a" ] || [ -z "$b" ]; then
      printf '%-10s %-7s %10s\n' "$sys" "$side" "failed"
      continue
    fi
    printf '%-10s %-7s %10d\n' "$sys" "$side" $(((b - a) / (N2 - N1)))
  done
done
