#!/usr/bin/env bash
# Configures and builds the bridge and its tests into build/ (or only the targets named:
# scripts/build.sh bridge).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
# Two jobs at most: a websocketpp translation unit needs ~460 MB and the machine has 2 cores.
cmake --build "$root/build" -j "${BUILD_JOBS:-2}" ${1:+--target "$@"}
