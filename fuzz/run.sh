#!/usr/bin/env bash
# Runs one libFuzzer harness, or the unit tests, under ASan+UBSan. Configures and builds the
# sanitizer tree (build-fuzz/, clang++-14) when needed. Exits non-zero on any finding.
#   fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]   fuzz TARGET for SECONDS (default 30)
#   fuzz/run.sh TARGET FILE...                           run the harness on saved inputs only
#   fuzz/run.sh unit [doctest flags...]                  the unit tests (tests/unit)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
targets=(envelope jwt_hs256 jwt_rs256 client_message request_params cursor)

usage() {
  echo "usage: fuzz/run.sh {$(IFS='|'; echo "${targets[*]}")} [SECONDS|FILE...] [libFuzzer flags...]" >&2
  echo "       fuzz/run.sh unit [doctest flags...]" >&2
  exit 2
}
what="${1:-}"
[[ $what == unit || " ${targets[*]} " == *" $what "* ]] || usage
shift

# Configure once (ninja re-runs CMake when a CMakeLists.txt changes), then build one target.
# Two jobs at most: the machine has 2 cores.
build_target() {
  local start=$SECONDS
  if [[ ! -f "$build/build.ninja" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
          -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++-14}" -DBRIDGE_SANITIZE=ON >/dev/null
  fi
  if ! cmake --build "$build" -j "${BUILD_JOBS:-2}" --target "$1" >"$build/build.log" 2>&1; then
    cat "$build/build.log"
    exit 1
  fi
  echo "build of $1: $((SECONDS - start)) s"
}

# Sanitizers stop at the first finding and print where.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [[ $what == unit ]]; then
  build_target unit_tests
  exec "$build/tests/unit_tests" --reporters=console --no-intro=true "$@"
fi

build_target "fuzz_$what"
fuzzer="$build/fuzz/fuzz_$what"

# Saved inputs (a crash note's reproducer): run each once.
if [[ $# -gt 0 && -f $1 ]]; then
  exec "$fuzzer" "$@"
fi

seconds="${1:-30}"
[[ $# -gt 0 ]] && shift
[[ $seconds =~ ^[0-9]+$ ]] || usage

# New corpus entries go to the build tree, never into the repository; the seeds are read only.
corpus="$build/fuzz-corpus/$what"
artifacts="$build/fuzz-artifacts/$what"
log="$build/fuzz-logs/$what.log"
mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
seeds=("$root/fuzz/corpus/$what")
# Inputs that once found a bug (fuzz/crashes/README.md) run first, every time.
[[ -d "$root/fuzz/crashes/$what" ]] && seeds+=("$root/fuzz/crashes/$what")
if [[ $what == envelope ]]; then
  conformance="$build/fuzz-seeds/envelope-conformance"
  rm -rf "$conformance" && mkdir -p "$conformance"
  python3 "$root/fuzz/conformance_seeds.py" "$root/schemas/conformance" "$conformance"
  seeds+=("$conformance")
fi
dict=()
[[ -f "$root/fuzz/dict/$what.dict" ]] && dict=(-dict="$root/fuzz/dict/$what.dict")

status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$artifacts/" "${dict[@]}" "$@" "$corpus" "${seeds[@]}" >"$log" 2>&1 || status=$?

# libFuzzer's last stats line, then the totals.
grep -E '^#[0-9]+\s+DONE' "$log" || true
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
if [[ $status -ne 0 ]]; then
  tail -n 60 "$log"
  echo "fuzz_$what: FAILED (exit $status) after ${runs:-?} execs; input saved in $artifacts/, log in $log"
  echo "reproduce: fuzz/run.sh $what $artifacts/<file>"
  exit 1
fi
echo "fuzz_$what: ${runs:-?} execs in $seconds s, ${rate:-?} exec/s, no finding (log: $log)"
