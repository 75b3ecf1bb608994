#!/usr/bin/env bash
# Installs everything the bridge needs to build, run and test. Idempotent.
#   scripts/install-deps.sh          everything: the test suite, benchmarks, examples
#   scripts/install-deps.sh --demo   only what scripts/demo.sh needs (build, Kafka, the page)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
demo=0
[[ "${1:-}" == --demo ]] && demo=1

# What the bridge, Kafka, the demo producer and the demo page need.
debs=(build-essential cmake ninja-build pkg-config ccache
      librdkafka-dev libzstd-dev liblz4-dev zlib1g-dev libwebsocketpp-dev libasio-dev rapidjson-dev doctest-dev
      libssl-dev libcli11-dev libspdlog-dev python3-venv curl openssl
      kcat)  # scripts/kafka.sh create-topic waits for partition leaders with it
((demo)) || debs+=(nginx clang-14 libfuzzer-14-dev
                   chromium)  # the browser tests (tests/browser) drive Debian's Chromium headless
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)  # scripts/kafka.sh fetches Kafka's jars with it
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((demo)); then
  if ((${#missing[@]})); then
    sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
  fi
  [[ -x "$root/.venv/bin/python" ]] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check confluent-kafka==2.6.1 PyJWT==2.10.1
  if [[ ! -f "$root/clients/js/node_modules/.package-lock.json" ||
        "$root/clients/js/package-lock.json" -nt "$root/clients/js/node_modules/.package-lock.json" ]]; then
    (cd "$root/clients/js" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  "$root/scripts/kafka.sh" fetch
  exit 0
fi
# Benchmarks (bench/): callgrind for `bench/run.sh profile` (the Node.js baseline needs the
# nodejs and npm below).
command -v valgrind >/dev/null || missing+=(valgrind)
# Toolchains of the producer examples (examples/producers/). Debian bookworm's Go is 1.19,
# which the Go example supports (franz-go v1.16.1); a newer go already on PATH is used as is.
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v go >/dev/null || missing+=(golang-go)
# docker-compose only validates docker-compose.yml here: without its recommended Docker engine.
lean=()
command -v docker-compose >/dev/null || lean+=(docker-compose)
# promtool checks and unit-tests deploy/prometheus/alerts.yml.
command -v promtool >/dev/null || lean+=(prometheus)
if ((${#missing[@]} + ${#lean[@]})); then
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
  fi
  if ((${#lean[@]})); then
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${lean[@]}"
  fi
fi

# Python tools for the demo producer and the integration tests.
if [[ ! -x "$root/.venv/bin/python" ]]; then
  python3 -m venv "$root/.venv"
fi
"$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/requirements.txt"
# The Python emitter (emitters/python), editable: its sources are used in place, so it is
# reinstalled only when its pyproject.toml changed (the stamp) or it is not importable.
emitter_stamp="$root/.venv/.agent-event-emitter.stamp"
if [[ ! -f "$emitter_stamp" || "$root/emitters/python/pyproject.toml" -nt "$emitter_stamp" ]] ||
   ! "$root/.venv/bin/python" -c "import agent_events" 2>/dev/null; then
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -e "$root/emitters/python"
  touch "$emitter_stamp"
fi

# The emitter's dependencies and setuptools as wheels, for the packaging test
# (tests/packaging/python_emitter.sh), which installs the built emitter into fresh venvs offline.
wheels="${BRIDGE_CACHE:-$HOME/.cache/agent-bridge}/wheels"
wheel_stamp="$wheels/.requirements"
wheel_pins="confluent-kafka==2.6.1 jsonschema==4.23.0 ag-ui-protocol==1.0.0 setuptools==75.8.0"
if [[ "$(cat "$wheel_stamp" 2>/dev/null)" != "$wheel_pins" ]]; then
  # shellcheck disable=SC2086
  "$root/.venv/bin/pip" download -q --disable-pip-version-check -d "$wheels" $wheel_pins
  echo "$wheel_pins" >"$wheel_stamp"
fi

# The benchmark's Node.js baseline: its pinned packages, when the lock file changed.
baseline="$root/bench/baselines/node-bridge"
if [[ ! -f "$baseline/node_modules/.package-lock.json" || "$baseline/package-lock.json" -nt "$baseline/node_modules/.package-lock.json" ]]; then
  (cd "$baseline" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The browser client (clients/js: TypeScript, ws for Node) and the browser tests' pinned
# puppeteer-core (tests/browser), when their lock files changed.
for dir in "$root/clients/js" "$root/tests/browser"; do
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# Kafka broker jars, cached outside the repository: 3.9.1 for the tests and the demo, and the
# newest 4.x for the version matrix (ctest -L kafka4).
"$root/scripts/kafka.sh" fetch
KAFKA_VERSION=4.4.0 "$root/scripts/kafka.sh" fetch

# Producer examples: fetch and build them here, so the tests only run them. Each step is
# skipped, or incremental, when nothing changed. (Python's example uses the emitter installed
# above.)
examples="$root/examples/producers"
node_stamp="$examples/node/node_modules/.package-lock.json"
if [[ ! -f "$node_stamp" || "$examples/node/package-lock.json" -nt "$node_stamp" ]]; then
  (cd "$examples/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$examples/go" && go mod download && go build -o agent-producer .)
jar="$examples/java/target/agent-producer.jar"
if [[ ! -f "$jar" || -n "$(find "$examples/java/pom.xml" "$examples/java/src" -newer "$jar" -print -quit)" ]]; then
  # mvn -q still prints colour codes: keep its output for a failure only.
  (cd "$examples/java" && mvn -q -B -ntp package >target.log 2>&1) || { cat "$examples/java/target.log"; exit 1; }
  rm -f "$examples/java/target.log"
fi
