#!/usr/bin/env bash
# Fuzzing: builds each harness (test/fuzz/fuzz_<name>.c + native/alloc/*.c) with
# clang + libFuzzer + ASan + UBSan and runs it for a fixed time over a scratch
# copy of its corpus (test/fuzz/corpus/<name>/, which is never written to).
# Any crash, sanitizer report, leak, timeout or out-of-memory fails the run and
# its input is kept: the path is printed (under $FUZZ_OUT, default
# test/fuzz/out/<name>/). Prints execs/s and coverage per harness, and last
# `fuzz: N passed, M failed`.
#
# Usage: bash test/fuzz/run.sh [seconds] [harness ...]
#   seconds   per harness, default 60
#   harness   tlsf heap_pool region_pool shm_pool (default: all)
#   FUZZ_JOBS=N      run N harnesses at a time (default 1)
#   FUZZ_ARGS="..."  extra libFuzzer flags (e.g. -max_len=8192)
# Without a clang that can link libFuzzer it prints why and exits 0 (skipped).
set -euo pipefail

cd "$(dirname "$0")/../.."

seconds=60
if [ "$#" -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    seconds="$1"
    shift
fi
all=(tlsf heap_pool region_pool shm_pool)
if [ "$#" -gt 0 ]; then harnesses=("$@"); else harnesses=("${all[@]}"); fi
jobs="${FUZZ_JOBS:-1}"
CC="${FUZZ_CC:-clang}"
out_root="${FUZZ_OUT:-test/fuzz/out}"
bin_dir="test/fuzz/bin"
CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Inative/alloc -Itest/fuzz)

for h in "${harnesses[@]}"; do
    if [ ! -f "test/fuzz/fuzz_$h.c" ]; then
        echo "fuzz: no harness test/fuzz/fuzz_$h.c (have: ${all[*]})" >&2
        exit 2
    fi
done

# Can this compiler build and link a fuzzer at all?
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    > "$probe_dir/probe.c"
if ! command -v "$CC" > /dev/null 2>&1 ||
    ! "$CC" -fsanitize=fuzzer,address,undefined "$probe_dir/probe.c" -o "$probe_dir/probe" > "$probe_dir/log" 2>&1; then
    echo "fuzz: skipped: $CC cannot build a libFuzzer binary (install clang; Debian ships libFuzzer with it)"
    [ -f "$probe_dir/log" ] && head -5 "$probe_dir/log"
    echo "fuzz: 0 passed, 0 failed"
    exit 0
fi

mkdir -p "$bin_dir"
passed=0
failed=0
for h in "${harnesses[@]}"; do
    echo "# build fuzz_$h"
    if ! "$CC" "${CFLAGS[@]}" native/alloc/*.c "test/fuzz/fuzz_$h.c" -o "$bin_dir/fuzz_$h"; then
        echo "not ok - fuzz_$h: build failed"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ] || {
    echo "fuzz: $passed passed, $failed failed"
    exit 1
}

# One harness: scratch corpus, libFuzzer for $seconds, findings kept in $out.
fuzz_one() {
    local h="$1"
    local out="$out_root/$h"
    rm -rf "$out"
    mkdir -p "$out/corpus" "$out/findings"
    if [ -d "test/fuzz/corpus/$h" ]; then cp -R "test/fuzz/corpus/$h/." "$out/corpus/"; fi
    local rc=0
    # shellcheck disable=SC2086
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
        "$bin_dir/fuzz_$h" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$out/findings/" ${FUZZ_ARGS:-} "$out/corpus" \
        > "$out/log" 2>&1 || rc=$?
    echo "$rc" > "$out/rc"
}

running=0
for h in "${harnesses[@]}"; do
    echo "# fuzz_$h: ${seconds}s"
    fuzz_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

for h in "${harnesses[@]}"; do
    out="$out_root/$h"
    rc="$(cat "$out/rc" 2>/dev/null || echo 1)"
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/log" | tail -1 || true)"
    execs="$(grep -E '^stat::number_of_executed_units' "$out/log" | awk '{print $2}' || true)"
    rate="$(grep -E '^stat::average_exec_per_sec' "$out/log" | awk '{print $2}' || true)"
    cov="$(sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 edges, \2 features/p' <<< "$done_line")"
    mapfile -t findings < <(find "$out/findings" -type f 2>/dev/null | sort)
    if [ "$rc" -eq 0 ] && [ "${#findings[@]}" -eq 0 ]; then
        echo "ok - fuzz_$h: ${seconds}s, ${execs:-?} execs (${rate:-?}/s), coverage ${cov:-?}"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz_$h: exit status $rc after ${execs:-?} execs"
        grep -E 'ERROR: |runtime error|^fuzz: |SUMMARY' "$out/log" | head -10 || true
        for f in "${findings[@]}"; do echo "# crash input: $f"; done
        echo "# full log: $out/log"
        failed=$((failed + 1))
    fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
