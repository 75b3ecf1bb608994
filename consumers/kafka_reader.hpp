#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "consumers/event_sink.hpp"
#include "consumers/kafka_source.hpp"
#include "consumers/unreadable_batches.hpp"

namespace bridge::consumers {

struct reader_config {
    int metadata_refresh_ms = 5000;  // how often new partitions and lag are checked
    int stall_ms = 10000;            // no progress this long while records wait: not ready
};

// The reader's watchdog rule. `age_ms`: since its loop last came round. Waiting for records
// comes round within 100 ms and a metadata refresh within seconds, so the loop is stuck
// when it has been handling records (`busy`) for over stall_ms, or anything for twice that.
inline bool reader_stalled(int64_t age_ms, bool busy, int64_t stall_ms) {
    return age_ms > stall_ms && (busy || age_ms > 2 * stall_ms);
}

// One partition's progress, as the reader tracks it.
struct partition_progress {
    int64_t next = -1;          // the next offset to read; -1 until known (read from the beginning)
    int64_t log_end = -1;       // the broker's high watermark, last seen
    int64_t moved_at_ms = 0;    // steady clock, when `next` last moved (or the partition was assigned)
    int64_t unreadable = -1;    // the first offset of a batch it cannot read, while stopped there
    int64_t unreadable_since_ms = 0;
};

// A partition is stuck when it has been stopped at an unreadable batch for stall_ms, or when
// its position has not moved for stall_ms while the log holds more than one record past it
// (a transaction's closing marker is an offset no record is read at).
inline bool partition_stuck(const partition_progress& p, int64_t now_ms, int64_t stall_ms) {
    if (p.unreadable >= 0) return now_ms - p.unreadable_since_ms > stall_ms;
    return p.next >= 0 && p.log_end > p.next + 1 && now_ms - p.moved_at_ms > stall_ms;
}

// Reads every partition of the configured topics on its own thread (manual assignment,
// starting at the end; partitions created later are read from their beginning), filters
// records by key through the sink, validates the envelopes, and hands batches to the sink.
// A second thread watches partitions, readiness and lag, so its broker round trips never
// delay the records. A partition stopped at an unreadable batch is paused while the watcher
// finds where the batch ends, then read on from there (or, with unreadable_policy::stop, left
// paused and reported stuck); the other partitions go on meanwhile.
class kafka_reader {
public:
    // Throws std::invalid_argument with librdkafka's message on bad configuration.
    kafka_reader(kafka_source source, reader_config config, unreadable_batches& unreadable, event_sink& sink);
    ~kafka_reader();

    void start();
    void stop();

    // Kafka answered recently, every topic has partitions assigned, and the reading loop is
    // not stuck. Thread-safe.
    bool ready() const { return ready_.load(std::memory_order_relaxed) && !stalled(); }

    // The reading loop has not come round for stall_ms while records waited (or while it
    // was handling them), or a partition is stuck. Logs once per stall. Thread-safe.
    bool stalled() const;

    // Prometheus text for the reader's counters and lag. Thread-safe.
    std::string metrics_text() const;

private:
    struct impl;
    void run();    // the reading thread: records to batches to the sink
    void watch();  // the watcher thread: partitions, readiness, lag


    std::unique_ptr<impl> impl_;
    std::atomic<bool> ready_{false};
    std::atomic<bool> running_{false};
    std::atomic<int64_t> loop_at_ms_{0};    // steady clock, when the loop last came round
    std::atomic<bool> busy_{false};         // handling records (not waiting for them)
    mutable std::atomic<bool> stall_logged_{false};
    std::mutex stop_mutex_;
    std::condition_variable stop_cv_;  // wakes the watcher to stop
    std::thread thread_;
    std::thread watcher_;
};

}  // namespace bridge::consumers
