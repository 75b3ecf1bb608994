// The Kafka floor: a plain librdkafka consumer reading the benchmark topic from its end and
// counting every event as if it were one socket per user. What it measures is producer +
// broker + consumer on this machine, the part of the latency no bridge can remove.
#pragma once

#include "shared_stats.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace RdKafka { class KafkaConsumer; }

namespace bench {

class floor_reader {
public:
    // Assigns every partition at its current end (asked of the broker) before returning.
    floor_reader(const std::string& brokers, const std::string& topic, shared_stats& stats);
    ~floor_reader();
    floor_reader(const floor_reader&) = delete;
    floor_reader& operator=(const floor_reader&) = delete;

    void stop();

private:
    void run();

    shared_stats& stats_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace bench
