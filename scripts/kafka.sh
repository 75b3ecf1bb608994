#!/usr/bin/env bash
# Apache Kafka on 127.0.0.1 (KRaft mode) for development and tests: one broker, or a cluster of
# three with replicated topics, whose brokers can be killed, hung and restarted one at a time.
# Jars come from Maven Central via mvn and are cached outside the repository.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BRIDGE_CACHE:-$HOME/.cache/agent-bridge}"
# Versions tried in order; KAFKA_VERSION pins one.
versions=("${KAFKA_VERSION:-3.9.1}")
if [[ -z "${KAFKA_VERSION:-}" ]]; then versions+=(3.9.0); fi
slf4j_version=1.7.36
log4j2_version=2.25.5
broker_heap="${KAFKA_HEAP:--Xmx512m}"
start_timeout="${KAFKA_START_TIMEOUT:-60}"

usage() {
  cat <<EOF
Usage: scripts/kafka.sh COMMAND [OPTIONS]

Runs a scratch Apache Kafka broker (KRaft) on 127.0.0.1, or with --brokers 3 a cluster of
three (each broker also a controller: a quorum of three; broker i listens on P+2(i-1), its
controller on the port after; each has its own store in D/broker-i). A cluster's topics are
created with replication factor 3 and min.insync.replicas=2.

Commands:
  fetch                         download the broker jars (Kafka ${versions[0]}) into
                                \$BRIDGE_CACHE (default ~/.cache/agent-bridge); no-op if cached
  start [--port P] [--dir D] [--keep] [--brokers N]
                                format a fresh store in D and start a broker on P
                                (controller on P+1), or N brokers (1 or 3); waits until
                                metadata answers; --keep restarts on the store already in D
                                (topics and records kept)
  create-topic NAME PARTITIONS [--port P] [--config key=value ...] [--brokers N]
                                create a topic (replication 1, or 3 with min.insync.replicas=2
                                on a cluster), wait for partition leaders
  stop [--port P] [--dir D] [--brokers N]
                                stop the broker(s) started in D (SIGTERM, then SIGKILL after 20 s)
  status [--port P]             print "up" and exit 0 if the broker answers metadata
  kill I | pause I | resume I | stop-broker I | start-broker I  [--port P] [--dir D] --brokers 3
                                one broker of a cluster: SIGKILL; SIGSTOP (hung, not dead);
                                SIGCONT; a clean stop; a start on its store (waits until it
                                answers)
  leader TOPIC PARTITION [--port P] [--brokers N]
                                print the index of the broker that leads the partition

Defaults: P=9092, D=<repo>/.kafka/<P> (wiped on every start), N=1.
Environment: BRIDGE_CACHE, KAFKA_VERSION (pin a version), KAFKA_HEAP (default -Xmx512m),
             KAFKA_START_TIMEOUT (seconds, default 60).
EOF
}

die() { echo "kafka.sh: error: $*" >&2; exit 1; }
note() { echo "kafka.sh: $*" >&2; }

# ---------------------------------------------------------------- jars

# Prints the libs dir of the first fully fetched version, or fails.
find_libs() {
  local v
  for v in "${versions[@]}"; do
    if [[ -f "$cache/kafka-$v/libs/.complete" ]]; then
      echo "$cache/kafka-$v/libs"; return 0
    fi
  done
  return 1
}

# Kafka 3.x logs through log4j 1 (reload4j), Kafka 4.x through log4j 2.
is_kafka4() { [[ "$1" == 4.* ]]; }

# The slf4j binding for a version's logging, as a pom dependency.
binding_for() {
  if is_kafka4 "$1"; then
    echo "<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$log4j2_version</version></dependency>"
  else
    echo "<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$slf4j_version</version></dependency>"
  fi
}

# Writes a log configuration to $1: everything at $2 and above to $3 (a file, or stderr when
# empty); Kafka's request and state-change loggers at WARN. Prints the JVM flag that loads it.
write_log_config() {
  local out="$1" level="$2" file="$3"
  if is_kafka4 "$kversion"; then
    {
      echo "status = warn"
      if [[ -n "$file" ]]; then
        echo "appender.main.type = File"; echo "appender.main.fileName = $file"
      else
        echo "appender.main.type = Console"; echo "appender.main.target = SYSTEM_ERR"
      fi
      echo "appender.main.name = main"
      echo "appender.main.layout.type = PatternLayout"
      echo "appender.main.layout.pattern = [%d] %p %m (%c)%n"
      echo "rootLogger.level = $level"
      echo "rootLogger.appenderRef.main.ref = main"
      echo "logger.request.name = kafka.request.logger"; echo "logger.request.level = WARN"
      echo "logger.state.name = state.change.logger"; echo "logger.state.level = WARN"
      echo "logger.clients.name = org.apache.kafka.clients"; echo "logger.clients.level = WARN"
    } >"$out"
    echo "-Dlog4j2.configurationFile=file:$out"
  else
    {
      if [[ -n "$file" ]]; then
        echo "log4j.rootLogger=$level, main"
        echo "log4j.appender.main=org.apache.log4j.FileAppender"; echo "log4j.appender.main.File=$file"
      else
        echo "log4j.rootLogger=$level, main"
        echo "log4j.appender.main=org.apache.log4j.ConsoleAppender"; echo "log4j.appender.main.Target=System.err"
      fi
      echo "log4j.appender.main.layout=org.apache.log4j.PatternLayout"
      echo "log4j.appender.main.layout.ConversionPattern=[%d] %p %m (%c)%n"
      echo "log4j.logger.kafka.request.logger=WARN"
      echo "log4j.logger.state.change.logger=WARN"
      echo "log4j.logger.org.apache.kafka.clients=WARN"
    } >"$out"
    echo "-Dlog4j.configuration=file:$out"
  fi
}

# Downloads one Kafka version with mvn into the cache; returns non-zero on failure.
fetch_version() {
  local v="$1" work kdir staging
  kdir="$cache/kafka-$v"
  mkdir -p "$kdir"
  work="$(mktemp -d)"
  # Staging dir lives next to the target so the final rename is atomic.
  staging="$(mktemp -d "$kdir/libs.tmp.XXXXXX")"
  # Leave no half-fetched dirs behind if interrupted.
  trap 'rm -rf "$work" "$staging"' EXIT
  # Throwaway pom: the broker, the CLI tools (TopicCommand) and an slf4j->reload4j binding.
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.agent-bridge</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    $(binding_for "$v")
  </dependencies>
</project>
EOF
  note "fetching Kafka $v jars from Maven Central..."
  if ! (cd "$work" && mvn -q -B -ntp -Dstyle.color=never -f pom.xml dependency:copy-dependencies \
          -DoutputDirectory="$staging" -DincludeScope=runtime) >"$work/mvn.log" 2>&1 \
     || ! compgen -G "$staging/kafka_2.13-$v.jar" >/dev/null; then
    note "mvn could not fetch Kafka $v:"; tail -n 15 "$work/mvn.log" >&2 || true
    rm -rf "$work" "$staging"; rmdir "$kdir" 2>/dev/null || true; trap - EXIT; return 1
  fi
  touch "$staging/.complete"
  # Publish; if a concurrent fetch won the race, keep its copy.
  if ! mv -T "$staging" "$kdir/libs" 2>/dev/null; then
    rm -rf "$staging"
    [[ -f "$kdir/libs/.complete" ]] || { rm -rf "$work"; trap - EXIT; note "could not install $kdir/libs"; return 1; }
  fi
  rm -rf "$work"; trap - EXIT
  note "Kafka $v jars in $kdir/libs"
}

cmd_fetch() {
  (($# == 0)) || die "fetch takes no arguments"
  # Already cached: nothing to do.
  find_libs >/dev/null && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  local v
  for v in "${versions[@]}"; do
    fetch_version "$v" && return 0
  done
  die "could not fetch Kafka (${versions[*]}) from Maven Central"
}

# Sets $libs, $kdir and $kversion, fetching if needed; writes the quiet log config for CLI tools.
need_libs() {
  command -v java >/dev/null || die "java not found (apt-get install default-jre-headless)"
  libs="$(find_libs)" || { cmd_fetch; libs="$(find_libs)"; }
  kdir="$(dirname "$libs")"
  kversion="${kdir##*/kafka-}"
  tools_log_flag="$(write_log_config "$kdir/tools-log.properties.$$" WARN "")"
  mv -f "$kdir/tools-log.properties.$$" "$kdir/tools-log.properties"
  tools_log_flag="${tools_log_flag%.$$}"
}

# Runs a short-lived Kafka CLI class with fast JVM startup and WARN-only logging to stderr.
run_tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
    "$tools_log_flag" -cp "$libs/*" "$@"
}

# ---------------------------------------------------------------- options

port=9092 dir="" configs=() keep=0 brokers=1
parse_opts() {
  while (($#)); do
    case "$1" in
      --brokers) [[ $# -ge 2 ]] || die "--brokers needs a value"; brokers="$2"; shift 2 ;;
      --brokers=*) brokers="${1#*=}"; shift ;;
      --port) [[ $# -ge 2 ]] || die "--port needs a value"; port="$2"; shift 2 ;;
      --port=*) port="${1#*=}"; shift ;;
      --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; dir="$2"; shift 2 ;;
      --dir=*) dir="${1#*=}"; shift ;;
      --config)
        shift; [[ $# -ge 1 && "$1" != --* ]] || die "--config needs key=value"
        # Accept both "--config a=1 --config b=2" and "--config a=1 b=2".
        while (($#)) && [[ "$1" != --* ]]; do
          [[ "$1" == *=* ]] || die "bad --config '$1' (want key=value)"; configs+=("$1"); shift
        done ;;
      --config=*) configs+=("${1#*=}"); shift ;;
      --keep) keep=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
  done
  if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65528)); then die "bad port '$port'"; fi
  [[ "$brokers" == 1 || "$brokers" == 3 ]] || die "--brokers takes 1 or 3, not '$brokers'"
  [[ -n "$dir" ]] || dir="$root/.kafka/$port"
  [[ "$dir" == /* ]] || dir="$PWD/$dir"
  dir="${dir%/}"
  base_port="$port" base_dir="$dir"
}

# Broker i (1-based) of the cluster, or the single broker: sets $port and $dir to its own.
select_broker() {
  local i="$1"
  [[ "$i" =~ ^[0-9]+$ ]] && ((i >= 1 && i <= brokers)) || die "no broker '$i' (1..$brokers)"
  port=$((base_port + 2 * (i - 1)))
  if ((brokers == 1)); then dir="$base_dir"; else dir="$base_dir/broker-$i"; fi
}

# Every broker's client address, comma-separated (a bootstrap list).
bootstrap_list() {
  local i out=""
  for ((i = 0; i < brokers; i++)); do out+="${out:+,}127.0.0.1:$((base_port + 2 * i))"; done
  echo "$out"
}

# ---------------------------------------------------------------- helpers

# True if the broker on $port answers a metadata request.
metadata_ok() {
  local md
  # Nothing listening: answer at once instead of waiting out kcat's timeout.
  port_busy "$port" || return 1
  md="$(kcat -b "127.0.0.1:$port" -L -m "${1:-5}" 2>/dev/null)" || return 1
  grep -qE '^ +broker [0-9]+ at ' <<<"$md"
}

# True if something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the pid from $dir/broker.pid if that process is our broker and alive.
broker_pid() {
  local pid
  [[ -f "$dir/broker.pid" ]] || return 1
  pid="$(<"$dir/broker.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the command line must be kafka.Kafka with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $dir/server.properties" || return 1
  echo "$pid"
}

print_log_tail() {
  local f
  for f in "$dir/logs/server.log" "$dir/stdout.log"; do
    [[ -s "$f" ]] && { echo "--- tail of $f" >&2; tail -n 40 "$f" >&2; }
  done
  return 0
}

# Random 16-byte base64url cluster id (no padding), as StorageTool random-uuid makes.
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    # A leading '-' would be read as an option.
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}

# ---------------------------------------------------------------- commands

# Writes the store of broker $1 in $dir: its config, its log config, and a KRaft log formatted
# with cluster id $2.
prepare_broker() {
  local id="$1" cluster_id="$2" i voters="" rf=1 min_isr=1
  for ((i = 0; i < brokers; i++)); do voters+="${voters:+,}$((i + 1))@127.0.0.1:$((base_port + 2 * i + 1))"; done
  if ((brokers > 1)); then rf=3; min_isr=2; fi
  # Wipe the scratch dir, but refuse to wipe a non-empty dir this script did not create.
  if [[ -d "$dir" && -n "$(ls -A "$dir")" && ! -f "$dir/.kafka-sh" ]]; then
    die "$dir is not empty and was not created by kafka.sh; refusing to wipe it"
  fi
  rm -rf "$dir"
  mkdir -p "$dir/data" "$dir/logs"
  touch "$dir/.kafka-sh"
  # Each node is a broker and a controller.
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  # Broker logs: everything to a file, noisy request/state loggers at WARN.
  write_log_config "$dir/log.properties" INFO "$dir/logs/server.log" >"$dir/log-flag"
  if ! run_tool kafka.tools.StorageTool format --ignore-formatted \
         -t "$cluster_id" -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1; then
    cat "$dir/logs/format.log" >&2; die "formatting $dir failed"
  fi
}

# Launches the broker whose store is $dir, detached (own session, no stdin, immune to SIGHUP);
# the shell records the java pid.
launch_broker() {
  local heap; read -ra heap <<<"$broker_heap"
  # shellcheck disable=SC2016
  nohup setsid bash -c 'echo $$ >"$1/broker.pid"; shift; exec "$@"' _ "$dir" \
    java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "$(<"$dir/log-flag")" -Dkafka.logs.dir="$dir/logs" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
}

# Waits until the broker on $port (store $dir) answers metadata, failing fast if its JVM dies.
wait_broker() {
  local deadline=$((SECONDS + start_timeout)) pid
  while :; do
    if metadata_ok 2; then break; fi
    pid="$(cat "$dir/broker.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      print_log_tail; rm -f "$dir/broker.pid"; die "broker on port $port exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      print_log_tail; note "broker did not answer within ${start_timeout}s; stopping it"
      cmd_stop_dir; exit 1
    fi
    sleep 0.3
  done
}

cmd_start() {
  parse_opts "$@"
  ((${#configs[@]} == 0)) || die "start does not take --config"
  command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
  local i running=0 until
  # Already running from this script: nothing to do.
  for ((i = 1; i <= brokers; i++)); do
    select_broker "$i"
    if broker_pid >/dev/null; then running=$((running + 1)); fi
  done
  if ((running == brokers)); then
    for ((i = 1; i <= brokers; i++)); do
      select_broker "$i"
      # It may still be starting (concurrent start): give it the usual timeout.
      until=$((SECONDS + start_timeout))
      until metadata_ok 2; do
        ((SECONDS < until)) || die "the broker in $dir is alive but not answering on port $port; run: scripts/kafka.sh stop --port $base_port --brokers $brokers"
        sleep 0.3
      done
    done
    echo "kafka already running on $(bootstrap_list) (dir $base_dir)"; return 0
  fi
  ((running == 0)) || die "only $running of $brokers brokers run from $base_dir; run: scripts/kafka.sh stop --port $base_port --brokers $brokers"
  for ((i = 1; i <= brokers; i++)); do
    select_broker "$i"
    port_busy "$port" && die "port $port is already in use by another process"
    port_busy $((port + 1)) && die "controller port $((port + 1)) is already in use by another process"
  done
  need_libs
  local cluster_id; cluster_id="$(random_cluster_id)"
  if ((brokers > 1)); then
    if [[ -d "$base_dir" && -n "$(ls -A "$base_dir")" && ! -f "$base_dir/.kafka-sh" ]]; then
      die "$base_dir is not empty and was not created by kafka.sh; refusing to use it"
    fi
    mkdir -p "$base_dir"; touch "$base_dir/.kafka-sh"
  fi
  for ((i = 1; i <= brokers; i++)); do
    select_broker "$i"
    if ((keep)) && [[ -f "$dir/server.properties" && -d "$dir/data" ]]; then
      note "keeping the store in $dir"
    else
      prepare_broker "$i" "$cluster_id"
    fi
  done
  # Launch all, then wait: a cluster's brokers answer once a quorum of controllers is up.
  for ((i = 1; i <= brokers; i++)); do select_broker "$i"; launch_broker; done
  for ((i = 1; i <= brokers; i++)); do select_broker "$i"; wait_broker; done
  if ((brokers == 1)); then
    echo "kafka broker up on 127.0.0.1:$port (pid $(<"$dir/broker.pid"), dir $dir)"
  else
    echo "kafka cluster of $brokers brokers up on $(bootstrap_list) (dir $base_dir)"
  fi
}

# Stops the broker recorded in $dir (already parsed).
cmd_stop_dir() {
  local pid i
  if ! pid="$(broker_pid)"; then
    rm -f "$dir/broker.pid"; echo "no kafka broker running from $dir"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # Controlled shutdown normally takes a few seconds.
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    note "broker pid $pid ignored SIGTERM for 20 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/broker.pid"
  echo "kafka broker on port $port stopped (pid $pid)"
}

cmd_stop() {
  parse_opts "$@"
  ((${#configs[@]} == 0)) || die "stop does not take --config"
  local i
  # A cluster's brokers stop together: the last one alone would wait for a controller quorum.
  for ((i = 1; i <= brokers; i++)); do (select_broker "$i"; cmd_stop_dir) & done
  wait
}

# One broker of a cluster: kill, pause, resume, stop-broker, start-broker.
cmd_broker() {
  local action="$1" index="${2:-}"
  (($# >= 2)) || die "usage: $action INDEX [--port P] [--dir D] --brokers 3"
  shift 2
  parse_opts "$@"
  select_broker "$index"
  local pid
  case "$action" in
    start-broker)
      if broker_pid >/dev/null; then echo "broker $index already running"; return 0; fi
      [[ -f "$dir/server.properties" ]] || die "no store in $dir: start the cluster first"
      need_libs
      launch_broker
      wait_broker
      echo "broker $index up on 127.0.0.1:$port" ;;
    stop-broker) cmd_stop_dir ;;
    *)
      pid="$(broker_pid)" || die "broker $index is not running (dir $dir)"
      case "$action" in
        kill)
          kill -KILL "$pid"
          for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
          rm -f "$dir/broker.pid"
          echo "broker $index killed (pid $pid)" ;;
        pause) kill -STOP "$pid"; echo "broker $index paused (pid $pid)" ;;
        resume) kill -CONT "$pid"; echo "broker $index resumed (pid $pid)" ;;
      esac ;;
  esac
}

# The index (node id) of the broker leading a partition, from any broker's metadata.
cmd_leader() {
  (($# >= 2)) || die "usage: leader TOPIC PARTITION [--port P] [--brokers N]"
  local topic="$1" partition="$2" md leader
  shift 2
  parse_opts "$@"
  md="$(kcat -b "$(bootstrap_list)" -L -t "$topic" -m 5 2>/dev/null)" || die "no broker answers"
  leader="$(sed -nE "s/^ +partition $partition, leader (-?[0-9]+),.*/\1/p" <<<"$md")"
  [[ -n "$leader" ]] || die "no partition $partition in topic '$topic'"
  echo "$leader"
}


cmd_status() {
  parse_opts "$@"
  command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
  if metadata_ok 3; then echo up; else echo "down (nothing answers on 127.0.0.1:$port)" >&2; return 1; fi
}

cmd_create_topic() {
  (($# >= 2)) || die "usage: create-topic NAME PARTITIONS [--port P] [--config key=value ...]"
  local name="$1" parts="$2"; shift 2
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad topic name '$name'"
  if ! [[ "$parts" =~ ^[0-9]+$ ]] || ((parts < 1)); then die "bad partition count '$parts'"; fi
  parse_opts "$@"
  command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
  metadata_ok 5 || die "no broker answers on 127.0.0.1:$port (run: scripts/kafka.sh start --port $port)"
  need_libs
  local rf=1 c
  if ((brokers > 1)); then rf=3; configs=(min.insync.replicas=2 "${configs[@]}"); fi
  local args=(--bootstrap-server "$(bootstrap_list)" --create --if-not-exists --topic "$name"
              --partitions "$parts" --replication-factor "$rf")
  for c in "${configs[@]}"; do args+=(--config "$c"); done
  # Create through the admin API (TopicCommand).
  run_tool org.apache.kafka.tools.TopicCommand "${args[@]}" >/dev/null \
    || die "creating topic '$name' failed"
  # Wait until every partition has a leader.
  local deadline=$((SECONDS + 30)) md have led
  while :; do
    md="$(kcat -b "127.0.0.1:$port" -L -t "$name" -m 5 2>/dev/null || true)"
    have="$(sed -nE "s/^ +topic \"$name\" with ([0-9]+) partitions:.*/\1/p" <<<"$md")"
    led="$(grep -cE '^ +partition [0-9]+, leader [0-9]+,' <<<"$md" || true)"
    if [[ -n "$have" && "$have" != 0 && "$have" != "$parts" ]]; then
      die "topic '$name' already exists with $have partitions (wanted $parts)"
    fi
    [[ "$have" == "$parts" && "$led" == "$parts" ]] && ! grep -q 'Broker:' <<<"$md" && break
    ((SECONDS < deadline)) || { echo "$md" >&2; die "topic '$name' partitions have no leaders after 30 s"; }
    sleep 0.2
  done
  echo "topic $name ready ($parts partitions) on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- main

(($# > 0)) || { usage; exit 0; }
cmd="$1"; shift
case "$cmd" in
  -h|--help|help) usage ;;
  fetch) cmd_fetch "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  create-topic) cmd_create_topic "$@" ;;
  kill|pause|resume|stop-broker|start-broker) cmd_broker "$cmd" "$@" ;;
  leader) cmd_leader "$@" ;;
  *) usage >&2; die "unknown command '$cmd'" ;;
esac
