#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a short while over a copy of its seed corpus.
#
#   scripts/fuzz-smoke.sh [BUILD_DIR] [SECONDS]      (defaults: build-fuzz, 10)
#
# BUILD_DIR is configured with clang-14 and -DGPUSLICE_FUZZ=ON when it has no CMakeCache.txt.
# Each target runs on a temporary copy of fuzz/corpus/<target>/ so the checked-in corpus stays
# small; a crash, sanitizer report, timeout or out-of-memory fails the script, and the
# reproducer (crash-*, timeout-*, oom-*) is left in the reported directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build-fuzz}"
seconds="${2:-10}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
targets=(mig_parted_config_fuzz placement_spec_fuzz memory_fuzz alibaba_trace_fuzz job_spec_fuzz cluster_spec_fuzz sim_state_fuzz node_state_fuzz job_api_fuzz admin_api_fuzz)

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC="${CC:-clang-14}" CXX="${CXX:-clang++-14}" \
    cmake -S "$root" -B "$build" -G Ninja -DGPUSLICE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" --target "${targets[@]}" -j "${FUZZ_BUILD_JOBS:-2}"

work="$(mktemp -d "${TMPDIR:-/tmp}/gpuslice-fuzz.XXXXXX")"
failed=()
for t in "${targets[@]}"; do
  bin="$(find "$build" -type f -name "$t" -perm -u+x | head -n 1)"
  if [ -z "$bin" ]; then
    echo "fuzz-smoke: $t was not built" >&2
    failed+=("$t")
    continue
  fi
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp "$root/fuzz/corpus/$t/"* "$work/$t/corpus/"
  echo "fuzz-smoke: $t for ${seconds}s"
  # -rss_limit_mb: yaml-cpp has had inputs that allocate without bound; catch them as failures.
  if ! "$bin" "$work/$t/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 >"$work/$t/log" 2>&1; then
    echo "fuzz-smoke: $t FAILED; log and reproducer in $work/$t" >&2
    tail -n 40 "$work/$t/log" >&2
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: failed: ${failed[*]}" >&2
  exit 1
fi
rm -rf "$work"
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
