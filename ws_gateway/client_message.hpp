#pragma once
#include <string>
#include <string_view>

namespace bridge::gateway {

// What a client asked for over its socket.
struct client_message {
    enum class kind { subscribe, unsubscribe, invalid };
    kind what = kind::invalid;
    std::string thread_id;  // subscribe: the one thread to receive
    std::string error;      // invalid: why, safe to send back to the client
};

// Parses {"action":"subscribe","thread_id":"..."} or {"action":"unsubscribe"}. Never throws.
client_message parse_client_message(std::string_view text);

}  // namespace bridge::gateway
