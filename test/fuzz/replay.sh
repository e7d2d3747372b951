#!/usr/bin/env bash
# Replays the fuzz regression corpus without clang: builds every harness
# test/fuzz/fuzz_<name>.c with test/fuzz/replay_main.c and native/alloc/*.c
# using gcc + ASan + UBSan (the flags of test/native/run.sh) and runs it over
# test/fuzz/corpus/<name>/ (pending/ is not replayed). One case per harness;
# when a harness fails, each input is run alone to name the ones that fail.
# Prints last `fuzz-replay: N passed, M failed`. Run by `npm test`.
# Usage: bash test/fuzz/replay.sh [harness ...]
set -euo pipefail

cd "$(dirname "$0")/../.."

CC="${CC:-gcc}"
CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
        -Inative/alloc -Itest/fuzz)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
TIMEOUT="${FUZZ_REPLAY_TIMEOUT:-600}"

if [ "$#" -gt 0 ]; then
    harnesses=("$@")
else
    harnesses=()
    for f in test/fuzz/fuzz_*.c; do
        n="$(basename "${f%.c}")"
        harnesses+=("${n#fuzz_}")
    done
fi

mkdir -p test/fuzz/bin
passed=0
failed=0
for h in "${harnesses[@]}"; do
    bin="test/fuzz/bin/replay_$h"
    corpus="test/fuzz/corpus/$h"
    if ! "$CC" "${CFLAGS[@]}" native/alloc/*.c test/fuzz/replay_main.c "test/fuzz/fuzz_$h.c" -o "$bin"; then
        echo "not ok - fuzz replay $h: build failed"
        failed=$((failed + 1))
        continue
    fi
    n=$(find "$corpus" -maxdepth 1 -type f 2> /dev/null | wc -l)
    if [ "$n" -eq 0 ]; then
        echo "not ok - fuzz replay $h: no inputs in $corpus"
        failed=$((failed + 1))
        continue
    fi
    rc=0
    timeout "$TIMEOUT" "$bin" "$corpus" > /dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok - fuzz replay $h: $n inputs"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz replay $h: exit status $rc"
        while IFS= read -r f; do
            timeout "$TIMEOUT" "$bin" "$f" > /dev/null 2>&1 || echo "# fails: $f"
        done < <(find "$corpus" -maxdepth 1 -type f | sort)
        failed=$((failed + 1))
    fi
done

echo "fuzz-replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
