#include "ws_gateway/gateway_metrics.hpp"

#include <cstdio>

namespace bridge::gateway {

namespace {

constexpr std::array<std::string_view, event_type_count> event_types = {
    "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed", "other"};

void header(std::string& out, std::string_view name, std::string_view kind, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(kind).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(buf).append("\n");
}

std::string label(std::string_view key, std::string_view value) {
    return std::string(key) + "=\"" + std::string(value) + "\"";
}

}  // namespace

std::string_view to_string(disconnect_reason r) {
    switch (r) {
        case disconnect_reason::client: return "client";
        case disconnect_reason::replaced: return "replaced";
        case disconnect_reason::slow_reader: return "slow_reader";
        case disconnect_reason::pong_timeout: return "pong_timeout";
        case disconnect_reason::token_expired: return "token_expired";
        case disconnect_reason::shutdown: return "shutdown";
        case disconnect_reason::error: return "error";
        case disconnect_reason::rate_limited: return "rate_limited";
        case disconnect_reason::bad_request: return "bad_request";
        case disconnect_reason::unauthorized: return "unauthorized";
        case disconnect_reason::auth_timeout: return "auth_timeout";
        case disconnect_reason::unavailable: return "unavailable";
    }
    return "unknown";
}

std::string_view to_string(refusal_reason r) {
    switch (r) {
        case refusal_reason::origin: return "origin";
        case refusal_reason::address_limit: return "address_limit";
        case refusal_reason::version: return "version";
        case refusal_reason::bad_request: return "bad_request";
        case refusal_reason::unavailable: return "unavailable";
        case refusal_reason::connection_rate: return "connection_rate";
        case refusal_reason::pending_auth_limit: return "pending_auth_limit";
    }
    return "unknown";
}

std::size_t event_type_index(std::string_view type) {
    for (std::size_t i = 0; i + 1 < event_types.size(); ++i)
        if (event_types[i] == type) return i;
    return event_types.size() - 1;
}

void latency_histogram::observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    ++counts_[i];
    sum_ += seconds;
    ++count_;
}

void latency_histogram::render(std::string& out, std::string_view name, const std::vector<const latency_histogram*>& parts) {
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    double sum = 0;
    char le[32];
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        for (const auto* p : parts) cumulative += p->counts_[i];
        std::snprintf(le, sizeof le, "%g", bounds[i]);
        sample(out, bucket, label("le", le), static_cast<double>(cumulative));
    }
    for (const auto* p : parts) {
        cumulative += p->counts_[bounds.size()];
        sum += p->sum_;
    }
    sample(out, bucket, "le=\"+Inf\"", static_cast<double>(cumulative));
    sample(out, std::string(name) + "_sum", "", sum);
    sample(out, std::string(name) + "_count", "", static_cast<double>(cumulative));
}

std::string gateway_metrics::text(const std::vector<const gateway_metrics*>& io_threads, std::size_t max_sockets) {
    // One io thread's field, summed over all of them.
    auto sum = [&](auto field) {
        double total = 0;
        for (const auto* m : io_threads) total += static_cast<double>(field(*m));
        return total;
    };
    std::string out;
    header(out, "bridge_sockets_open", "gauge", "Open WebSocket connections.");
    sample(out, "bridge_sockets_open", "", sum([](const gateway_metrics& m) { return int64_t(m.sockets_open); }));
    header(out, "bridge_io_thread_sockets", "gauge", "Open WebSocket connections, by io thread (--io-threads).");
    for (std::size_t i = 0; i < io_threads.size(); ++i)
        sample(out, "bridge_io_thread_sockets", label("thread", std::to_string(i)),
               static_cast<double>(int64_t(io_threads[i]->sockets_open)));
    header(out, "bridge_max_sockets", "gauge", "Sockets this worker takes at most (--max-sockets).");
    sample(out, "bridge_max_sockets", "", static_cast<double>(max_sockets));
    header(out, "bridge_sockets_awaiting_auth", "gauge", "Open sockets waiting for their auth message.");
    sample(out, "bridge_sockets_awaiting_auth", "", sum([](const gateway_metrics& m) { return int64_t(m.sockets_awaiting_auth); }));
    header(out, "bridge_connects_total", "counter", "WebSocket connections accepted.");
    sample(out, "bridge_connects_total", "", sum([](const gateway_metrics& m) { return uint64_t(m.connects); }));
    header(out, "bridge_disconnects_total", "counter", "WebSocket connections ended, by reason.");
    for (std::size_t i = 0; i < disconnect_reason_count; ++i)
        sample(out, "bridge_disconnects_total", label("reason", to_string(static_cast<disconnect_reason>(i))),
               sum([i](const gateway_metrics& m) { return uint64_t(m.disconnects[i]); }));
    header(out, "bridge_auth_failures_total", "counter", "Upgrades refused for their token, by reason.");
    for (std::size_t i = 1; i < auth_error_count; ++i)
        sample(out, "bridge_auth_failures_total", label("reason", to_string(static_cast<auth_error>(i))),
               sum([i](const gateway_metrics& m) { return uint64_t(m.auth_failures[i]); }));
    header(out, "bridge_requests_refused_total", "counter",
           "Upgrades and requests refused before a socket opened (tokens apart), by reason.");
    for (std::size_t i = 0; i < refusal_reason_count; ++i)
        sample(out, "bridge_requests_refused_total", label("reason", to_string(static_cast<refusal_reason>(i))),
               sum([i](const gateway_metrics& m) { return uint64_t(m.refused[i]); }));
    header(out, "bridge_accept_errors_total", "counter", "Failed accepts, e.g. out of file descriptors.");
    sample(out, "bridge_accept_errors_total", "", sum([](const gateway_metrics& m) { return uint64_t(m.accept_errors); }));
    header(out, "bridge_events_delivered_total", "counter", "Event frames written to sockets, by type.");
    for (std::size_t i = 0; i < event_type_count; ++i)
        sample(out, "bridge_events_delivered_total", label("type", event_types[i]),
               sum([i](const gateway_metrics& m) { return uint64_t(m.delivered[i]); }));
    header(out, "bridge_direct_writes_total", "counter",
           "Event frames written by one sendmsg on an idle plaintext socket (the rest go through the socket's queue).");
    sample(out, "bridge_direct_writes_total", "", sum([](const gateway_metrics& m) { return uint64_t(m.direct_writes); }));
    header(out, "bridge_sockets_reset_total", "counter",
           "Sockets closed with a TCP reset: when their close ended, the kernel still held bytes the client had not taken.");
    sample(out, "bridge_sockets_reset_total", "", sum([](const gateway_metrics& m) { return uint64_t(m.resets); }));
    header(out, "bridge_delivery_latency_seconds", "histogram", "Kafka record timestamp to socket write.");
    std::vector<const latency_histogram*> latencies;
    for (const auto* m : io_threads) latencies.push_back(&m->latency);
    latency_histogram::render(out, "bridge_delivery_latency_seconds", latencies);
    return out;
}

}  // namespace bridge::gateway
