#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "consumers/kafka_source.hpp"
#include "consumers/replay.hpp"
#include "consumers/unreadable_batches.hpp"
#include "schemas/envelope.hpp"

namespace bridge::consumers {

struct replayer_config {
    std::size_t max_events = 10000;        // per replay; past it the replay is cut short
    std::size_t max_bytes = 16 << 20;      // per replay, frame payload bytes
    std::size_t concurrency = 2;           // replays running at once (one thread each)
    std::size_t max_queued = 10000;        // replays waiting; past it: unavailable at once
    int64_t lookback_ms = 30000;           // other partitions of a resumed user start this far before the cursor
    int timeout_ms = 30000;                // a replay that has not reached the end by then is unavailable
};

// Replays a user's records from Kafka for one socket: from a resume cursor or a time, up to
// the end of the log, on threads of its own (the live reader is never blocked). A user's
// records are looked for in the partitions that murmur2 (Java, kafkajs) and crc32
// (librdkafka's default) map the user to, plus the cursor's own partition. A batch that cannot
// be read is skipped where the live reader skips it (or, with unreadable_policy::stop, ends
// the replay as unavailable at once rather than holding its thread until the timeout).
class kafka_replayer {
public:
    // Throws std::invalid_argument on bad configuration.
    kafka_replayer(kafka_source source, replayer_config config, unreadable_batches& unreadable, replay_sink& sink);
    ~kafka_replayer();

    void start();
    void stop();

    // Thread-safe, never blocks. Each request ends in exactly one replay_finished call.
    void request(replay_request r);
    // The socket is gone: drop its queued request or stop its running replay.
    void cancel(uint64_t socket_id);

    std::string metrics_text() const;

private:
    struct worker;
    struct counters;
    void run(worker& w);

    kafka_source source_;
    replayer_config config_;
    unreadable_batches& unreadable_;
    replay_sink& sink_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::unique_ptr<counters> counters_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<replay_request> queue_;
    std::set<uint64_t> active_;     // requested, not yet finished
    std::set<uint64_t> cancelled_;  // a subset of active_
    bool running_ = false;
};

}  // namespace bridge::consumers
