#pragma once
#include <optional>
#include <string>

#include "consumers/dlq_writer.hpp"
#include "consumers/kafka_reader.hpp"
#include "consumers/kafka_replayer.hpp"
#include "ws_gateway/gateway.hpp"
#include "ws_gateway/jwt_verifier.hpp"

namespace bridge {

// `bridge produce`: one event from the shell, checked against the schemas before it is sent.
struct produce_request {
    std::string topic;     // default: the first of --topics
    std::string user;      // the key and user_id
    std::string type, run_id, thread_id;
    std::string payload = "{}";
    std::string envelope;  // a whole envelope instead of the fields ("-": read stdin)
};

struct bridge_config {
    enum class command { serve, produce } run = command::serve;
    consumers::kafka_source kafka;  // shared by the reader, the replayers and the dead-letter writer
    consumers::reader_config reader;
    consumers::replayer_config replayer;
    gateway::gateway_config gateway;
    gateway::jwt_config jwt;
    bool dlq_enabled = false;
    consumers::dlq_config dlq;
    produce_request produce;
    std::string log_level = "info";
};

// Reads flags and BRIDGE_* environment variables (flags win). Returns nullopt when the
// worker should run; otherwise the exit code (0 after --help, 2 for bad configuration),
// having printed the help or a clear message.
std::optional<int> parse_config(int argc, const char* const* argv, bridge_config& out);

}  // namespace bridge
