// Publishes one agent run (five events) for a user to the agent event bridge's topic.
// Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events node produce.js USER_ID RUN_ID [THREAD_ID]
const { Kafka, Partitioners, logLevel } = require("kafkajs");

async function main() {
  const [userId, runId, threadId = "thread-1"] = process.argv.slice(2);
  if (!userId || !runId) {
    console.error("usage: node produce.js USER_ID RUN_ID [THREAD_ID]");
    process.exit(2);
  }
  const brokers = (process.env.KAFKA_BROKERS || "127.0.0.1:9092").split(",");
  const topic = process.env.KAFKA_TOPIC || "agent-events";

  const run = [
    ["agent_started", { agent: "research-assistant", model: "demo", input: "What is Kafka?" }],
    ["agent_thinking", { text: "I should look this up.", step: 1 }],
    ["tool_executing", { tool: "web_search", call_id: "c1", input: { q: "Apache Kafka" } }],
    ["tool_completed", { tool: "web_search", call_id: "c1", status: "ok", output: ["Kafka is a distributed event log."], duration_ms: 120 }],
    ["agent_completed", { status: "ok", output: "Kafka is a distributed event log.", duration_ms: 450 }],
  ];
  // Key = user id: a user's events share a partition, so they stay in order.
  const messages = run.map(([type, payload]) => ({
    key: userId,
    value: JSON.stringify({ type, user_id: userId, run_id: runId, thread_id: threadId, ts: Date.now(), payload }),
  }));

  const kafka = new Kafka({ clientId: "agent-producer", brokers, logLevel: logLevel.WARN });
  // DefaultPartitioner is Java's murmur2, so every language puts a user in the same partition.
  // Idempotent: retries cannot duplicate or reorder; it needs acks=-1 (all) and one request in flight.
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    // Resolves once the broker acknowledged every record; rejects on failure.
    const results = await producer.send({ topic, acks: -1, messages });
    for (const r of results) console.log(`delivered to ${r.topicName}[${r.partition}] from offset ${r.baseOffset}`);
  } finally {
    await producer.disconnect();
  }
}

main().catch((err) => {
  console.error(`produce failed: ${err.message}`);
  process.exit(1);
});
