#!/usr/bin/env bash
# AG-UI token stream (issue 13): one run streaming TEXT_MESSAGE_CONTENT deltas from the Python
# emitter (run.text_message) through Kafka and a bridge worker into Chromium (BridgeAgent, the
# frontend of docs/ag-ui.md), at AG_UI_BENCH_RATE tokens a second (50) for AG_UI_BENCH_SECONDS
# (20). Prints and writes latency producer -> page (p50, p99: the envelope's ts, taken by the
# emitter, to the page's Date.now() on arrival; one clock), the worker's CPU (from
# /proc/<pid>/stat before and after) and RSS, and the load average.
#
#   bench/ag_ui_stream.sh [OUT.json]
#
# Runs tests/browser/test_ag_ui.py::test_ag_ui_token_stream_rate on a scratch Kafka of its own
# (BENCH_KAFKA_PORT, default 26094), or on BRIDGE_TEST_BROKERS when set. BRIDGE_BIN defaults to
# build/bridge/bridge. Needs scripts/install-deps.sh and a built clients/js (npm run build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/bench/results/ag-ui-stream-$(date -u +%Y%m%dT%H%M%SZ).json}"
export BRIDGE_BIN="${BRIDGE_BIN:-$root/build/bridge/bridge}"
export AG_UI_BENCH_SECONDS="${AG_UI_BENCH_SECONDS:-20}" AG_UI_BENCH_RATE="${AG_UI_BENCH_RATE:-50}"
export AG_UI_BENCH_OUT="$out" BROWSER_SCREENSHOTS="${BROWSER_SCREENSHOTS:-$(dirname "$out")}"
mkdir -p "$(dirname "$out")"

if [[ -z "${BRIDGE_TEST_BROKERS:-}" ]]; then
  port="${BENCH_KAFKA_PORT:-26094}"
  dir="$(mktemp -d /tmp/ag-ui-bench-kafka.XXXXXX)"
  "$root/scripts/kafka.sh" start --port "$port" --dir "$dir" >/dev/null
  trap '"$root/scripts/kafka.sh" stop --port "$port" --dir "$dir" >/dev/null; rm -rf "$dir"' EXIT
  export BRIDGE_TEST_BROKERS="127.0.0.1:$port"
fi

"$root/.venv/bin/python" -m pytest -q -s -p no:cacheprovider \
  "$root/tests/browser/test_ag_ui.py::test_ag_ui_token_stream_rate"
echo "results: $out"
