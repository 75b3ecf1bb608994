#!/usr/bin/env bash
# Benchmark scenarios (issue 6): our bridge and the Node.js baseline, in turn, under the same
# load, on a scratch Kafka of their own. One command per scenario:
#
#   bench/run.sh throughput|latency|idle|idle-tls|fanout|fanout-rate|all|smoke|profile
#
# Results go to bench/results/<UTC timestamp>/ (smoke: <timestamp>-smoke/): results.json,
# results.md, latency.svg, and raw/ with every load generator output and bridge log.
# smoke is a tiny run of every scenario (under two minutes) that exits 1 if any event is lost.
# fanout-rate: fixed-rate fan-out, our bridge with 1 then 2 io threads, then Kafka alone.
# profile runs our bridge under valgrind's callgrind during the throughput load.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
kafka_port="${BENCH_KAFKA_PORT:-26092}"  # below the ephemeral range (32768+)
http_base="${BENCH_HTTP_PORT:-26200}"
secret="bench-jwt-secret-not-for-production-0123456789"
bridge_bin="${BENCH_BRIDGE_BIN:-$root/build/bridge/bridge}"
loadgen_bin="$root/build/bench/bench_loadgen"
node_dir="$bench/baselines/node-bridge"
python="$root/.venv/bin/python"

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<EOF
Environment: BENCH_KAFKA_PORT ($kafka_port), BENCH_HTTP_PORT (first bridge port, $http_base),
             BENCH_RESULTS (parent of the results folders, default bench/results),
             BENCH_DURATION_S (seconds per measured run; default 20, smoke 2),
             BENCH_FANOUT_NODE=1 (fanout-rate: the Node.js baseline too, after ours),
             BENCH_FANOUT_LOADS (fanout-rate: other loads, e.g. "1000x10@5000 10000x1@20000"),
             BENCH_BRIDGE_BIN (our bridge's executable, default build/bridge/bridge: another build to compare).
EOF
}

scenario="${1:-}"
case "$scenario" in
  throughput|latency|idle|idle-tls|fanout|fanout-rate|all|smoke|profile) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
smoke=0; [[ "$scenario" == smoke ]] && smoke=1
duration="${BENCH_DURATION_S:-$((smoke ? 2 : 20))}"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- set-up

prepare() {
  # A fresh machine: install everything once (idempotent), then build what is missing.
  if [[ ! -x "$python" || ! -d "$node_dir/node_modules" ]] || ! command -v node >/dev/null; then
    "$root/scripts/install-deps.sh"
  fi
  [[ -f "$root/build/build.ninja" ]] || cmake -S "$root" -B "$root/build" -G Ninja >/dev/null
  # With BENCH_BRIDGE_BIN, the checkout's bridge is neither built nor used.
  ninja -C "$root/build" -j "${BUILD_JOBS:-2}" $([[ -n "${BENCH_BRIDGE_BIN:-}" ]] || echo bridge) bench_loadgen >/dev/null
  [[ -x "$bridge_bin" ]] || die "no bridge executable at $bridge_bin"
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${BENCH_RESULTS:-$bench/results}/$stamp$([[ $smoke == 1 ]] && echo -smoke || true)"
raw="$out/raw"

started_pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_workers "${started_pids[@]}"
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

# stop_workers PID...: SIGTERM to all at once, then waits for each.
stop_workers() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do stop_pid "$pid"; done
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

# launch ours|node PORT NAME: starts one worker in the background; its pid in $bridge_pid.
# Our bridge also gets the arguments in $ours_extra (e.g. --io-threads 1). Every socket comes
# from one address: BRIDGE_ADDRESS_CONNECTION_BURST lifts the per-address connection rate (in
# the environment, which a build from before it ignores).
bridge_pid=""
ours_extra=()
launch() {
  local kind="$1" port="$2" name="$3"
  if [[ "$kind" == ours ]]; then
    BRIDGE_JWT_SECRET="$secret" BRIDGE_ADDRESS_CONNECTION_BURST=10000000 "$bridge_bin" --brokers "127.0.0.1:$kafka_port" --topics "$topic" \
      --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1000))" \
      --max-sockets "$(( $(fd_limit) - 100 ))" --max-sockets-per-user 1000 --max-connections-per-address 10000000 \
      --send-buffer-bytes 4194304 --log-level warn ${ours_extra[@]+"${ours_extra[@]}"} >"$raw/$name.log" 2>&1 9>&- &
  else
    PORT="$port" HOST=127.0.0.1 KAFKA_BROKERS="127.0.0.1:$kafka_port" KAFKA_TOPIC="$topic" \
      KAFKA_GROUP_ID="bench-$name-$stamp" JWT_SECRET="$secret" \
      node "$node_dir/server.js" >"$raw/$name.log" 2>&1 9>&- &
  fi
  bridge_pid=$!
  started_pids+=("$bridge_pid")
}

# start_workers KIND COUNT NAME FIRST_PORT [KIND COUNT NAME FIRST_PORT ...]: starts every
# worker at once on consecutive ports, then waits until each is ready; pids in $worker_pids,
# ports in $worker_ports (in order). Our ports sit in the kernel's ephemeral range: a worker
# whose port an outgoing connection holds is started again 100 ports higher.
worker_pids="" worker_ports=""
start_workers() {
  local i try pids=() ports=() kinds=() names=()
  while (($#)); do
    for ((i = 0; i < $2; i++)); do
      launch "$1" "$(($4 + i))" "$3-w$i"
      pids+=("$bridge_pid"); ports+=("$(($4 + i))"); kinds+=("$1"); names+=("$3-w$i")
    done
    shift 4
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    for ((try = 1; ; try++)); do
      wait_ready "${ports[i]}" "${pids[i]}" && break
      if ((try < 5)) && grep -qE "Address already in use|EADDRINUSE" "$raw/${names[i]}.log"; then
        stop_pid "${pids[i]}"
        ports[i]=$((ports[i] + 100))
        log "${names[i]}: port in use, trying :${ports[i]}"
        launch "${kinds[i]}" "${ports[i]}" "${names[i]}"
        pids[i]="$bridge_pid"
        continue
      fi
      tail -n 20 "$raw/${names[i]}.log" >&2
      die "${names[i]} did not become ready on :${ports[i]}"
    done
  done
  worker_pids="${pids[*]}" worker_ports="${ports[*]}"
}

# load NAME PIDS PORTS ARGS...: runs the load generator; output in raw/NAME.json, and the
# machine's load average (/proc/loadavg: 1, 5, 15 min) before and after in raw/NAME.loadavg.
load() {
  local name="$1" pids="$2" ports="$3"; shift 3
  local args=() p
  [[ " $* " == *" --duration-s "* ]] || args+=(--duration-s "$duration")
  for p in $pids; do args+=(--pid "$p"); done
  for p in $ports; do args+=(--url "ws://127.0.0.1:$p/ws"); done
  log "run $name: $*"
  cut -d' ' -f1-3 /proc/loadavg >"$raw/$name.loadavg"
  "$loadgen_bin" "${args[@]}" --brokers "127.0.0.1:$kafka_port" --topic "$topic" \
    --jwt-secret "$secret" --label "$name" "$@" \
    >"$raw/$name.json" 2>"$raw/$name.progress" || { tail -n 20 "$raw/$name.progress" >&2; die "load generator failed ($name)"; }
  cut -d' ' -f1-3 /proc/loadavg >>"$raw/$name.loadavg"
  "$python" "$bench/report.py" summary "$raw/$name.json" >&2
}

# Smoke keeps one pool of workers for every scenario (3 of each kind, started once).
pool_ours_pids="" pool_ours_ports="" pool_node_pids="" pool_node_ports=""
start_pool() {
  local pids ports
  start_workers node 3 smoke--node "$((http_base + 10))" ours 3 smoke--ours "$http_base"
  read -ra pids <<<"$worker_pids"
  read -ra ports <<<"$worker_ports"
  pool_node_pids="${pids[*]:0:3}" pool_node_ports="${ports[*]:0:3}"
  pool_ours_pids="${pids[*]:3:3}" pool_ours_ports="${ports[*]:3:3}"
}

first_n() { local n="$1"; shift; echo "${@:1:$n}"; }

# side_by_side NAME WORKERS ARGS...: the same load against ours, then the baseline, with
# WORKERS processes of each (sockets spread over them), one bridge kind running at a time.
side_by_side() {
  local name="$1" workers="$2"; shift 2
  local kind pids ports p
  for kind in ours node; do
    if ((smoke)); then
      if [[ "$kind" == ours ]]; then pids="$pool_ours_pids" ports="$pool_ours_ports"; else pids="$pool_node_pids" ports="$pool_node_ports"; fi
      # shellcheck disable=SC2086
      pids="$(first_n "$workers" $pids)" ports="$(first_n "$workers" $ports)"
    else
      start_workers "$kind" "$workers" "$name--$kind" "$http_base"
      pids="$worker_pids" ports="$worker_ports"
    fi
    load "$name--$kind" "$pids" "$ports" "$@"
    if [[ "$kind" == ours ]]; then
      for p in $ports; do curl -fs "http://127.0.0.1:$((p + 1000))/metrics" >"$raw/$name--ours-$p.metrics" || true; done
    fi
    # shellcheck disable=SC2086
    ((smoke)) || stop_workers $pids
  done
}

# ---------------------------------------------------------------- scenarios

scenario_throughput() {
  log "throughput: max rate (closed loop), 1000 sockets over 100 users"
  if ((smoke)); then
    side_by_side throughput 1 --users 10 --sockets 100 --rate 0 --max-inflight 100000 --warmup-s 0.5
  else
    side_by_side throughput 1 --users 100 --sockets 1000 --rate 0 --max-inflight 100000 --warmup-s 3
  fi
}

# One socket per user; each rate against ours, the baseline, and Kafka alone (the floor).
scenario_latency() {
  local rates sockets rate warmup
  if ((smoke)); then rates="1000"; sockets=200; warmup=0.5; else rates="1000 5000 10000 20000 40000"; sockets=10000; warmup=3; fi
  log "latency: fixed rates $rates with $sockets sockets (one per user)"
  for rate in $rates; do
    side_by_side "latency-$rate" 1 --users "$sockets" --sockets "$sockets" --rate "$rate" --warmup-s "$warmup"
    load "latency-$rate--floor" "" "" --kafka-floor --users "$sockets" --rate "$rate" --warmup-s "$warmup"
  done
}

scenario_idle() {
  local sockets=$((smoke ? 500 : 50000)) workers
  workers=$(( (sockets + $(fd_limit) - 501) / ($(fd_limit) - 500) ))
  log "idle: $sockets sockets held by $workers worker(s) of each (at most $(fd_limit) descriptors per process here)"
  side_by_side idle "$workers" --users "$sockets" --sockets "$sockets" --idle --settle-s "$((smoke ? 1 : 5))" \
    --source-addrs 8
}

# Our bridge only: RSS per idle socket over native TLS next to plaintext (bench/idle_tls.py).
scenario_idle-tls() {
  local sockets=$((smoke ? 200 : 5000))
  log "idle-tls: $sockets idle sockets, plaintext then TLS, one worker each"
  "$root/scripts/make-cert.sh" --quiet "$raw/tls" >&2
  "$python" "$bench/idle_tls.py" --bridge "$bridge_bin" --brokers "127.0.0.1:$kafka_port" --topic "$topic" \
    --secret "$secret" --cert "$raw/tls/cert.pem" --key "$raw/tls/key.pem" --ca "$raw/tls/ca.pem" \
    --port "$((http_base + 50))" --sockets "$sockets" --settle-s "$((smoke ? 1 : 3))" --raw "$raw" \
    --out "$raw/idle-tls.json" | tee "$out/idle-tls.txt" >&2 || die "idle-tls: sockets failed to open"
}

scenario_fanout() {
  local sockets=$((smoke ? 150 : 1000)) users=$((smoke ? 15 : 100)) warmup=$((smoke ? 0 : 3))
  log "fanout: one worker vs three on the same topic, $sockets sockets over $users users, max rate"
  side_by_side fanout-1w 1 --users "$users" --sockets "$sockets" --rate 0 --max-inflight 100000 --warmup-s "$warmup"
  side_by_side fanout-3w 3 --users "$users" --sockets "$sockets" --rate 0 --max-inflight 100000 --warmup-s "$warmup"
}

# metrics_once_open NAME PORT: once the load generator of run NAME reports its sockets open,
# saves the /metrics of our worker on PORT to raw/NAME.open.metrics (sockets per io thread
# while they are held). Gives up after 2 minutes.
metrics_once_open() {
  local name="$1" port="$2" i
  for ((i = 0; i < 1200; i++)); do
    if grep -q "sockets open" "$raw/$name.progress" 2>/dev/null; then
      curl -fs "http://127.0.0.1:$((port + 1000))/metrics" >"$raw/$name.open.metrics" || true
      return 0
    fi
    sleep 0.1
  done
}

# Fixed-rate fan-out (issue 10): for each load USERSxSOCKETS-PER-USER@EVENTS-PER-S, a fresh
# worker of ours with --io-threads 1, then one with --io-threads 2, then Kafka alone at the
# same rate over the same users (the floor); the Node.js baseline too with BENCH_FANOUT_NODE=1.
# Our workers listen from BENCH_HTTP_PORT + 20 (the smoke's pool holds the ports below).
scenario_fanout-rate() {
  local loads warmup spec users per rate sockets key io p snap
  if ((smoke)); then loads="20x2@200"; warmup=0.5; else loads="1000x10@5000 1000x10@20000 10000x1@5000 10000x1@20000"; warmup=3; fi
  loads="${BENCH_FANOUT_LOADS:-$loads}"
  for spec in $loads; do
    [[ "$spec" =~ ^[1-9][0-9]*x[1-9][0-9]*@[1-9][0-9]*$ ]] || die "fanout-rate: load '$spec' is not USERSxSOCKETS-PER-USER@EVENTS-PER-S"
  done
  log "fanout-rate: fixed-rate fan-out $loads (users x sockets per user @ events/s), io threads 1 and 2, Kafka alone"
  for spec in $loads; do
    users="${spec%%x*}" per="${spec#*x}" rate="${spec#*@}"
    per="${per%@*}" sockets=$((users * per)) key="rate-${users}x${per}-${rate}"
    for io in 1 2; do
      ours_extra=(--io-threads "$io")
      start_workers ours 1 "$key--ours-io$io" "$((http_base + 20))"
      ours_extra=()
      metrics_once_open "$key--ours-io$io" "$worker_ports" &
      snap=$!
      started_pids+=("$snap")
      load "$key--ours-io$io" "$worker_pids" "$worker_ports" --users "$users" --sockets "$sockets" --rate "$rate" --warmup-s "$warmup"
      wait "$snap" || true
      for p in $worker_ports; do curl -fs "http://127.0.0.1:$((p + 1000))/metrics" >"$raw/$key--ours-io$io.metrics" || true; done
      # shellcheck disable=SC2086
      stop_workers $worker_pids
    done
    if [[ "${BENCH_FANOUT_NODE:-0}" == 1 ]]; then
      start_workers node 1 "$key--node" "$((http_base + 30))"
      load "$key--node" "$worker_pids" "$worker_ports" --users "$users" --sockets "$sockets" --rate "$rate" --warmup-s "$warmup"
      # shellcheck disable=SC2086
      stop_workers $worker_pids
    fi
    load "$key--floor" "" "" --kafka-floor --users "$users" --rate "$rate" --warmup-s "$warmup"
  done
}

# Our bridge under callgrind while the throughput load runs; instructions, not seconds.
scenario_profile() {
  command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
  local port="$http_base" cg="$raw/callgrind.out"
  log "profile: our bridge under callgrind, throughput load (1000 sockets over 100 users), ${BENCH_DURATION_S:-10} s"
  BRIDGE_JWT_SECRET="$secret" BRIDGE_ADDRESS_CONNECTION_BURST=10000000 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$cg" \
    "$bridge_bin" --brokers "127.0.0.1:$kafka_port" --topics "$topic" --listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$((port + 1000))" --max-connections-per-address 10000000 --max-sockets-per-user 1000 \
    --send-buffer-bytes 4194304 --log-level warn >"$raw/profile--ours-w0.log" 2>&1 9>&- &
  bridge_pid=$!
  started_pids+=("$bridge_pid")
  wait_ready "$port" "$bridge_pid" || die "the bridge under valgrind did not become ready"
  # Instrument the delivery only: switch callgrind on once every socket is open.
  log "run profile--ours: 1000 sockets over 100 users, closed loop, ${BENCH_DURATION_S:-10} s"
  "$loadgen_bin" --pid "$bridge_pid" --url "ws://127.0.0.1:$port/ws" --brokers "127.0.0.1:$kafka_port" \
    --topic "$topic" --jwt-secret "$secret" --label profile--ours --users 100 --sockets 1000 --rate 0 \
    --max-inflight 20000 --warmup-s 0 --duration-s "${BENCH_DURATION_S:-10}" \
    >"$raw/profile--ours.json" 2>"$raw/profile--ours.progress" &
  local loadgen=$!
  until grep -q "sockets open" "$raw/profile--ours.progress" 2>/dev/null; do
    kill -0 "$loadgen" 2>/dev/null || break
    sleep 0.1
  done
  callgrind_control -i on "$bridge_pid" >/dev/null
  wait "$loadgen" || die "load generator failed (profile)"
  "$python" "$bench/report.py" summary "$raw/profile--ours.json" >&2
  callgrind_control -i off "$bridge_pid" >/dev/null
  stop_workers "$bridge_pid"
  callgrind_annotate --auto=no --inclusive=no "$cg" >"$out/profile-self.txt"
  callgrind_annotate --auto=no --inclusive=yes "$cg" >"$out/profile-inclusive.txt"
  log "profile: $out/profile-self.txt and profile-inclusive.txt (callgrind_annotate of raw/callgrind.out)"
}

# ---------------------------------------------------------------- main

t_start=$SECONDS
# One run per Kafka port on this machine: a second one would stop the first one's broker (and
# its cleanup the second's). The lock is on the port, whatever the checkout; the broker and the
# bridges do not inherit it, so one left behind by a killed run does not hold it.
exec 9>"${TMPDIR:-/tmp}/agent-bridge-bench-$kafka_port.lock"
flock -n 9 || die "another bench/run.sh is using Kafka port $kafka_port; wait for it, or give this one BENCH_KAFKA_PORT and BENCH_HTTP_PORT of its own"
prepare
ulimit -Sn "$(fd_limit)"
mkdir -p "$raw"
trap cleanup EXIT
trap 'exit 130' INT TERM
"$python" "$bench/report.py" machine >"$raw/machine.json"
"$root/scripts/kafka.sh" stop --port "$kafka_port" >/dev/null 2>&1 || true
"$root/scripts/kafka.sh" start --port "$kafka_port" >&2 9>&-
topic="bench-events"
"$root/scripts/kafka.sh" create-topic "$topic" 12 --port "$kafka_port" >&2
# The baseline's first consumer group makes the broker create its offsets topic, which takes
# seconds: start that now, in the background.
timeout 15 kcat -b "127.0.0.1:$kafka_port" -G bench-offsets-warmup "$topic" -q -e >/dev/null 2>&1 &
started_pids+=("$!")

if ((smoke)); then
  start_pool
else
  # A fresh broker's JVM is cold: warm it with 10 s of production nobody measures.
  load broker-warmup "" "" --kafka-floor --users 1000 --rate 20000 --duration-s 10 --warmup-s 0
fi
# Runs each scenario, noting its wall time.
walls=""
timed() {
  local t0=$SECONDS
  "scenario_$1"
  walls+="${walls:+, }\"$1\": $((SECONDS - t0))"
}
case "$scenario" in
  all|smoke) timed throughput; timed latency; timed idle; timed idle-tls; timed fanout; timed fanout-rate ;;
  *) timed "$scenario" ;;
esac

read -r la1 la5 la15 _ </proc/loadavg
other_bin=""
[[ -z "${BENCH_BRIDGE_BIN:-}" ]] || other_bin=", \"bridge_bin\": \"$bridge_bin\""
echo "{\"scenario\": \"$scenario\", \"wall_s\": $((SECONDS - t_start)), \"duration_s\": $duration, \"scenario_wall_s\": {$walls}, \"load_average_at_end\": [$la1, $la5, $la15]$other_bin}" >"$raw/run.json"
"$python" "$bench/report.py" report "$out"
log "done in $((SECONDS - t_start)) s: $out/results.md"
if ((smoke)); then
  "$python" "$bench/report.py" check "$out" || die "smoke: events lost or sockets failed (see $out/results.md)"
fi
