# The bridge worker image. Build: docker build -t agent-bridge .   (docker-compose.yml does it)
# Configure it with BRIDGE_* environment variables (`bridge --help` lists them all).

# ---- build: the steps of scripts/build.sh, from Debian's packages
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev libwebsocketpp-dev libasio-dev rapidjson-dev \
      libssl-dev libcli11-dev libspdlog-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG BUILD_TYPE=RelWithDebInfo
# Two jobs at most: a websocketpp translation unit needs ~460 MB.
ARG BUILD_JOBS=2
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
 && cmake --build build -j "$BUILD_JOBS" --target bridge \
 && strip --strip-debug build/bridge/bridge

# ---- runtime: the shared libraries `ldd bridge` names, nothing else
FROM debian:bookworm-slim
# librdkafka++1 brings librdkafka1 and its libsasl2/lz4/zstd/zlib; libssl3 has libcrypto;
# ca-certificates for TLS to Kafka; wget for the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka++1 libssl3 libspdlog1.10 libfmt9 ca-certificates wget \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 bridge \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bridge
COPY --from=build /src/build/bridge/bridge /usr/local/bin/bridge
USER 10001:10001

ENV BRIDGE_LISTEN=0.0.0.0:8080
EXPOSE 8080
# SIGTERM drains: stop accepting, close every socket with 1001, exit 0 within
# BRIDGE_DRAIN_TIMEOUT_MS (5 s by default; give `docker stop -t` more than that).
STOPSIGNAL SIGTERM
# Healthy = ready: Kafka answers and every partition is assigned. Port from BRIDGE_LISTEN.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD wget -q --tries=1 --timeout=2 -O /dev/null "http://127.0.0.1:${BRIDGE_LISTEN##*:}/readyz" || exit 1
ENTRYPOINT ["/usr/local/bin/bridge"]
