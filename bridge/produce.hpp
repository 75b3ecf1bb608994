#pragma once
#include "bridge/config.hpp"

namespace bridge {

// Builds the envelope, validates it as a worker would, publishes it keyed by user and waits
// for the broker's acknowledgement. Returns the exit code: 0 sent (prints the event's id),
// 2 invalid event (prints why), 1 Kafka did not take it.
int run_produce(const bridge_config& config);

}  // namespace bridge
