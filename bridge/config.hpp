#pragma once
#include <optional>
#include <string>

#include "consumers/kafka_reader.hpp"
#include "consumers/kafka_replayer.hpp"
#include "ws_gateway/gateway.hpp"
#include "ws_gateway/jwt_verifier.hpp"

namespace bridge {

struct bridge_config {
    consumers::reader_config reader;
    consumers::replayer_config replayer;  // brokers, topics and Kafka properties copied from reader
    gateway::gateway_config gateway;
    gateway::jwt_config jwt;
    std::string log_level = "info";
};

// Reads flags and BRIDGE_* environment variables (flags win). Returns nullopt when the
// worker should run; otherwise the exit code (0 after --help, 2 for bad configuration),
// having printed the help or a clear message.
std::optional<int> parse_config(int argc, const char* const* argv, bridge_config& out);

}  // namespace bridge
