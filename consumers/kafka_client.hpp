#pragma once
// What the reader and the replayer share: consumer creation, librdkafka's events, logging.
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "consumers/event_sink.hpp"
#include "consumers/kafka_source.hpp"
#include "schemas/envelope.hpp"

namespace bridge::consumers {

// Logs at most once a second per key, counting what it held back. Any thread.
class rate_limited_log {
public:
    template <typename... Args>
    void warn(std::size_t key, fmt::format_string<Args...> format, Args&&... args) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& slot = slots_[key % slots_.size()];
        const auto now = std::chrono::steady_clock::now();
        if (now - slot.last < std::chrono::seconds(1)) {
            ++slot.suppressed;
            return;
        }
        spdlog::warn("{} (suppressed since last: {})", fmt::format(format, std::forward<Args>(args)...),
                     slot.suppressed);
        slot.last = now;
        slot.suppressed = 0;
    }

private:
    struct slot {
        std::chrono::steady_clock::time_point last{};
        uint64_t suppressed = 0;
    };
    std::mutex mutex_;
    std::array<slot, 16> slots_{};
};

// Turns librdkafka's log and error events into our log lines and a broker-down flag.
class kafka_events : public RdKafka::EventCb {
public:
    std::atomic<bool> all_brokers_down{false};  // set while consuming, read by the watcher
    void event_cb(RdKafka::Event& e) override;

private:
    // One for every Kafka client of the process: a broker that is away is one line a second, not one per client.
    static inline rate_limited_log log_;
};

// A consumer of the source's brokers; for manual assignment unless `own` sets a group to join
// with `rebalance`. `own` are the caller's settings; the source's --kafka-property may override
// them. Fetches are kept small (512 KiB), which with inflate_limit.hpp bounds what one fetch may
// inflate to. Throws std::invalid_argument with librdkafka's message on bad configuration.
std::unique_ptr<RdKafka::KafkaConsumer> create_consumer(const kafka_source& source,
                                                        const std::map<std::string, std::string>& own,
                                                        kafka_events& events,
                                                        RdKafka::RebalanceCb* rebalance = nullptr);

// The first offset of a partition and the offset after its last record, asked of its leader;
// gives up at the timeout. (librdkafka 2.0.2's query_watermark_offsets does not: it retries its
// request on a leader that died, and was seen blocking a replay for 30 s past its timeout.)
RdKafka::ErrorCode query_watermarks(RdKafka::KafkaConsumer& consumer, const std::string& topic, int32_t partition,
                                    int64_t* low, int64_t* high, int timeout_ms);

// The event of a record whose envelope was validated. Its views point into the message.
event event_from(RdKafka::Message& m, schemas::envelope envelope);

// Counters of records by reject reason.
using reason_counters = std::array<std::atomic<uint64_t>, schemas::reject_reason_count>;

// Prometheus text for one counter labelled by reason (every reason but none).
std::string reason_counters_text(std::string_view name, std::string_view help, const reason_counters& counts);

// An idempotent producer keyed like Java's clients (murmur2), so a user's records stay in
// one partition whatever language wrote them. Throws std::invalid_argument on bad config.
std::unique_ptr<RdKafka::Producer> create_producer(const std::string& brokers,
                                                   const std::map<std::string, std::string>& extra,
                                                   RdKafka::DeliveryReportCb* reports);

}  // namespace bridge::consumers
