#pragma once
#include <string>
#include <string_view>

namespace bridge::gateway {

// What a client asked for over its socket.
struct client_message {
    enum class kind { subscribe, unsubscribe, resume, invalid };
    kind what = kind::invalid;
    std::string thread_id;  // subscribe: the one thread to receive
    std::string id;         // resume: the last id the client saw
    std::string error;      // invalid: why, safe to send back to the client
};

// Parses {"action":"subscribe","thread_id":"..."}, {"action":"unsubscribe"} or
// {"action":"resume","id":"..."}. Never throws.
client_message parse_client_message(std::string_view text);

}  // namespace bridge::gateway
