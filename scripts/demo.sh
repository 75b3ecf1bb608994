#!/usr/bin/env bash
# The main job on one machine: installs and builds, then runs a local Kafka, the bridge on
# :8080, a demo producer that publishes an agent run for "demo-user" every few seconds, and the
# demo page (clients/demo) on :8000, whose URL it prints. Ctrl-C stops them all.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port="${BRIDGE_DEMO_PORT:-8080}"
kafka_port="${KAFKA_PORT:-9092}"
admin_port="${BRIDGE_DEMO_ADMIN_PORT:-9091}"
page_port="${BRIDGE_DEMO_PAGE_PORT:-8000}"

# Only what the demo needs: scripts/test.sh installs the rest (examples, benchmarks, browsers).
"$root/scripts/install-deps.sh" --demo
"$root/scripts/build.sh" bridge
(cd "$root/clients/js" && npm run --silent build)

# A development secret, kept outside the repository and reused across runs.
secret_file="${BRIDGE_CACHE:-$HOME/.cache/agent-bridge}/demo-jwt-secret"
if [[ ! -s "$secret_file" ]]; then
  mkdir -p "$(dirname "$secret_file")"
  (umask 077; openssl rand -hex 32 > "$secret_file")
fi
export BRIDGE_JWT_SECRET="$(cat "$secret_file")"

"$root/scripts/kafka.sh" start --port "$kafka_port"
"$root/scripts/kafka.sh" create-topic agent-events 6 --port "$kafka_port"

bridge_pid="" producer_pid="" page_pid=""
cleanup() {
  trap - EXIT INT TERM
  for pid in $producer_pid $page_pid $bridge_pid; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  "$root/scripts/kafka.sh" stop --port "$kafka_port" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/build/bridge/bridge" --brokers "127.0.0.1:$kafka_port" --topics agent-events --listen "0.0.0.0:$port" \
  --admin-listen "127.0.0.1:$admin_port" \
  2> >(tee "$root/build/bridge-demo.log" >&2) &
bridge_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "bridge did not become ready" >&2; exit 1; }
echo "bridge ready: metrics at http://127.0.0.1:$admin_port/metrics"

# The demo page and the built client, as static files. The token rides in the URL's fragment,
# which the browser keeps to itself; the page sends it in its first WebSocket message.
"$root/.venv/bin/python" -m http.server --bind 127.0.0.1 --directory "$root/clients" "$page_port" \
  >/dev/null 2>&1 &
page_pid=$!
page_token="$("$root/.venv/bin/python" -c 'import os, time, jwt
print(jwt.encode({"sub": "demo-user", "exp": int(time.time()) + 24 * 3600}, os.environ["BRIDGE_JWT_SECRET"], algorithm="HS256"))')"
echo "page:  http://127.0.0.1:$page_port/demo/?ws=ws://127.0.0.1:$port/ws#token=$page_token"

"$root/.venv/bin/python" "$root/scripts/demo_producer.py" --brokers "127.0.0.1:$kafka_port" \
  --ws "ws://127.0.0.1:$port/ws" "$@" &
producer_pid=$!
wait "$producer_pid"
