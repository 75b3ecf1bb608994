#pragma once
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "schemas/envelope.hpp"

namespace bridge::consumers {

struct dlq_config {
    std::string brokers;
    std::vector<std::string> topics;
    std::map<std::string, std::string> kafka;
    std::size_t max_record_bytes = 1 << 20;
    std::size_t max_depth = schemas::default_max_depth;  // deeper records are too_deep
    std::string group = "agent-event-bridge-dlq";
    std::string start = "latest";  // where a new group starts: latest or earliest
};

// Copies every rejected record of the topics to "<topic>.dlq", once for the whole fleet:
// the workers share the topics' partitions through one consumer group that only validates.
// Offsets are committed after the copies are acknowledged, so a record is copied again only
// after a worker crash. Headers: bridge.reason, bridge.detail, bridge.topic,
// bridge.partition, bridge.offset.
class dlq_writer {
public:
    // Throws std::invalid_argument on bad configuration.
    explicit dlq_writer(dlq_config config);
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
