#pragma once
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "consumers/kafka_source.hpp"
#include "consumers/unreadable_batches.hpp"

namespace bridge::consumers {

struct dlq_config {
    std::string group = "agent-event-bridge-dlq";
    std::string start = "latest";  // where a new group starts: latest or earliest
};

// Copies every rejected record of the topics to "<topic>.dlq", once for the whole fleet:
// the workers share the topics' partitions through one consumer group that only validates.
// Offsets are committed after the copies are acknowledged, so a record is copied again only
// after a worker crash. Headers: bridge.reason, bridge.detail, bridge.topic,
// bridge.partition, bridge.offset. A batch that cannot be read at all is skipped (with
// unreadable_policy::skip) and noted by one record with no value: reason unreadable_batch,
// the offsets it held in bridge.offset and bridge.last_offset, librdkafka's error as detail.
class dlq_writer {
public:
    // Throws std::invalid_argument on bad configuration.
    dlq_writer(kafka_source source, dlq_config config, unreadable_batches& unreadable);
    ~dlq_writer();

    void start();
    void stop();

    std::string metrics_text() const;

private:
    struct impl;
    void run();

    std::unique_ptr<impl> impl_;
    std::atomic<bool> running_{false};
    std::thread thread_;
};

}  // namespace bridge::consumers
