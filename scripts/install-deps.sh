#!/usr/bin/env bash
# Installs everything the bridge needs to build, run and test. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

debs=(build-essential cmake ninja-build pkg-config ccache
      librdkafka-dev libwebsocketpp-dev libasio-dev rapidjson-dev doctest-dev
      libssl-dev libcli11-dev libspdlog-dev python3-venv kcat curl openssl nginx)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
# docker-compose only validates docker-compose.yml here: without its recommended Docker engine.
lean=()
command -v docker-compose >/dev/null || lean+=(docker-compose)
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

# Kafka broker jars, cached outside the repository.
"$root/scripts/kafka.sh" fetch
