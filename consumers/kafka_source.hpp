#pragma once
// What the live reader, the replayers and the dead-letter writer share: where Kafka is, which
// topics they read, how records are checked, and what to do with a batch that cannot be read.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "schemas/envelope.hpp"

namespace bridge::consumers {

enum class unreadable_policy {
    skip,  // skip the batch, count it, log its offsets (and copy a note to the dead-letter topic)
    stop,  // stop at it: the partition is stuck until an operator acts; /readyz fails
};

struct kafka_source {
    std::string brokers;
    std::vector<std::string> topics;
    std::map<std::string, std::string> kafka;  // extra librdkafka properties (security etc.)
    std::size_t max_record_bytes = 1 << 20;
    std::size_t max_depth = schemas::default_max_depth;  // deeper records are too_deep
    unreadable_policy unreadable = unreadable_policy::skip;
};

}  // namespace bridge::consumers
