#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws_gateway/jwt_verifier.hpp"

namespace bridge::gateway {

// auth_error's values, none included.
constexpr std::size_t auth_error_count = static_cast<std::size_t>(auth_error::subject) + 1;

// Why a socket ended; the label of bridge_disconnects_total.
enum class disconnect_reason {
    client, replaced, slow_reader, pong_timeout, token_expired, shutdown, error, rate_limited,
    bad_request, unauthorized, auth_timeout, unavailable
};
constexpr std::size_t disconnect_reason_count = 12;
std::string_view to_string(disconnect_reason r);

// Why an upgrade or request was refused before a socket opened (auth failures apart); the
// label of bridge_requests_refused_total.
enum class refusal_reason { origin, address_limit, version, bad_request, unavailable };
constexpr std::size_t refusal_reason_count = 5;
std::string_view to_string(refusal_reason r);

// The five critical event types have their own label; every other type counts as "other".
constexpr std::size_t event_type_count = 6;
std::size_t event_type_index(std::string_view type);

// Record timestamp to socket write, in seconds, with fixed buckets.
class latency_histogram {
public:
    static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,  5,    10};
    void observe(double seconds);
    void render(std::string& out, std::string_view name) const;

private:
    std::array<uint64_t, bounds.size() + 1> counts_{};
    double sum_ = 0;
    uint64_t count_ = 0;
};

// The gateway's counters. Written and read on the io thread only.
struct gateway_metrics {
    std::size_t max_sockets = 0;  // --max-sockets, for "near the limit" alerts
    int64_t sockets_open = 0;
    int64_t sockets_awaiting_auth = 0;  // open, waiting for their auth message
    uint64_t connects = 0;
    std::array<uint64_t, disconnect_reason_count> disconnects{};
    std::array<uint64_t, auth_error_count> auth_failures{};
    std::array<uint64_t, refusal_reason_count> refused{};
    uint64_t accept_errors = 0;  // accept() failures, e.g. out of file descriptors
    std::array<uint64_t, event_type_count> delivered{};
    latency_histogram latency;

    // Prometheus text format.
    std::string text() const;
};

}  // namespace bridge::gateway
