#!/usr/bin/env bash
# Builds every fuzz target and runs each for a few seconds on its corpus with the ZMTP
# dictionary; exits non-zero if any target crashes, leaks, times out or runs out of memory.
#
#   fuzz/smoke.sh            # 10 s per target
#   fuzz/smoke.sh 60         # 60 s per target (the spec's per-PR budget)
#   TARGETS="z85 curve_message" fuzz/smoke.sh 30
#
# Needs cargo-fuzz, and nightly Rust or RUSTC_BOOTSTRAP=1 (see fuzz/README.md). New inputs go to a scratch
# directory, so the checked-in corpus is only read. Crash inputs land in fuzz/artifacts/.
set -euo pipefail

SECS="${1:-10}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

ALL_TARGETS=(zmtp_greeting zmtp_frame_decoder zmtp_command null_handshake plain_handshake
  curve_server_handshake curve_client_handshake curve_message z85 sub_trie endpoint_parse)
read -r -a TARGETS <<< "${TARGETS:-${ALL_TARGETS[*]}}"

# Handshake-sized inputs for the handshake targets, 1 MiB for the decoders (hostile-inputs.md).
max_len() {
  case "$1" in
    zmtp_frame_decoder | zmtp_command) echo 1048576 ;;
    *) echo 4096 ;;
  esac
}

# cargo-fuzz passes unstable rustc flags (-Zsanitizer=address): use nightly when it is
# installed, else the stable toolchain with RUSTC_BOOTSTRAP=1 (machines with only stable Rust,
# as CI's may be).
if rustup run nightly rustc --version > /dev/null 2>&1; then
  TOOLCHAIN=(+nightly)
else
  TOOLCHAIN=()
  export RUSTC_BOOTSTRAP=1
fi
cargo "${TOOLCHAIN[@]}" fuzz build

TRIPLE="$(rustc "${TOOLCHAIN[@]}" -vV | sed -n 's/^host: //p')"
BIN="$HERE/target/$TRIPLE/release"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$HERE/artifacts"

failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t" "$HERE/artifacts/$t"
  log="$SCRATCH/$t.log"
  start=$(date +%s)
  if "$BIN/$t" "$SCRATCH/$t" "$HERE/corpus/$t" \
      -dict="$HERE/zmtp.dict" \
      -max_total_time="$SECS" \
      -max_len="$(max_len "$t")" \
      -rss_limit_mb=512 \
      -timeout=10 \
      -artifact_prefix="$HERE/artifacts/$t/" \
      -print_final_stats=1 > "$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    echo "ok   $t: ${execs:-?} runs in $(( $(date +%s) - start )) s, ${cov:-cov: ?}"
  else
    echo "FAIL $t (log below; crash input in fuzz/artifacts/$t/)"
    grep -E -A25 'panicked|ERROR: libFuzzer|ERROR: AddressSanitizer' "$log" | head -60 || tail -40 "$log"
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke run FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz smoke run passed: ${#TARGETS[@]} targets, ${SECS} s each"
