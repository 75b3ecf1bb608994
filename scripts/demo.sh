#!/usr/bin/env bash
# The main job on one machine: installs and builds, then runs a local Kafka, the bridge on
# :8080, a demo producer that publishes an agent run for "demo-user" every few seconds, and the
# demo page (clients/demo) on :8000, whose URL it prints. Ctrl-C stops them all.
#
#   scripts/demo.sh [--every S] [--runs N]   the demo; S seconds between runs (3), stop after N runs
#   scripts/demo.sh pause | resume           from another terminal: hold the demo producer, let it go on
#   scripts/demo.sh stop-bridge | start-bridge | restart-bridge
#                                            the demo's bridge by hand, to try a failure (the page
#                                            reconnects and resumes); Ctrl-C on the demo stops it too
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="${BRIDGE_DEMO_STATE:-$root/build/demo}"   # pids, ports and the pause flag of the running demo
secret_file="${BRIDGE_CACHE:-$HOME/.cache/agent-bridge}/demo-jwt-secret"

# Starts the bridge in the background; its log goes to $state/bridge.log, which the demo shows.
start_bridge() {
  BRIDGE_JWT_SECRET="$(cat "$secret_file")" nohup "$root/build/bridge/bridge" \
    --brokers "127.0.0.1:$kafka_port" --topics agent-events --listen "0.0.0.0:$port" \
    --admin-listen "127.0.0.1:$admin_port" --allowed-origins "http://127.0.0.1:$page_port,http://localhost:$page_port" \
    >>"$state/bridge.log" 2>&1 </dev/null &
  echo $! >"$state/bridge.pid"
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$state/bridge.pid")" 2>/dev/null || break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "bridge did not become ready (log: $state/bridge.log)" >&2; return 1; }
}

# SIGTERM (the bridge drains: its sockets get 1001), then SIGKILL after 10 s.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_bridge() {
  [[ -s "$state/bridge.pid" ]] && stop_pid "$(cat "$state/bridge.pid")"
  rm -f "$state/bridge.pid"
}

case "${1:-}" in
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  pause | resume | stop-bridge | start-bridge | restart-bridge)
    [[ -f "$state/ports" ]] || { echo "no demo running here (no $state/ports): start scripts/demo.sh first" >&2; exit 1; }
    # shellcheck source=/dev/null
    source "$state/ports"
    case "$1" in
      pause) touch "$state/paused"; echo "demo producer paused: scripts/demo.sh resume lets it go on" ;;
      resume) rm -f "$state/paused"; echo "demo producer resumed" ;;
      stop-bridge) stop_bridge; echo "bridge stopped: the page reconnects with backoff; scripts/demo.sh start-bridge" ;;
      start-bridge) start_bridge; echo "bridge ready on :$port (pid $(cat "$state/bridge.pid"))" ;;
      restart-bridge) stop_bridge; start_bridge; echo "bridge restarted on :$port (pid $(cat "$state/bridge.pid"))" ;;
    esac
    exit 0
    ;;
esac

port="${BRIDGE_DEMO_PORT:-8080}"
kafka_port="${KAFKA_PORT:-9092}"
admin_port="${BRIDGE_DEMO_ADMIN_PORT:-9091}"
page_port="${BRIDGE_DEMO_PAGE_PORT:-8000}"

# Only what the demo needs: scripts/test.sh installs the rest (examples, benchmarks, browsers).
"$root/scripts/install-deps.sh" --demo
"$root/scripts/build.sh" bridge
(cd "$root/clients/js" && npm run --silent build)

# A development secret, kept outside the repository and reused across runs.
if [[ ! -s "$secret_file" ]]; then
  mkdir -p "$(dirname "$secret_file")"
  (umask 077; openssl rand -hex 32 > "$secret_file")
fi
export BRIDGE_JWT_SECRET="$(cat "$secret_file")"

if [[ -s "$state/bridge.pid" ]] && kill -0 "$(cat "$state/bridge.pid")" 2>/dev/null; then
  echo "a demo is already running from this checkout (bridge pid $(cat "$state/bridge.pid")): stop it first" >&2
  exit 1
fi
mkdir -p "$state"
rm -f "$state/paused" "$state/bridge.pid"
: >"$state/bridge.log"
printf 'port=%s\nkafka_port=%s\nadmin_port=%s\npage_port=%s\n' "$port" "$kafka_port" "$admin_port" "$page_port" >"$state/ports"

"$root/scripts/kafka.sh" start --port "$kafka_port"
"$root/scripts/kafka.sh" create-topic agent-events 6 --port "$kafka_port"
# Until every partition's leader answers for its offsets: a bridge started before that logs
# "Not leader for partition" warnings (harmless, retried) that read as errors on a first start.
"$root/.venv/bin/python" - "$kafka_port" <<'PY'
import sys, time
from confluent_kafka import Consumer, KafkaException, TopicPartition
consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "group.id": "demo-wait", "log_level": 0})
deadline = time.monotonic() + 30
for partition in range(6):
    while True:
        try:
            consumer.get_watermark_offsets(TopicPartition("agent-events", partition), timeout=2)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
consumer.close()
PY

log_pid="" producer_pid="" page_pid="" idle_pid=""
cleanup() {
  trap - EXIT INT TERM
  for pid in $producer_pid $page_pid $idle_pid; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  stop_bridge   # whoever started it: this run or a start-bridge from another terminal
  "$root/scripts/kafka.sh" stop --port "$kafka_port" || true
  if [[ -n "$log_pid" ]]; then kill "$log_pid" 2>/dev/null; wait "$log_pid" 2>/dev/null || true; fi
  rm -f "$state/ports" "$state/paused"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The bridge's log, whichever bridge writes it (this one, or one restarted by hand).
tail -n +1 -F "$state/bridge.log" >&2 2>/dev/null &
log_pid=$!
start_bridge
echo "bridge ready: metrics at http://127.0.0.1:$admin_port/metrics"

# The demo page and the built client, as static files. The token rides in the URL's fragment,
# which the browser keeps to itself; the page sends it in its first WebSocket message.
"$root/.venv/bin/python" -m http.server --bind 127.0.0.1 --directory "$root/clients" "$page_port" \
  >/dev/null 2>&1 &
page_pid=$!
page_token="$("$root/.venv/bin/python" -c 'import os, time, jwt
print(jwt.encode({"sub": "demo-user", "exp": int(time.time()) + 24 * 3600}, os.environ["BRIDGE_JWT_SECRET"], algorithm="HS256"))')"
cat <<EOF
page:  http://127.0.0.1:$page_port/demo/?ws=ws://127.0.0.1:$port/ws#token=$page_token
       (open it in a browser; the token stays in the fragment, which browsers never send)
from another terminal:
       scripts/demo.sh pause | resume      hold the demo producer (to watch your own runs alone) / go on
       scripts/demo.sh restart-bridge      stop the bridge (it drains) and start it again: the page resumes
       scripts/demo.sh stop-bridge | start-bridge   the same in two steps
slower or fewer runs: scripts/demo.sh --every 10 --runs 5;  Ctrl-C stops everything
EOF

"$root/.venv/bin/python" "$root/scripts/demo_producer.py" --brokers "127.0.0.1:$kafka_port" \
  --pause-file "$state/paused" "$@" &
producer_pid=$!
wait "$producer_pid" || true
producer_pid=""
echo "the demo producer is done; the bridge and the page stay up: Ctrl-C stops them"
while :; do sleep 3600 & idle_pid=$!; wait "$idle_pid" || true; done
