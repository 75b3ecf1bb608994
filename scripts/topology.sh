#!/usr/bin/env bash
# The docker-compose topology without Docker: a real Kafka (scripts/kafka.sh), N bridge
# workers on 127.0.0.1 and nginx in front with deploy/nginx.conf, TLS included (a local
# certificate from scripts/make-cert.sh). For tests, and for people without Docker.
# `scripts/topology.sh --help` tells how.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
Usage: scripts/topology.sh COMMAND [OPTIONS]

Runs the deployment topology on this machine, without Docker:
  Kafka (scripts/kafka.sh) ─▶ N bridge workers on 127.0.0.1 ─▶ nginx (deploy/nginx.conf, TLS)

Commands:
  start          start Kafka, create the topics, make a certificate (D/tls, by
                 scripts/make-cert.sh), start the workers and nginx; print the URLs
  add-worker     start one more worker and reload nginx so new sockets reach it
                 (the other workers and the open sockets are not touched)
  restart-worker NAME
                 SIGTERM worker NAME (w1, w2, ...: it drains, closing its sockets with
                 1001) and start it again on the same port (on a new one, with nginx
                 reloaded, if the old one was taken meanwhile); for rolling restarts
  status         print every process, its pid and URL; exit 1 if one is down
  stop           stop nginx, the workers (SIGTERM: they drain with 1001) and Kafka
  check-nginx    nginx -t on deploy/nginx.conf as docker-compose uses it and as this
                 script renders it, with a throwaway certificate (no process is started)

Options (start; the others read them back from the state directory):
  --dir D          state directory: logs, pids, nginx files, Kafka's store
                   (default: <repo>/.topology)
  --workers N      workers to start (default 3)
  --https-port P   nginx's TLS port on 127.0.0.1 (default 8443)
  --kafka-port P   Kafka port on 127.0.0.1, controller on P+1 (default 29192)
  --topic T        topic the workers read (default agent-events; T.dlq is created too)
  --partitions N   partitions of both topics (default 12)

Environment:
  BRIDGE_JWT_SECRET  the workers' HS256 secret; if unset, one is made and kept in D/jwt-secret
  BRIDGE_BIN         the bridge executable (default: <repo>/build/bridge/bridge)
  BRIDGE_ALLOWED_ORIGINS
                     origins whose pages may open sockets
                     (default: https://localhost:P,https://127.0.0.1:P, P the TLS port)
  BRIDGE_TRUSTED_PROXIES
                     peers whose X-Forwarded-For names the client (default: 127.0.0.1, nginx)
  BRIDGE_*           any other worker setting (see bridge --help), passed to every worker

Workers listen on ports the kernel picks, and each serves /metrics on an admin port of its
own, also picked by the kernel; D/workers lists "name pid port admin_port" per line.
Clients reach the workers only through nginx: wss://127.0.0.1:P/ws, with D/tls/ca.pem as
the CA to trust. nginx reaches them through a static upstream (least_conn) in
D/nginx/nginx-workers.conf, rewritten and reloaded by add-worker. Under docker-compose
nginx finds replicas through Docker's DNS instead, with no reload (docs/deploy.md).
EOF
}

die() { echo "topology.sh: error: $*" >&2; exit 1; }
note() { echo "topology.sh: $*" >&2; }

# ---------------------------------------------------------------- options and state

dir="" workers=3 https_port=8443 kafka_port=29192 topic=agent-events partitions=12 args=()
parse_opts() {
  while (($#)); do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      --workers) workers="${2:?--workers needs a value}"; shift 2 ;;
      --https-port) https_port="${2:?--https-port needs a value}"; shift 2 ;;
      --kafka-port) kafka_port="${2:?--kafka-port needs a value}"; shift 2 ;;
      --topic) topic="${2:?--topic needs a value}"; shift 2 ;;
      --partitions) partitions="${2:?--partitions needs a value}"; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      -*) die "unknown option '$1' (see --help)" ;;
      *) args+=("$1"); shift ;;
    esac
  done
  [[ -n "$dir" ]] || dir="$root/.topology"
  [[ "$dir" == /* ]] || dir="$PWD/$dir"
  dir="${dir%/}"
  local n
  for n in "$workers" "$https_port" "$kafka_port" "$partitions"; do
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1)); then die "bad number '$n'"; fi
  done
  [[ "$topic" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad topic name '$topic'"
}

# Settings of a started topology, read back by the other commands.
save_state() {
  printf 'https_port=%s\nkafka_port=%s\ntopic=%s\npartitions=%s\n' \
    "$https_port" "$kafka_port" "$topic" "$partitions" >"$dir/topology.conf"
}

load_state() {
  [[ -f "$dir/topology.conf" ]] || die "no topology in $dir (run: scripts/topology.sh start)"
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      https_port) https_port="$value" ;;
      kafka_port) kafka_port="$value" ;;
      topic) topic="$value" ;;
      partitions) partitions="$value" ;;
    esac
  done <"$dir/topology.conf"
}

bridge_bin() {
  local bin="${BRIDGE_BIN:-$root/build/bridge/bridge}"
  [[ -x "$bin" ]] || die "no bridge executable at $bin (run: scripts/build.sh)"
  echo "$bin"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
http_ok() { curl -fs -o /dev/null --max-time 2 "$1"; }
# The balancer answers over TLS with the topology's certificate, verified against its CA.
https_ok() { curl -fs -o /dev/null --max-time 2 --cacert "$dir/tls/ca.pem" "https://127.0.0.1:$https_port$1"; }

# ---------------------------------------------------------------- nginx

nginx_cmd() { nginx -p "$dir/nginx/" -c "$dir/nginx/nginx.conf" -e stderr "$@"; }
nginx_pid() { local p; p="$(cat "$dir/nginx/nginx.pid" 2>/dev/null)" && alive "$p" && echo "$p"; }

# Writes this topology's nginx files into $1: a copy of deploy/nginx.conf, the TLS port $2
# with the certificate in directory $3, and a static upstream of the worker ports that follow.
render_nginx() {
  local out="$1" port="$2" tls="$3" p; shift 3
  mkdir -p "$out"
  cp "$root/deploy/nginx.conf" "$out/nginx.conf"
  {
    echo "# Written by scripts/topology.sh: TLS on loopback with the certificate of scripts/make-cert.sh."
    echo "listen 127.0.0.1:$port ssl;"
    echo "ssl_certificate \"$tls/cert.pem\";"
    echo "ssl_certificate_key \"$tls/key.pem\";"
  } >"$out/nginx-listen.conf.tmp"
  {
    echo "# Written by scripts/topology.sh: the workers on loopback. add-worker rewrites it and"
    echo "# reloads nginx (Docker's DNS is not here to find new workers)."
    echo "upstream bridge_workers {"
    echo "    zone bridge_workers 64k;"
    echo "    # Sockets are long-lived: send each new one to the worker holding the fewest."
    echo "    least_conn;"
    echo "    # max_fails=0: a refused connect (a worker restarting) still moves the request to the"
    echo "    # next worker, but marks none down. With failure accounting a worker that failed once"
    echo "    # takes one new connection per fail_timeout until one of them ends, and WebSockets do"
    echo "    # not end: after a rolling restart every worker would be stuck that way."
    for p in "$@"; do echo "    server 127.0.0.1:$p max_fails=0;"; done
    echo "}"
    echo "map \"\" \$bridge_workers {"
    echo "    default bridge_workers;"
    echo "}"
  } >"$out/nginx-workers.conf.tmp"
  mv -f "$out/nginx-listen.conf.tmp" "$out/nginx-listen.conf"
  mv -f "$out/nginx-workers.conf.tmp" "$out/nginx-workers.conf"
}

worker_ports() { awk '{print $3}' "$dir/workers" 2>/dev/null; }

# The topology's certificate, made once by scripts/make-cert.sh (kept if already there).
make_cert() { "$root/scripts/make-cert.sh" --quiet "$dir/tls" || die "could not make a certificate in $dir/tls"; }

start_nginx() {
  command -v nginx >/dev/null || die "nginx not found (apt-get install nginx)"
  port_busy "$https_port" && die "port $https_port is already in use (choose --https-port)"
  # shellcheck disable=SC2046
  render_nginx "$dir/nginx" "$https_port" "$dir/tls" $(worker_ports)
  nginx_cmd -t -q || die "nginx rejects $dir/nginx/nginx.conf"
  # Foreground master in its own session; logs (access on stdout, errors on stderr) to a file.
  nohup setsid nginx -p "$dir/nginx/" -c "$dir/nginx/nginx.conf" -e stderr -g 'daemon off;' \
    >>"$dir/nginx/nginx.log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 100; i++)); do
    nginx_pid >/dev/null && https_ok /healthz && return 0
    sleep 0.1
  done
  tail -n 20 "$dir/nginx/nginx.log" >&2 || true
  die "nginx did not start"
}

# True when nginx worker $1 no longer accepts: gone, or shutting down gracefully.
nginx_worker_retired() {
  local title
  title="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 0
  [[ -z "$title" || "$title" == *"shutting down"* ]]
}

# Rewrites the upstream with every worker, checks it, reloads nginx and waits until new
# nginx workers accept with it and the old ones have stopped accepting (nginx lets both
# accept for a moment). Old nginx workers keep the sockets they proxy until those close.
reload_nginx() {
  local master before now pid i retired
  master="$(nginx_pid)" || die "nginx is not running"
  # shellcheck disable=SC2046
  render_nginx "$dir/nginx" "$https_port" "$dir/tls" $(worker_ports)
  nginx_cmd -t -q || die "nginx rejects the new upstream in $dir/nginx/nginx-workers.conf"
  before="$(pgrep -P "$master" | sort)"
  nginx_cmd -s reload 2>>"$dir/nginx/nginx.log"
  for ((i = 0; i < 100; i++)); do
    now="$(pgrep -P "$master" | sort)"
    if [[ -n "$(comm -13 <(echo "$before") <(echo "$now"))" ]]; then
      retired=1
      for pid in $before; do nginx_worker_retired "$pid" || retired=0; done
      ((retired)) && return 0
    fi
    sleep 0.1
  done
  die "nginx did not reload (see $dir/nginx/nginx.log)"
}

# ---------------------------------------------------------------- workers

# Starts worker $1 on port $2 (default: one the kernel picks) with an admin port the kernel
# picks, waits until it listens and is ready, records it in $dir/workers.
start_worker() {
  local name="$1" want="${2:-0}" bin log pidfile pid port="" admin="" i
  bin="$(bridge_bin)"
  log="$dir/$name.log" pidfile="$dir/$name.pid"
  rm -f "$pidfile"
  # A restarted worker appends to its log: read only what this start writes.
  local from=1
  [[ -f "$log" ]] && from=$(($(stat -c %s "$log") + 1))
  # Own session, no stdin; the shell records its pid, then becomes the worker.
  # shellcheck disable=SC2016
  nohup setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    "$bin" --brokers "127.0.0.1:$kafka_port" --topics "$topic" --listen "127.0.0.1:$want" \
    --admin-listen 127.0.0.1:0 >>"$log" 2>&1 </dev/null &
  for ((i = 0; i < 150; i++)); do
    port="$(logged_port "$log" "$from" 'listening on')"
    admin="$(logged_port "$log" "$from" 'admin listening on')"
    # Read after the ports: the pid file is written before the worker can print.
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ -n "$port" && -n "$admin" && -n "$pid" ]] && break
    [[ -n "$pid" ]] && ! alive "$pid" && { tail -n 20 "$log" >&2; die "worker $name exited"; }
    sleep 0.1
  done
  [[ -n "$port" && -n "$admin" ]] || { tail -n 20 "$log" >&2; die "worker $name did not start listening"; }
  record_worker "$name" "$pid" "$port" "$admin"
  for ((i = 0; i < 300; i++)); do
    http_ok "http://127.0.0.1:$admin/readyz" && return 0
    alive "$pid" || break
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  die "worker $name (pid $pid, port $port) did not become ready"
}

# The port of the first log line "MSG HOST:PORT" in log $1 from byte $2 (the worker's JSON
# lines: "msg":"listening on 127.0.0.1:8080 ...", "msg":"admin listening on ...").
logged_port() {
  tail -c "+$2" "$1" 2>/dev/null | grep -oE "\"msg\":\"$3 [^ \"]+:[0-9]+" | head -n 1 | grep -oE '[0-9]+$' || true
}

# Writes "name pid port admin_port" into $dir/workers, in place of that worker's line if it
# has one.
record_worker() {
  awk -v w="$1" -v line="$1 $2 $3 $4" '$1 == w {print line; found = 1; next} {print}
    END {if (!found) print line}' "$dir/workers" >"$dir/workers.tmp"
  mv -f "$dir/workers.tmp" "$dir/workers"
}

# Exports BRIDGE_JWT_SECRET for workers started after `start`, and the settings every
# worker of the topology shares unless the environment sets them.
need_secret() {
  if [[ -z "${BRIDGE_JWT_SECRET:-}" ]]; then
    [[ -f "$dir/jwt-secret" ]] || die "BRIDGE_JWT_SECRET is not set (start had it from the environment)"
    BRIDGE_JWT_SECRET="$(cat "$dir/jwt-secret")"
  fi
  export BRIDGE_JWT_SECRET
  worker_defaults
  ulimit -n "$(ulimit -Hn)"
}

# Pages served from the balancer's own origin may open sockets; nginx (127.0.0.1) is the
# proxy whose X-Forwarded-For names the client.
worker_defaults() {
  export BRIDGE_ALLOWED_ORIGINS="${BRIDGE_ALLOWED_ORIGINS-https://localhost:$https_port,https://127.0.0.1:$https_port}"
  export BRIDGE_TRUSTED_PROXIES="${BRIDGE_TRUSTED_PROXIES-127.0.0.1}"
}

stop_pid() {
  local pid="$1" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do alive "$pid" || return 0; sleep 0.1; done
  note "pid $pid ignored SIGTERM for 15 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

print_urls() {
  local name pid port admin
  echo "balancer   wss://127.0.0.1:$https_port/ws   https://127.0.0.1:$https_port/readyz"
  echo "ca         $dir/tls/ca.pem (e.g. curl --cacert $dir/tls/ca.pem https://127.0.0.1:$https_port/readyz)"
  while read -r name pid port admin; do
    echo "worker $name  http://127.0.0.1:$admin/metrics   (pid $pid, sockets on port $port)"
  done <"$dir/workers"
  echo "kafka      127.0.0.1:$kafka_port   topics $topic, $topic.dlq ($partitions partitions)"
  if [[ -f "$dir/jwt-secret" ]]; then
    echo "secret     BRIDGE_JWT_SECRET is in $dir/jwt-secret"
  else
    echo "secret     BRIDGE_JWT_SECRET from the environment"
  fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
  parse_opts "$@"
  ((${#args[@]} == 0)) || die "unexpected argument '${args[0]}'"
  command -v nginx >/dev/null || die "nginx not found (apt-get install nginx)"
  command -v curl >/dev/null || die "curl not found (apt-get install curl)"
  bridge_bin >/dev/null
  if [[ -f "$dir/topology.conf" ]]; then
    if nginx_pid >/dev/null || [[ -s "$dir/workers" ]]; then
      die "a topology is already running from $dir (run: scripts/topology.sh stop --dir $dir)"
    fi
  fi
  # Wipe only a directory this script made.
  if [[ -d "$dir" && -n "$(ls -A "$dir")" && ! -f "$dir/.topology-sh" ]]; then
    die "$dir is not empty and was not made by topology.sh; refusing to wipe it"
  fi
  rm -rf "$dir"
  mkdir -p "$dir/nginx"
  touch "$dir/.topology-sh" "$dir/workers"
  save_state
  if [[ -z "${BRIDGE_JWT_SECRET:-}" ]]; then
    (umask 077; openssl rand -hex 32 >"$dir/jwt-secret")
    BRIDGE_JWT_SECRET="$(cat "$dir/jwt-secret")"
  fi
  export BRIDGE_JWT_SECRET
  worker_defaults
  make_cert
  # Sockets are files: let workers and nginx have as many as the hard limit allows.
  ulimit -n "$(ulimit -Hn)"
  # Anything that fails from here stops what was started.
  trap 'note "start failed; stopping what was started"; cmd_stop_loaded >/dev/null 2>&1 || true' EXIT

  "$root/scripts/kafka.sh" start --port "$kafka_port" --dir "$dir/kafka" >/dev/null
  "$root/scripts/kafka.sh" create-topic "$topic" "$partitions" --port "$kafka_port" >/dev/null
  "$root/scripts/kafka.sh" create-topic "$topic.dlq" "$partitions" --port "$kafka_port" >/dev/null
  local i
  for ((i = 1; i <= workers; i++)); do start_worker "w$i"; done
  start_nginx
  trap - EXIT
  echo "topology up ($dir):"
  print_urls
}

cmd_add_worker() {
  parse_opts "$@"
  ((${#args[@]} == 0)) || die "unexpected argument '${args[0]}'"
  load_state
  nginx_pid >/dev/null || die "nginx is not running (run: scripts/topology.sh start)"
  need_secret
  local n
  n=$(($(wc -l <"$dir/workers") + 1))
  start_worker "w$n"
  reload_nginx
  local admin
  admin="$(awk -v w="w$n" '$1 == w {print $4}' "$dir/workers")"
  echo "worker w$n  http://127.0.0.1:$admin/metrics   (nginx reloaded)"
}

cmd_restart_worker() {
  local name line pid port started
  parse_opts "$@"
  name="${args[0]:-}"
  [[ ${#args[@]} -eq 1 && "$name" =~ ^w[0-9]+$ ]] \
    || die "usage: restart-worker NAME [--dir D] (NAME as in status: w1, w2, ...)"
  load_state
  line="$(awk -v w="$name" '$1 == w' "$dir/workers")"
  [[ -n "$line" ]] || die "no worker $name in $dir/workers"
  read -r _ pid port _ <<<"$line"
  need_secret
  started=$SECONDS
  # SIGTERM: the worker stops accepting and closes its sockets with 1001; nginx sends the
  # reconnects to the others meanwhile. Then the same port again: the upstream is unchanged.
  stop_pid "$pid"
  if ! (start_worker "$name" "$port") 2>"$dir/$name.restart.err"; then
    # The port can be taken meanwhile (e.g. as an outgoing connection's ephemeral port):
    # start on a new one and point nginx at it.
    note "$name could not start again on port $port ($(tail -n 1 "$dir/$name.restart.err")); using a new port"
    stop_pid "$(cat "$dir/$name.pid" 2>/dev/null || true)"
    start_worker "$name"
    reload_nginx
    port="$(awk -v w="$name" '$1 == w {print $3}' "$dir/workers")"
  fi
  rm -f "$dir/$name.restart.err"
  pid="$(awk -v w="$name" '$1 == w {print $2}' "$dir/workers")"
  echo "worker $name restarted on http://127.0.0.1:$port (pid $pid, $((SECONDS - started)) s)"
}

cmd_status() {
  parse_opts "$@"
  ((${#args[@]} == 0)) || die "unexpected argument '${args[0]}'"
  load_state
  local down=0 name pid port admin pid_n
  if "$root/scripts/kafka.sh" status --port "$kafka_port" >/dev/null 2>&1; then
    echo "kafka      up    127.0.0.1:$kafka_port"
  else
    echo "kafka      down  127.0.0.1:$kafka_port"; down=1
  fi
  while read -r name pid port admin; do
    if alive "$pid" && http_ok "http://127.0.0.1:$admin/readyz"; then
      echo "worker $name  ready http://127.0.0.1:$admin/metrics   (pid $pid, sockets on port $port)"
    elif alive "$pid"; then
      echo "worker $name  not ready http://127.0.0.1:$admin/readyz   (pid $pid)"; down=1
    else
      echo "worker $name  down  (pid $pid)"; down=1
    fi
  done <"$dir/workers"
  if pid_n="$(nginx_pid)" && https_ok /healthz; then
    echo "balancer   up    wss://127.0.0.1:$https_port/ws   (pid $pid_n)"
  elif pid_n="$(nginx_pid)"; then
    echo "balancer   up, but https://127.0.0.1:$https_port/healthz fails   (pid $pid_n)"; down=1
  else
    echo "balancer   down"; down=1
  fi
  return "$down"
}

# Stops everything recorded in $dir; settings already loaded.
cmd_stop_loaded() {
  local pid name port admin
  if pid="$(nginx_pid)"; then
    # Fast shutdown: a graceful one would wait for every WebSocket to close.
    kill -TERM "$pid" 2>/dev/null || true
    stop_pid "$pid"
    echo "nginx stopped (pid $pid)"
  fi
  if [[ -f "$dir/workers" ]]; then
    while read -r name pid port admin; do
      if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done <"$dir/workers"
    while read -r name pid port admin; do
      stop_pid "$pid"
      echo "worker $name stopped (pid $pid)"
    done <"$dir/workers"
    : >"$dir/workers"
  fi
  if [[ -d "$dir/kafka" ]]; then
    "$root/scripts/kafka.sh" stop --port "$kafka_port" --dir "$dir/kafka"
  fi
}

cmd_stop() {
  parse_opts "$@"
  ((${#args[@]} == 0)) || die "unexpected argument '${args[0]}'"
  if [[ ! -f "$dir/topology.conf" ]]; then echo "no topology in $dir"; return 0; fi
  load_state
  cmd_stop_loaded
}

cmd_check_nginx() {
  (($# == 0)) || die "check-nginx takes no options"
  command -v nginx >/dev/null || die "nginx not found (apt-get install nginx)"
  local tmp ok=0
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  # nginx -t loads the certificate: a throwaway one (scripts/make-cert.sh).
  "$root/scripts/make-cert.sh" --quiet "$tmp/tls" || die "could not make a certificate"
  # As docker-compose runs it: the files of deploy/ as they are, with the directory mounted
  # at /etc/nginx/tls here.
  mkdir -p "$tmp/docker"
  cp "$root/deploy/nginx.conf" "$root/deploy/nginx-workers.conf" "$tmp/docker/"
  sed "s#/etc/nginx/tls/#$tmp/tls/#g" "$root/deploy/nginx-listen.conf" >"$tmp/docker/nginx-listen.conf"
  if nginx -t -q -p "$tmp/docker/" -c "$tmp/docker/nginx.conf" -e stderr >/dev/null; then
    echo "deploy/nginx.conf (docker-compose): ok"
  else
    echo "deploy/nginx.conf (docker-compose): FAILED" >&2; ok=1
  fi
  # As this script runs it: the same file beside a static upstream.
  render_nginx "$tmp/local" 18443 "$tmp/tls" 18101 18102 18103
  if nginx -t -q -p "$tmp/local/" -c "$tmp/local/nginx.conf" -e stderr >/dev/null; then
    echo "deploy/nginx.conf (scripts/topology.sh): ok"
  else
    echo "deploy/nginx.conf (scripts/topology.sh): FAILED" >&2; ok=1
  fi
  return "$ok"
}

# ---------------------------------------------------------------- main

(($# > 0)) || { usage; exit 0; }
cmd="$1"; shift
case "$cmd" in
  -h|--help|help) usage ;;
  start) cmd_start "$@" ;;
  add-worker) cmd_add_worker "$@" ;;
  restart-worker) cmd_restart_worker "$@" ;;
  status) cmd_status "$@" ;;
  stop) cmd_stop "$@" ;;
  check-nginx) cmd_check_nginx "$@" ;;
  *) usage >&2; die "unknown command '$cmd'" ;;
esac
