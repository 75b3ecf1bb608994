package example;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes one agent run (five events) for a user to the agent event bridge's topic.
 * Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events java -jar agent-producer.jar USER_ID RUN_ID [THREAD_ID]
 */
public final class Produce {
    // Event type and payload (JSON text). Real agents would build these with their JSON library.
    private static final String[][] RUN = {
        {"agent_started", "{\"agent\":\"research-assistant\",\"model\":\"demo\",\"input\":\"What is Kafka?\"}"},
        {"agent_thinking", "{\"text\":\"I should look this up.\",\"step\":1}"},
        {"tool_executing", "{\"tool\":\"web_search\",\"call_id\":\"c1\",\"input\":{\"q\":\"Apache Kafka\"}}"},
        {"tool_completed", "{\"tool\":\"web_search\",\"call_id\":\"c1\",\"status\":\"ok\","
                + "\"output\":[\"Kafka is a distributed event log.\"],\"duration_ms\":120}"},
        {"agent_completed", "{\"status\":\"ok\",\"output\":\"Kafka is a distributed event log.\",\"duration_ms\":450}"},
    };

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: java -jar agent-producer.jar USER_ID RUN_ID [THREAD_ID]");
            System.exit(2);
        }
        String userId = args[0], runId = args[1], threadId = args.length == 3 ? args[2] : "thread-1";
        String topic = env("KAFKA_TOPIC", "agent-events");

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BROKERS", "127.0.0.1:9092"));
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // Retries cannot duplicate or reorder (the default since Kafka 3.0; stated for clarity).
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10000);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        // Keyed records use murmur2, the partitioner every other example matches.

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.partitionsFor(topic);  // fails within max.block.ms if the topic does not exist
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (String[] event : RUN) {
                String value = "{\"type\":" + quote(event[0]) + ",\"user_id\":" + quote(userId)
                        + ",\"run_id\":" + quote(runId) + ",\"thread_id\":" + quote(threadId)
                        + ",\"ts\":" + System.currentTimeMillis() + ",\"payload\":" + event[1] + "}";
                // Key = user id: a user's events share a partition, so they stay in order.
                sent.add(producer.send(new ProducerRecord<>(topic, userId, value)));
            }
            // Wait until the broker acknowledged every record; get() throws if one failed.
            for (Future<RecordMetadata> f : sent) {
                RecordMetadata m = f.get();
                System.out.printf("delivered to %s[%d] at offset %d%n", m.topic(), m.partition(), m.offset());
            }
        } catch (ExecutionException e) {
            System.err.println("produce failed: " + e.getCause());
            System.exit(1);
        } catch (Exception e) {
            System.err.println("produce failed: " + e);
            System.exit(1);
        }
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    // A JSON string literal.
    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
