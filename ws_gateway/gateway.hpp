#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "consumers/event_sink.hpp"
#include "consumers/replay.hpp"
#include "ws_gateway/jwt_verifier.hpp"

namespace bridge::gateway {

struct gateway_config {
    std::string listen_host = "0.0.0.0";
    uint16_t port = 8080;                        // 0 picks a free port (see gateway::port)
    std::size_t max_sockets_per_user = 3;
    std::size_t max_sockets = 10000;
    std::size_t max_inbound_bytes = 4096;
    std::size_t send_buffer_bytes = 1 << 20;     // per socket; past it the socket is closed (4002)
    long ping_interval_ms = 30000;
    long pong_timeout_ms = 10000;
    long drain_timeout_ms = 5000;
    // The admin listener serves /metrics (and health); the public one does not. Empty host: none.
    std::string admin_host = "127.0.0.1";
    uint16_t admin_port = 9091;
    std::vector<std::string> allowed_origins;  // empty: any Origin may open sockets
    std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For names the client
    unsigned ipv6_prefix = 64;                 // IPv6 clients are counted per network of this prefix
    std::size_t max_connections_per_address = 256;
    double address_connections_per_second = 20;  // new connections per client address, on average
    double address_connection_burst = 256;       // and at once; past it closed, or HTTP 429
    double client_messages_per_second = 10;
    double client_message_burst = 50;
    long auth_timeout_ms = 5000;          // a socket opened without a token must auth by then (4408)
    std::size_t max_pending_auth = 1024;  // such sockets waiting at once; past it HTTP 503
    std::size_t max_pending_auth_per_address = 32;  // of those, from one client address; past it HTTP 429
    // Native TLS (wss://) on the public listener when both are set: PEM files.
    std::string tls_cert_file;
    std::string tls_key_file;
    // Sockets are spread over this many io threads, each owning its sockets; 0: one per core.
    std::size_t io_threads = 0;
};

// What the gateway asks of the rest of the worker, from the io thread. Neither may block.
struct gateway_hooks {
    // Null when the worker can deliver (Kafka reachable, partitions assigned, reader moving);
    // else why not: "starting", "kafka_unavailable", "reader_stalled".
    std::function<const char*()> not_ready_reason;
    std::function<std::string()> metrics;     // extra Prometheus text (the reader's)
    std::function<void(consumers::replay_request)> replay;  // start a resume or late join
    std::function<void(uint64_t socket_id)> cancel_replay;   // its socket is gone
};

// The WebSocket and HTTP side of a worker: accepts /ws upgrades with a JWT, keeps each
// user's sockets, sends them their events, and serves /healthz, /readyz and /metrics.
// Sockets are dealt in turn to io threads (gateway_config::io_threads), each of which owns
// its sockets outright; run() runs them all. deliver() is called from the reading thread:
// it encodes each event once and hands the batch to every io thread by posting. A socket opened with ?resume=<id>
// or ?since=<ms> is replayed from Kafka first; its live events wait meanwhile and are
// spliced per partition by offset, so nothing is lost or sent twice on the connection.
class gateway final : public consumers::event_sink, public consumers::replay_sink {
public:
    // Binds the ports; throws std::runtime_error if it cannot, std::invalid_argument for a
    // bad origin or proxy entry.
    gateway(gateway_config config, jwt_verifier verifier, gateway_hooks hooks);
    ~gateway() override;

    uint16_t port() const;
    uint16_t admin_port() const;  // 0 without an admin listener
    std::size_t io_threads() const;

    // Serves, on this thread and io_threads() - 1 more, until shutdown() has drained the sockets.
    void run();

    // Thread-safe: stops accepting, closes every socket with 1001, and makes run() return
    // once they are gone or the drain timeout passes.
    void shutdown();

    // Thread-safe: reads the TLS certificate and key again for new sockets (SIGHUP); open
    // sockets keep theirs. On failure the old ones stay, and the error is logged.
    void reload_tls();

    bool wants(const std::string& user_id) const override;
    void deliver(const std::vector<consumers::event>& batch) override;

    bool replay_events(uint64_t socket_id, const std::vector<consumers::event>& batch) override;
    void replay_finished(uint64_t socket_id, consumers::replay_result result) override;

private:
    struct impl;   // what the io threads share: configuration, limits, the socket registry
    struct shard;  // one io thread and the sockets it owns
    std::unique_ptr<impl> impl_;
};

}  // namespace bridge::gateway
