#!/usr/bin/env bash
# Native tests: builds every test/native/test_*.c against every native/alloc/*.c
# (and every test/native/test_*.cc, C++17, against the binding's plain C++
# parts it tests: CXX_SRCS) with ASan + UBSan, runs each binary and totals the "ok - " / "not ok - " lines.
# A binary that exits nonzero without reporting a failed case, or that does not
# print its final "# <suite>: done" line (crash, timeout), counts as one more failure.
# Usage: bash test/native/run.sh [test-name-substring ...]
set -euo pipefail

cd "$(dirname "$0")/../.."

CC="${CC:-gcc}"
CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
        -Inative/alloc)
CXX="${CXX:-g++}"
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -g -O1
          -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
          -Inative/binding -pthread)
# the binding's parts that make no N-API call, tested on their own
CXX_SRCS=(native/binding/held_memory.cc)
TIMEOUT="${NATIVE_TEST_TIMEOUT:-600}"

shopt -s nullglob
srcs=(native/alloc/*.c)
tests=(test/native/test_*.c test/native/test_*.cc)
shopt -u nullglob

if [ "${#tests[@]}" -eq 0 ]; then
    echo "no tests found in test/native" >&2
    echo "native: 0 passed, 1 failed"
    exit 1
fi

mkdir -p test/native/bin
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0
failed=0
for t in "${tests[@]}"; do
    name="$(basename "${t%.*}")"
    if [ "$#" -gt 0 ]; then
        want=0
        for f in "$@"; do
            case "$name" in *"$f"*) want=1 ;; esac
        done
        [ "$want" -eq 1 ] || continue
    fi
    bin="test/native/bin/$name"
    echo "# build $name"
    if [[ "$t" == *.cc ]]; then
        build=("$CXX" "${CXXFLAGS[@]}" "${CXX_SRCS[@]}" "$t" -o "$bin")
    else
        build=("$CC" "${CFLAGS[@]}" "${srcs[@]}" "$t" -o "$bin")
    fi
    if ! "${build[@]}"; then
        echo "not ok - $name: build failed"
        failed=$((failed + 1))
        continue
    fi
    echo "# run $name"
    out="$(mktemp)"
    start=${EPOCHREALTIME/[.,]/}
    rc=0
    timeout "$TIMEOUT" "$bin" > "$out" || rc=$?
    end=${EPOCHREALTIME/[.,]/}
    cat "$out"
    p=$(grep -c '^ok - ' "$out" || true)
    f=$(grep -c '^not ok - ' "$out" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if ! grep -q '^# .*: done$' "$out"; then
        echo "not ok - $name: binary did not finish (exit status $rc)"
        failed=$((failed + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name: exit status $rc with no failed case (sanitizer report or leak?)"
        failed=$((failed + 1))
    fi
    rm -f "$out"
    ms=$(( (end - start) / 1000 ))
    printf '# %s: %d.%03ds\n' "$name" $((ms / 1000)) $((ms % 1000))
done

echo "native: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
