#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
enum class refusal_reason { origin, address_limit, version, bad_request, unavailable, connection_rate, pending_auth_limit };
constexpr std::size_t refusal_reason_count = 7;
std::string_view to_string(refusal_reason r);

// The five critical event types have their own label; every other type counts as "other".
constexpr std::size_t event_type_count = 6;
std::size_t event_type_index(std::string_view type);

// A number one io thread changes and any thread may read (for /metrics). One writer, so no
// read-modify-write instruction is needed: updating costs what a plain integer does.
template <typename T>
class io_value {
public:
    io_value& operator+=(T d) {
        v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
        return *this;
    }
    io_value& operator-=(T d) { return *this += -d; }
    io_value& operator++() { return *this += 1; }
    io_value& operator--() { return *this += -1; }
    operator T() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> v_{0};
};

// Record timestamp to socket write, in seconds, with fixed buckets.
class latency_histogram {
public:
    static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,  5,    10};
    void observe(double seconds);
    // Renders the sum of several histograms (one per io thread).
    static void render(std::string& out, std::string_view name, const std::vector<const latency_histogram*>& parts);

private:
    std::array<io_value<uint64_t>, bounds.size() + 1> counts_{};
    io_value<double> sum_;
    io_value<uint64_t> count_;
};

// One io thread's counters: written on that thread, read by the one serving /metrics.
struct gateway_metrics {
    io_value<int64_t> sockets_open;
    io_value<int64_t> sockets_awaiting_auth;  // open, waiting for their auth message
    io_value<uint64_t> connects;
    std::array<io_value<uint64_t>, disconnect_reason_count> disconnects{};
    std::array<io_value<uint64_t>, auth_error_count> auth_failures{};
    std::array<io_value<uint64_t>, refusal_reason_count> refused{};
    io_value<uint64_t> accept_errors;  // accept() failures, e.g. out of file descriptors
    std::array<io_value<uint64_t>, event_type_count> delivered{};
    io_value<uint64_t> direct_writes;  // event frames handed to the kernel by one sendmsg, past websocketpp's queue
    io_value<uint64_t> resets;  // sockets closed with RST: their client had not taken what the kernel held
    latency_histogram latency;

    // Prometheus text format: the sum over every io thread, and each one's open sockets.
    // max_sockets is --max-sockets, for "near the limit" alerts.
    static std::string text(const std::vector<const gateway_metrics*>& io_threads, std::size_t max_sockets);
};

}  // namespace bridge::gateway
