#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/envelope.hpp"

namespace bridge::consumers {

// A valid record for one user. Views point into the Kafka message and live only for the
// duration of the event_sink::deliver call that receives them.
struct event {
    schemas::envelope envelope;
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp_ms = 0;  // Kafka record timestamp
};

// Where the reader hands events. Both methods are called on the reading thread only.
// Delivery is at most once per reader: an event handed over is not offered again.
class event_sink {
public:
    virtual ~event_sink() = default;
    // True when this worker holds a socket for the user: only such records are parsed.
    virtual bool wants(const std::string& user_id) const = 0;
    // Takes a batch of events in record order per partition; must not block on I/O.
    virtual void deliver(const std::vector<event>& batch) = 0;
};

}  // namespace bridge::consumers
