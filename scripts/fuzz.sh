#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoder, the JSON tape parser and the chunk pipeline
# (the targets in fuzz/fuzz_targets/), each for a bounded time.
#
#   ./scripts/fuzz.sh [SECONDS] [--merge] [--asan] [TARGET...]
#
# SECONDS  time per target (default 60; scripts/test.sh uses the default)
# --merge  afterwards, add the new inputs that widen coverage to fuzz/corpus/<target>/
#          (otherwise the checked-in corpus is only read: new inputs go to a temporary
#          directory that is deleted at the end)
# --asan   also instrument with AddressSanitizer (3-5x fewer executions a second; the
#          fuzzed modules are safe Rust, so CI runs without it)
# TARGET   sse_decoder, chunk_parser, pipeline, http1_response (default: all four)
#
# The targets link libFuzzer through the libfuzzer-sys crate and are instrumented with
# the flags cargo-fuzz uses; those are nightly-only, so the stable toolchain is told to
# accept them with RUSTC_BOOTSTRAP=1 (no cargo-fuzz install, no nightly toolchain).
# A crash (panic or failed check) makes the script exit 1 after the remaining targets
# ran; the input is kept in fuzz/artifacts/<target>/ and its path printed, with the
# command that replays it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is the caller's; cargo runs from fuzz/ below.
case "${CARGO_TARGET_DIR:-}" in
  '') target_dir="$ROOT/fuzz/target" ;;
  /*) target_dir="$CARGO_TARGET_DIR" ;;
  *) target_dir="$PWD/$CARGO_TARGET_DIR" ;;
esac
export CARGO_TARGET_DIR="$target_dir"
cd "$ROOT/fuzz"

seconds=60
merge=0
asan=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --merge) merge=1 ;;
    --asan) asan=1 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(sse_decoder chunk_parser pipeline http1_response)
for t in "${targets[@]}"; do
  [ -f "fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target '$t' in fuzz/fuzz_targets" >&2; exit 2; }
done

triple="$(rustc -vV | sed -n 's/^host: //p')"
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
)
[ "$asan" = 1 ] && flags+=(-Zsanitizer=address)
export RUSTC_BOOTSTRAP=1 RUSTFLAGS="${flags[*]}"
# --target keeps build scripts and proc macros uninstrumented (as cargo-fuzz does).
build_start=$(date +%s)
cargo build --release --quiet --locked --target "$triple" $(printf -- '--bin %s ' "${targets[@]}")
echo "fuzz: built ${targets[*]} in $(( $(date +%s) - build_start )) s$([ "$asan" = 1 ] && echo ' (AddressSanitizer)')"
bin_dir="$target_dir/$triple/release"

work="$(mktemp -d "${TMPDIR:-/tmp}/sserpent-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "artifacts/$t"
  log="$work/$t.log"
  dict=()
  [ -f "$t.dict" ] && dict=(-dict="$t.dict")
  # The first corpus directory receives new inputs; the checked-in one is only read.
  # -timeout (wall clock, per input) flags hangs: inputs take microseconds, the slowest
  # well under a second, but a busy shared machine once stalled one input for 17 s.
  status=0
  start=$(date +%s)
  "$bin_dir/$t" "$work/$t" "corpus/$t" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  stat() { local v; v="$(sed -n "s/^stat::$1: *//p" "$log" | tail -1)"; echo "${v:--}"; }
  inited="$(grep -m1 'INITED' "$log" || true)"
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  field() { local v; v="$(sed -n "s/.* $1: \([^ ]*\).*/\1/p" <<<"$2")"; echo "${v:--}"; }
  printf 'fuzz: %-12s %s execs in %s s (%s/s), cov %s -> %s, features %s -> %s, corpus %s -> %s, new inputs %s, peak RSS %s MB\n' \
    "$t" "$(stat number_of_executed_units)" "$elapsed" "$(stat average_exec_per_sec)" \
    "$(field cov "$inited")" "$(field cov "$last")" "$(field ft "$inited")" "$(field ft "$last")" \
    "$(field corp "$inited")" "$(field corp "$last")" "$(stat new_units_added)" "$(stat peak_rss_mb)"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    echo "fuzz: $t FAILED (exit $status); its output ends with:"
    grep -v -E '^(#[0-9]+|INFO:|MS:|stat::|stack backtrace:|note: Some details|WARNING:|[[:space:]]+NEW_FUNC|[[:space:]]*$| +[0-9]+: | +at )' "$log" | tail -12 | cut -c1-2000 | sed 's/^/    /'
    if [ -n "$artifact" ]; then
      echo "fuzz: crashing input: fuzz/$artifact"
      echo "fuzz: replay with: RUSTC_BOOTSTRAP=1 RUSTFLAGS='$RUSTFLAGS' cargo build --release --target $triple --manifest-path fuzz/Cargo.toml --bin $t && $bin_dir/$t fuzz/$artifact"
    fi
  elif [ "$merge" = 1 ]; then
    before=$(ls "corpus/$t" | wc -l)
    "$bin_dir/$t" -merge=1 "corpus/$t" "$work/$t" >"$work/$t.merge.log" 2>&1
    echo "fuzz: $t merged $(( $(ls "corpus/$t" | wc -l) - before )) new inputs into fuzz/corpus/$t"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes in ${targets[*]} (${seconds} s each)"
