#!/usr/bin/env bash
# Installs the system libraries the C benchmarks compare against.
# Safe to run repeatedly; a failure only means those allocators are skipped.
set -u
need=()
have_hdr() { [ -e "/usr/include/$1" ] || [ -e "/usr/include/x86_64-linux-gnu/$1" ] || [ -e "/usr/include/aarch64-linux-gnu/$1" ]; }
have_hdr jemalloc/jemalloc.h || need+=(libjemalloc-dev)
have_hdr mimalloc.h || ls /usr/include/mimalloc*/mimalloc.h >/dev/null 2>&1 || need+=(libmimalloc-dev)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [ ${#need[@]} -eq 0 ]; then
  echo "bench/setup.sh: jemalloc, mimalloc and valgrind already present"
  exit 0
fi
echo "bench/setup.sh: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi
if ! ($SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"); then
  echo "bench/setup.sh: could not install ${need[*]}; the benchmarks that need them will be skipped" >&2
fi
exit 0
