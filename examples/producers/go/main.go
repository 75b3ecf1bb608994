// Publishes one agent run (five events) for a user to the agent event bridge's topic.
// Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events go run . USER_ID RUN_ID [THREAD_ID]
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type envelope struct {
	Type     string         `json:"type"`
	UserID   string         `json:"user_id"`
	RunID    string         `json:"run_id"`
	ThreadID string         `json:"thread_id"`
	TS       int64          `json:"ts"`
	Payload  map[string]any `json:"payload"`
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: produce USER_ID RUN_ID [THREAD_ID]")
		os.Exit(2)
	}
	userID, runID, threadID := os.Args[1], os.Args[2], "thread-1"
	if len(os.Args) == 4 {
		threadID = os.Args[3]
	}
	if err := produceRun(env("KAFKA_BROKERS", "127.0.0.1:9092"), env("KAFKA_TOPIC", "agent-events"), userID, runID, threadID); err != nil {
		fmt.Fprintln(os.Stderr, "produce failed:", err)
		os.Exit(1)
	}
}

func produceRun(brokers, topic, userID, runID, threadID string) error {
	run := []struct {
		Type    string
		Payload map[string]any
	}{
		{"agent_started", map[string]any{"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}},
		{"agent_thinking", map[string]any{"text": "I should look this up.", "step": 1}},
		{"tool_executing", map[string]any{"tool": "web_search", "call_id": "c1", "input": map[string]any{"q": "Apache Kafka"}}},
		{"tool_completed", map[string]any{"tool": "web_search", "call_id": "c1", "status": "ok",
			"output": []string{"Kafka is a distributed event log."}, "duration_ms": 120}},
		{"agent_completed", map[string]any{"status": "ok", "output": "Kafka is a distributed event log.", "duration_ms": 450}},
	}

	// Java's murmur2 on the key, so every language puts a user in the same partition.
	// franz-go's producer is idempotent unless DisableIdempotentWrite is given; that implies acks=all.
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	defer client.Close()

	records := make([]*kgo.Record, 0, len(run))
	for _, e := range run {
		value, err := json.Marshal(envelope{e.Type, userID, runID, threadID, time.Now().UnixMilli(), e.Payload})
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.Type, err)
		}
		// Key = user id: a user's events share a partition, so they stay in order.
		records = append(records, &kgo.Record{Key: []byte(userID), Value: value})
	}

	// ProduceSync returns once every record is acknowledged or has failed for good.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := client.ProduceSync(ctx, records...)
	for _, r := range results {
		if r.Err != nil {
			return fmt.Errorf("deliver: %w", r.Err)
		}
		fmt.Printf("delivered to %s[%d] at offset %d\n", r.Record.Topic, r.Record.Partition, r.Record.Offset)
	}
	return nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
