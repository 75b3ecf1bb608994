#pragma once
// The gateway's inside, shared by gateway.cpp (accepting, authenticating, closing sockets)
// and gateway_delivery.cpp (sending live and replayed events). Private to ws_gateway/; the
// only header that includes websocketpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "ws_gateway/admission.hpp"
#include "ws_gateway/client_message.hpp"
#include "ws_gateway/frame.hpp"
#include "ws_gateway/gateway.hpp"
#include "ws_gateway/gateway_metrics.hpp"
#include "ws_gateway/optional_tls.hpp"
#include "ws_gateway/socket_registry.hpp"

namespace bridge::gateway {

// Close codes; docs/protocol.md lists them for clients.
inline constexpr uint16_t close_replaced = 4001;
inline constexpr uint16_t close_slow_reader = 4002;
inline constexpr uint16_t close_pong_timeout = 4003;
inline constexpr uint16_t close_token_expired = 4004;
inline constexpr uint16_t close_try_again = 1013;
inline constexpr uint16_t close_policy = 1008;  // client messages past the rate limit
// Refusals after the upgrade, which a page can read (it never sees an HTTP status).
inline constexpr uint16_t close_bad_request = 4400;   // do not retry
inline constexpr uint16_t close_unauthorized = 4401;  // get a new token
inline constexpr uint16_t close_auth_timeout = 4408;  // retry
inline constexpr uint16_t close_unavailable = 4503;   // retry later

// A socket that never authenticated is not owed a close handshake: its close frame goes out
// and its connection ends this long after, answered or not (else websocketpp waits 5 s).
inline constexpr long unauthenticated_close_ms = 250;

// The first message of a socket opened without a token may be this long: a token as long as
// the Authorization header may carry, a resume cursor (512) and the rest. Later messages are
// held to --max-inbound-bytes.
inline constexpr std::size_t auth_message_bytes = max_token_bytes + 1024;

// Connection lifecycle log lines a worker writes at most per second (a storm is summed up).
inline constexpr int lifecycle_logs_per_second = 20;

// Slow readers: how long unsent bytes may stay past --send-buffer-bytes, and the hard cap.
inline constexpr int64_t slow_grace_ms = 500;
inline constexpr std::size_t slow_hard_factor = 4;  // a replay could not run now: reconnect with the same cursor

// The kernel's share of a socket's unsent bytes: SO_SNDBUF is set to a quarter of
// --send-buffer-bytes, at most 256 KiB (Linux doubles it for its bookkeeping: the kernel
// holds at most half the limit, and at most 512 KiB). Left to itself the kernel grows it to
// tcp_wmem's maximum (4 MiB here), where the slow-reader rule did not see it.
inline std::size_t kernel_send_buffer(std::size_t send_buffer_bytes) {
    return std::max<std::size_t>(4096, std::min<std::size_t>(send_buffer_bytes / 4, 256 * 1024));
}

// A socket closed for not reading (4002) or not answering (4003) has this long to take its
// close frame; what it has not taken then is dropped with a reset (optional_tls).
inline constexpr long unread_close_timeout_ms = 2000;

// Frames one direct write gathers at most (two iovecs each, under IOV_MAX).
inline constexpr std::size_t max_gathered_frames = 256;

struct outgoing;

// The HTTP request of a connection, checked as soon as it is read and before websocketpp
// picks a WebSocket version: a request it should not act on loses its Upgrade header, so
// it reaches the HTTP handler, which answers with `refusal`.
class strict_request : public websocketpp::http::parser::request {
public:
    enum class refusal { none, version, framing };

    std::size_t consume(const char* buf, std::size_t len) {
        const std::size_t used = request::consume(buf, len);
        if (ready() && !checked_) check();
        return used;
    }
    refusal refused() const { return refused_; }

    // Once the socket is open nothing reads its request again: the headers (a token among
    // them) need not stay for the socket's life. (The parse buffer is gone already.)
    void forget() {
        websocketpp::http::parser::header_list().swap(m_headers);
        std::string().swap(m_body);
    }

private:
    void check() {
        checked_ = true;
        // One Content-Length of digits only (repeated headers arrive joined by ", "), and no
        // Transfer-Encoding: a body read one way here and another way by a proxy is refused.
        const std::string& length = get_header("Content-Length");
        if (length.find_first_not_of("0123456789") != std::string::npos || !get_header("Transfer-Encoding").empty())
            refused_ = refusal::framing;
        else if (websocketpp::processor::is_websocket_handshake(*this) && get_header("Sec-WebSocket-Version") != "13")
            refused_ = refusal::version;  // hixie-76 and the drafts ignore the limits and pings
        if (refused_ != refusal::none) remove_header("Upgrade");
    }
    bool checked_ = false;
    refusal refused_ = refusal::none;
};

// Per-connection state, carried by websocketpp's connection object itself.
struct socket_state {
    uint64_t id = 0;
    std::string user;
    std::string thread_filter;  // empty: every thread
    int64_t token_expires_at = 0;
    address_limits::ticket address_ticket;  // its place under --max-connections-per-address
    address_limits::ticket auth_place;      // upgraded without a token: its place under --max-pending-auth
    token_bucket messages;                  // client messages allowed
    bool validated = false;  // counted in gateway's pending handshakes until it opens or fails
    std::shared_ptr<asio::steady_timer> auth_deadline;  // while it awaits auth: --auth-timeout-ms
    bool opened = false;
    bool registered = false;
    bool closing = false;
    uint64_t batch_seen = 0;            // last batch that measured this socket's send buffer
    std::size_t buffered_at_batch = 0;  // bytes still unsent when that batch began
    uint64_t write_round = 0;           // the last round of writes its frames joined
    uint32_t write_slot = 0;            // where they gather in that round (shard::writes)
    int64_t over_limit_since_ms = 0;    // when its unsent bytes went past the limit; 0: they are not
    uint64_t handed = 0;  // bytes handed to websocketpp to write (its own control frames aside)
    std::size_t kernel_buffer = SIZE_MAX / 4;  // the most its kernel send buffer holds; unknown: any
    disconnect_reason reason = disconnect_reason::client;
    // Replay (resume or late join): asked for, running, and the live events held meanwhile.
    consumers::replay_request replay;
    bool replay_asked = false;
    bool catching_up = false;
    bool sent_event = false;  // a resume message after an event came is refused
    std::vector<outgoing> held_live;
    std::size_t held_bytes = 0;
    // After the replay: per partition, the last offset it read. The live reader may still be
    // behind it; its records up to there were replayed and are dropped on this socket.
    std::vector<consumers::splice_point> splice;

    // Upgraded without a token and not authenticated yet: its first message must be auth.
    bool awaiting_auth() const { return auth_place.held(); }

    // Whether an event of this thread passes the socket's subscription.
    bool takes(const std::string& thread_id) const { return thread_filter.empty() || thread_filter == thread_id; }
};

// Each socket lives on one io thread: no locks and no strands inside websocketpp.
struct ws_config : websocketpp::config::asio {
    typedef ws_config type;
    typedef websocketpp::config::asio base;
    typedef websocketpp::concurrency::none concurrency_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::elevel> elog_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::alevel> alog_type;
    static const bool enable_multithreading = false;

    struct transport_config : public base::transport_config {
        typedef type::concurrency_type concurrency_type;
        typedef type::alog_type alog_type;
        typedef type::elog_type elog_type;
        typedef strict_request request_type;
        typedef type::response_type response_type;
        typedef optional_tls::endpoint socket_type;  // TLS when --tls-cert-file is given
        static const bool enable_multithreading = false;
    };
    typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;

    typedef strict_request request_type;
    typedef socket_state connection_base;
    // Client messages are small and rare: a bigger one, or the handshake, takes a few reads.
    // The buffer is inside every connection object, idle or not.
    static const std::size_t connection_read_buffer_size = 512;
    static const bool enable_extensions = false;                 // frames are shared: no per-socket deflate
    static const long timeout_open_handshake = 5000;
    static const long timeout_close_handshake = 5000;
};

using server_type = websocketpp::server<ws_config>;
using connection_ptr = server_type::connection_ptr;
using message_ptr = ws_config::message_type::ptr;
using websocketpp::connection_hdl;

// One event ready to send: the frame is encoded and framed once for all sockets.
struct outgoing {
    std::string user;
    std::string thread_id;
    std::string topic;
    int32_t partition;
    int64_t offset;
    std::size_t type_index;
    int64_t timestamp_ms;
    message_ptr frame;
};


inline int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// What every io thread of the worker shares. Limits that are per user or per worker live
// here, so they stay exact however the sockets are spread.
struct gateway::impl {
    gateway_config config;
    jwt_verifier verifier;  // verify() is const and keeps no state: any thread may call it
    gateway_hooks hooks;
    origin_list origins;
    proxy_list proxies;
    address_limits per_address;
    connection_rate connection_rates;  // new connections per client address
    address_limits pending_auth;       // upgrades without a token, not yet authenticated
    socket_registry registry;
    std::atomic<std::size_t> handshakes{0};    // upgrades validated (or authenticating), not yet open
    // Frames are built on the reading threads, outside any connection.
    std::shared_ptr<ws_config::con_msg_manager_type> framing_messages =
        std::make_shared<ws_config::con_msg_manager_type>();
    std::vector<std::unique_ptr<shard>> shards;  // shards[0] also accepts and serves the admin port

    impl(gateway_config c, jwt_verifier v, gateway_hooks h);

    // The shard that owns a socket id (ids are dealt so that id - 1 = shard index, modulo).
    shard& owner_of(uint64_t socket_id) { return *shards[(socket_id - 1) % shards.size()]; }

    // The key a client address is counted under (IPv6 grouped by --ipv6-prefix).
    std::string address_key_of(std::string_view address) const { return address_key(address, config.ipv6_prefix); }

    // Takes one place under --max-sockets for a socket about to open; false if none is left.
    // The caller gives it back (release_place) once the socket has joined the registry or failed.
    bool take_place() {
        if (registry.socket_count() + handshakes.fetch_add(1) < config.max_sockets) return true;
        --handshakes;
        return false;
    }
    void release_place() { --handshakes; }

    // Encodes and frames each event once; every socket of the user, on every shard, shares these bytes.
    std::vector<outgoing> frame_events(const std::vector<consumers::event>& batch);
};

// One io thread and the sockets it owns outright: their websocketpp server, their timers,
// their replays. Only shards[0] listens: it deals accepted connections to the shards in turn.
struct gateway::shard {
    impl& worker;
    const std::size_t index;
    const gateway_config& config;
    const jwt_verifier& verifier;
    const gateway_hooks& hooks;
    const origin_list& origins;
    const proxy_list& proxies;
    address_limits& per_address;
    socket_registry& registry;

    asio::io_context io;
    server_type server;
    server_type admin;  // /metrics and health, on the admin address (shards[0] only)
    asio::ip::tcp::acceptor acceptor{io};
    asio::ip::tcp::acceptor admin_acceptor{io};
    gateway_metrics metrics;
    uint16_t admin_port = 0;
    std::unordered_map<uint64_t, connection_hdl> awaiting;  // open and waiting for auth, by id
    bool draining = false;
    // Degraded mode: sockets are told when delivery stops and when it is back.
    const char* degraded = nullptr;  // the reason announced; null: delivering
    bool delivered_once = false;     // not degraded before the reader was ever ready
    uint16_t bound_port = 0;
    long ticks = 0;
    uint64_t batch_seq = 0;
    // Frames queued since the last flush_writes, per socket, and the batches they point into.
    struct pending_write {
        connection_ptr con;
        std::vector<const outgoing*> items;
    };
    std::vector<pending_write> writes;
    std::vector<std::shared_ptr<const std::vector<outgoing>>> pending_batches;
    uint64_t write_round = 1;
    bool flush_posted = false;
    uint64_t next_socket_id;  // index + 1, then steps of the shard count
    std::size_t next_shard = 0;  // shards[0]: where the next accepted connection goes
    std::unordered_map<uint64_t, connection_hdl> replaying;  // sockets catching up, by id
    // Replay pacing: batches posted to the io thread and not yet sent, per socket.
    std::mutex pace_mutex;
    std::condition_variable pace_cv;
    std::unordered_map<uint64_t, int> in_flight;
    int64_t last_slow_log_ms = 0;
    // Connection lifecycle lines: the worker's budget a second, split over the shards.
    int lifecycle_budget;
    int64_t lifecycle_window_ms = 0;
    int lifecycle_lines = 0;
    uint64_t lifecycle_suppressed = 0;
    int64_t last_accept_log_ms = 0;
    uint64_t slow_logs_suppressed = 0;
    asio::steady_timer tick_timer{io};
    asio::steady_timer drain_timer{io};

    shard(impl& w, std::size_t i)
        : worker(w),
          index(i),
          config(w.config),
          verifier(w.verifier),
          hooks(w.hooks),
          origins(w.origins),
          proxies(w.proxies),
          per_address(w.per_address),
          registry(w.registry),
          next_socket_id(i + 1),
          lifecycle_budget(std::max<int>(1, lifecycle_logs_per_second / static_cast<int>(w.config.io_threads))) {}

    // Sets up the servers; shards[0] also binds and starts accepting.
    void listen();

    // Takes over a connection shards[0] accepted: its descriptor and its per-address place.
    void adopt(asio::ip::tcp protocol, int fd, address_limits::ticket place);

    // Closes a socket of another shard, on that shard's thread.
    void close_elsewhere(const socket_registry::member& m, uint16_t code, const std::string& why, disconnect_reason reason);

    // Binds an acceptor; throws std::runtime_error naming what failed.
    static uint16_t bind(asio::ip::tcp::acceptor& a, const std::string& host, uint16_t port, const char* what);

    // shards[0]: accepts public connections and deals them to the shards in turn. Out of
    // file descriptors, it waits and retries instead of spinning; a direct peer past its
    // per-address cap is closed at once.
    void accept_public();

    // shards[0]: accepts admin connections.
    void accept_admin();

    // After a failed accept: counts it and calls `again` now, or in 100 ms when out of
    // descriptors or memory (a retry at once would fail again).
    void accept_later(const std::error_code& ec, void (shard::*again)());

    // The /healthz, /readyz and /metrics answers; false for any other path.
    bool serve_status(const connection_ptr& con, std::string_view path, bool with_metrics);

    void on_admin_http(connection_hdl h);

    void log_accept_error(const std::error_code& ec);

    // Logs one lifecycle event (open, close, auth refused) at info, unless this second's
    // budget is spent; the next line that gets through says how many were left out.
    template <typename... Args>
    void log_lifecycle(spdlog::format_string_t<Args...> format, Args&&... args) {
        const int64_t now = now_ms();
        if (now - lifecycle_window_ms >= 1000) {
            lifecycle_window_ms = now;
            lifecycle_lines = 0;
        }
        if (lifecycle_lines >= lifecycle_budget) {
            ++lifecycle_suppressed;
            return;
        }
        ++lifecycle_lines;
        if (lifecycle_suppressed) {
            spdlog::info("{} connection events not logged (over {} a second)", lifecycle_suppressed,
                         lifecycle_logs_per_second);
            lifecycle_suppressed = 0;
        }
        spdlog::info(format, std::forward<Args>(args)...);
    }

    // Loads --tls-cert-file and --tls-key-file into a new context for the sockets to come.
    // Throws std::runtime_error naming the file or setting that failed.
    optional_tls::context_ptr load_tls() const;

    void on_tcp_pre_init(connection_hdl h);

    // Upgrade requests: path, capacity, then the token. The user comes from the token only.
    bool on_validate(connection_hdl h);

    // ?resume=<id> (resume after the id) or ?since=<ms>[&run_id=<run>] (late join).
    bool read_replay_params(const connection_ptr& con);

    void on_http(connection_hdl h);

    void on_open(connection_hdl h);

    void start_replay(const connection_ptr& con, connection_hdl h);

    // Close and fail handlers: the socket is gone; count it once.
    void on_end(connection_hdl h, disconnect_reason fallback);

    void on_message(connection_hdl h, server_type::message_ptr m);

    // The first message of a socket opened without a token: auth, or a readable refusal.
    void authenticate(const connection_ptr& con, connection_hdl h, const client_message& request);

    // The socket waits for its auth message no longer (it sent one, timed out or ended): it
    // gives its place under --max-pending-auth back and later messages are held to
    // --max-inbound-bytes.
    void stop_awaiting(const connection_ptr& con);

    // --auth-timeout-ms passed without an auth message: the place goes back now, then 4408.
    void auth_timed_out(connection_hdl h);

    // A later auth message: a fresh token for the same user extends the socket's life.
    std::string renew_token(const connection_ptr& con, const client_message& request);

    // The socket joins its user's sockets: replay first if one was asked for.
    void join(const connection_ptr& con, connection_hdl h);

    void close_socket(connection_hdl h, uint16_t code, const std::string& why, disconnect_reason reason);

    // On the io thread: queue each event for its user's sockets here, oldest socket first,
    // and post flush_writes unless it is posted already.
    void send_batch(std::shared_ptr<const std::vector<outgoing>> items);

    // Writes every socket's queued frames, each socket's in one go. Posted behind the batches
    // already waiting, so under load one write carries the frames of several batches.
    void flush_writes();
    void write_pending(pending_write& w, int64_t now);

    // A control frame or reply: the socket's queued event frames go first, so order holds.
    void send_text(const connection_ptr& con, const std::string& text);

    // Sends event frames to one socket, in order. On a plaintext socket with nothing queued or
    // being written: one non-blocking sendmsg of them all (up to max_gathered_frames), past
    // websocketpp's queue; what the kernel does not take then (or everything otherwise) is
    // queued by websocketpp, which writes queued frames together, so frames stay whole and in order.
    std::error_code send_frames(const connection_ptr& con, const std::vector<const outgoing*>& items);

    // Bytes not yet taken by the client: websocketpp's queue, and the kernel's unsent bytes
    // (asked of the kernel only when they could take the socket past the limit).
    std::size_t unsent_bytes(const connection_ptr& con) const;

    // A reader is slow when its unsent bytes stay past the limit for slow_grace_ms, or reach
    // slow_hard_factor times the limit. Measured when a batch begins: within one batch a
    // socket may grow by at most that batch (bounded by the reader).
    bool falling_behind(socket_state& socket, std::size_t buffered, int64_t now) const;

    // Live events for a socket still catching up wait, bounded by its send buffer size.
    void hold_live(const connection_ptr& con, connection_hdl h, const outgoing& item, std::vector<connection_hdl>& slow);

    void stop_replay(uint64_t id);

    // On the io thread: one replayed batch for one socket.
    void send_replay(uint64_t id, const std::vector<outgoing>& batch);

    // The replay goes at the socket's pace: its next batch waits until the socket has written
    // out all but half its send buffer.
    void wait_for_drain(uint64_t id);

    void release_replay_batch(uint64_t id);

    // True if the replay already sent this live event on the socket. Forgets a partition's
    // splice point once the live reader has passed it.
    static bool replayed_already(socket_state& socket, const outgoing& item);

    // On the io thread: the replay ended; splice the held live events and go live.
    void finish_replay(uint64_t id, const consumers::replay_result& result);

    void send_control(const connection_ptr& con, std::string_view type, const std::string& payload);

    // At most one line a second, however many sockets fall behind at once.
    void log_slow_reader(const socket_state& socket);

    // Once a second: close sockets whose token expired; ping every ping interval.
    void schedule_tick();

    void tick();

    // Why this worker cannot deliver now ("starting", "kafka_unavailable", ...); null when it can.
    const char* not_ready_reason() const { return hooks.not_ready_reason ? hooks.not_ready_reason() : "starting"; }

    // Once a tick: tells every socket when delivery degrades and when it is back.
    void announce_delivery_state();

    // The status frame for the current state.
    std::string status_frame() const;

    void begin_drain();

    void finish();
};

}  // namespace bridge::gateway
