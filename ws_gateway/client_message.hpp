#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace bridge::gateway {

// What a client asked for over its socket.
struct client_message {
    enum class kind { subscribe, unsubscribe, resume, auth, invalid };
    kind what = kind::invalid;
    std::string thread_id;  // subscribe: the one thread to receive
    std::string id;         // resume, and optionally auth: the last id the client saw
    std::string token;      // auth: the JWT
    int64_t since_ms = -1;  // auth, optional: late join from this time
    std::string run_id;     // auth, optional: late join to this run only
    std::string error;      // invalid: why, safe to send back to the client
};

// Parses {"action":"subscribe","thread_id":"..."}, {"action":"unsubscribe"},
// {"action":"resume","id":"..."} or {"action":"auth","token":"...", optional "resume":"...",
// "since":<ms>, "run_id":"..."}. Never throws.
client_message parse_client_message(std::string_view text);

}  // namespace bridge::gateway
