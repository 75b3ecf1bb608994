#!/usr/bin/env bash
# Benchmark scenarios (issue 6): our bridge and the Node.js baseline, in turn, under the same
# load, on a scratch Kafka of their own. One command per scenario:
#
#   bench/run.sh throughput|latency|idle|fanout|all|smoke
#
# Results go to bench/results/<UTC timestamp>/ (smoke: <timestamp>-smoke/): results.json,
# results.md, latency.svg, and raw/ with every load generator output and bridge log.
# smoke is a tiny run of every scenario (under a minute) that exits 1 if any event is lost.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
kafka_port="${BENCH_KAFKA_PORT:-49092}"
http_base="${BENCH_HTTP_PORT:-48000}"
secret="bench-jwt-secret-not-for-production-0123456789"
bridge_bin="$root/build/bridge/bridge"
loadgen_bin="$root/build/bench/bench_loadgen"
node_dir="$bench/baselines/node-bridge"
python="$root/.venv/bin/python"

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<EOF
Environment: BENCH_KAFKA_PORT ($kafka_port), BENCH_HTTP_PORT (first bridge port, $http_base),
             BENCH_RESULTS (parent of the results folders, default bench/results),
             BENCH_DURATION_S (seconds per measured run; default 20, smoke 3).
EOF
}

scenario="${1:-}"
case "$scenario" in
  throughput|latency|idle|fanout|all|smoke) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
smoke=0; [[ "$scenario" == smoke ]] && smoke=1
duration="${BENCH_DURATION_S:-$((smoke ? 3 : 20))}"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- set-up

prepare() {
  # A fresh machine: install everything once (idempotent), then build what is missing.
  if [[ ! -x "$python" || ! -d "$node_dir/node_modules" ]] || ! command -v node >/dev/null; then
    "$root/scripts/install-deps.sh"
  fi
  [[ -f "$root/build/build.ninja" ]] || cmake -S "$root" -B "$root/build" -G Ninja >/dev/null
  ninja -C "$root/build" -j "${BUILD_JOBS:-2}" bridge bench_loadgen >/dev/null
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${BENCH_RESULTS:-$bench/results}/$stamp$([[ $smoke == 1 ]] && echo -smoke || true)"
raw="$out/raw"

started_pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${started_pids[@]}"; do stop_pid "$pid"; done
  "$root/scripts/kafka.sh" stop --port "$kafka_port" >/dev/null 2>&1 || true
  exit "$rc"
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

wait_ready() {
  local port="$1" pid="$2" i
  for ((i = 0; i < 600; i++)); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The descriptors one process may hold here (the hard limit; our sockets take one each).
fd_limit() { ulimit -Hn; }

# start_bridge ours|node PORT NAME: starts one worker, waits for /readyz; its pid in $bridge_pid.
bridge_pid=""
start_bridge() {
  local kind="$1" port="$2" name="$3"
  local max_sockets=$(( $(fd_limit) - 100 ))
  if [[ "$kind" == ours ]]; then
    BRIDGE_JWT_SECRET="$secret" "$bridge_bin" --brokers "127.0.0.1:$kafka_port" --topics "$topic" \
      --listen "127.0.0.1:$port" --max-sockets "$max_sockets" --max-sockets-per-user 1000 \
      --send-buffer-bytes 4194304 --log-level warn >"$raw/$name.log" 2>&1 &
  else
    PORT="$port" HOST=127.0.0.1 KAFKA_BROKERS="127.0.0.1:$kafka_port" KAFKA_TOPIC="$topic" \
      KAFKA_GROUP_ID="bench-$name-$stamp" JWT_SECRET="$secret" \
      node "$node_dir/server.js" >"$raw/$name.log" 2>&1 &
  fi
  bridge_pid=$!
  started_pids+=("$bridge_pid")
  wait_ready "$port" "$bridge_pid" || { tail -n 20 "$raw/$name.log" >&2; die "$name did not become ready on :$port"; }
}

# load NAME PIDS URLS ARGS...: runs the load generator; output in raw/NAME.json.
load() {
  local name="$1" pids="$2" urls="$3"; shift 3
  local args=() p u
  for p in $pids; do args+=(--pid "$p"); done
  for u in $urls; do args+=(--url "ws://127.0.0.1:$u/ws"); done
  log "run $name: $*"
  "$loadgen_bin" "${args[@]}" --brokers "127.0.0.1:$kafka_port" --topic "$topic" \
    --jwt-secret "$secret" --label "$name" --duration-s "$duration" "$@" \
    >"$raw/$name.json" 2>"$raw/$name.progress" || { tail -n 20 "$raw/$name.progress" >&2; die "load generator failed ($name)"; }
  "$python" "$bench/report.py" summary "$raw/$name.json" >&2
}

# side_by_side NAME WORKERS ARGS...: the same load against ours, then the baseline, with
# WORKERS processes of each (sockets spread over them), one bridge kind running at a time.
side_by_side() {
  local name="$1" workers="$2"; shift 2
  local kind i pids urls
  for kind in ours node; do
    pids="" urls=""
    for ((i = 0; i < workers; i++)); do
      start_bridge "$kind" "$((http_base + i))" "$name--$kind-w$i"
      pids+=" $bridge_pid"; urls+=" $((http_base + i))"
    done
    load "$name--$kind" "$pids" "$urls" "$@"
    for ((i = 0; i < workers; i++)); do
      [[ "$kind" == ours ]] && curl -fs "http://127.0.0.1:$((http_base + i))/metrics" >"$raw/$name--$kind-w$i.metrics" || true
    done
    for i in $pids; do stop_pid "$i"; done
  done
}

# ---------------------------------------------------------------- scenarios

scenario_throughput() {
  log "throughput: max rate (closed loop), 1000 sockets over 100 users"
  if ((smoke)); then
    side_by_side throughput 1 --users 10 --sockets 100 --rate 0 --warmup-s 1
  else
    side_by_side throughput 1 --users 100 --sockets 1000 --rate 0 --warmup-s 3
  fi
}

scenario_latency() {
  local rates sockets rate
  if ((smoke)); then rates="500 2000"; sockets=200; else rates="1000 5000 10000 20000 40000"; sockets=10000; fi
  log "latency: fixed rates $rates with $sockets sockets (one per user)"
  for rate in $rates; do
    side_by_side "latency-$rate" 1 --users "$sockets" --sockets "$sockets" --rate "$rate" \
      --warmup-s "$((smoke ? 1 : 3))"
  done
}

scenario_idle() {
  local sockets=$((smoke ? 500 : 50000)) per workers
  per=$(( $(fd_limit) - 500 ))
  workers=$(( (sockets + per - 1) / per ))
  log "idle: $sockets sockets held by $workers worker(s) of each (at most $(fd_limit) descriptors per process here)"
  side_by_side idle "$workers" --users "$sockets" --sockets "$sockets" --idle --settle-s "$((smoke ? 1 : 5))" \
    --source-addrs 8
}

scenario_fanout() {
  local sockets=$((smoke ? 150 : 1000)) users=$((smoke ? 15 : 100))
  log "fanout: one worker vs three on the same topic, $sockets sockets over $users users, max rate"
  side_by_side fanout-1w 1 --users "$users" --sockets "$sockets" --rate 0 --warmup-s "$((smoke ? 1 : 3))"
  side_by_side fanout-3w 3 --users "$users" --sockets "$sockets" --rate 0 --warmup-s "$((smoke ? 1 : 3))"
}

# ---------------------------------------------------------------- main

t_start=$SECONDS
prepare
ulimit -Sn "$(fd_limit)"
mkdir -p "$raw"
trap cleanup EXIT
trap 'exit 130' INT TERM
"$python" "$bench/report.py" machine >"$raw/machine.json"
"$root/scripts/kafka.sh" stop --port "$kafka_port" >/dev/null 2>&1 || true
"$root/scripts/kafka.sh" start --port "$kafka_port" >&2
topic="bench-events"
"$root/scripts/kafka.sh" create-topic "$topic" 12 --port "$kafka_port" >&2

case "$scenario" in
  all|smoke) scenario_throughput; scenario_latency; scenario_idle; scenario_fanout ;;
  *) "scenario_$scenario" ;;
esac

echo "{\"scenario\": \"$scenario\", \"wall_s\": $((SECONDS - t_start)), \"duration_s\": $duration}" >"$raw/run.json"
"$python" "$bench/report.py" report "$out"
log "done in $((SECONDS - t_start)) s: $out/results.md"
if ((smoke)); then
  "$python" "$bench/report.py" check "$out" || die "smoke: events lost or sockets failed (see $out/results.md)"
fi
