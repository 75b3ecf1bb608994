#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, starts a local Kafka, runs ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure "$@"
