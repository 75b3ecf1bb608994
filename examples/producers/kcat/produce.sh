#!/usr/bin/env bash
# Publishes one agent run (five events) for a user to the agent event bridge's topic, with kcat.
# Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events ./produce.sh USER_ID RUN_ID [THREAD_ID]
# Needs kcat built on librdkafka >= 1.0 (Debian: apt-get install kcat).
set -euo pipefail

if (($# < 2 || $# > 3)); then
  echo "usage: $0 USER_ID RUN_ID [THREAD_ID]" >&2
  exit 2
fi
brokers="${KAFKA_BROKERS:-127.0.0.1:9092}"
topic="${KAFKA_TOPIC:-agent-events}"

# A JSON string literal (escapes backslash and quote; ids must not hold control characters).
quote() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
user=$(quote "$1") run=$(quote "$2") thread=$(quote "${3:-thread-1}")

# One record per line: the key (user id), a tab, then the envelope (one line of JSON).
event() {
  printf '%s\t{"type":"%s","user_id":%s,"run_id":%s,"thread_id":%s,"ts":%s,"payload":%s}\n' \
    "$1" "$2" "$user" "$run" "$thread" "$(date +%s%3N)" "$3"
}
records() {
  event "$1" agent_started '{"agent":"research-assistant","model":"demo","input":"What is Kafka?"}'
  event "$1" agent_thinking '{"text":"I should look this up.","step":1}'
  event "$1" tool_executing '{"tool":"web_search","call_id":"c1","input":{"q":"Apache Kafka"}}'
  event "$1" tool_completed '{"tool":"web_search","call_id":"c1","status":"ok","output":["Kafka is a distributed event log."],"duration_ms":120}'
  event "$1" agent_completed '{"status":"ok","output":"Kafka is a distributed event log.","duration_ms":450}'
}

# Key = user id (-K splits key from value at the tab): a user's events share a partition, in order.
# murmur2_random is Java's partitioner (librdkafka's default is crc32); idempotence stops retries
# from duplicating or reordering. kcat waits for every delivery report before it exits and
# exits non-zero if any record failed (-X message.timeout.ms bounds the wait).
records "$1" | kcat -P -b "$brokers" -t "$topic" -K $'\t' \
  -X partitioner=murmur2_random -X enable.idempotence=true -X message.timeout.ms=30000
echo "delivered 5 records to $topic"
