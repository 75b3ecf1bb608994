#include "ws_gateway/gateway.hpp"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "consumers/cursor.hpp"
#include "ws_gateway/client_message.hpp"
#include "ws_gateway/frame.hpp"
#include "ws_gateway/gateway_metrics.hpp"
#include "ws_gateway/socket_registry.hpp"

namespace bridge::gateway {

namespace {

// Close codes; docs/protocol.md lists them for clients.
constexpr uint16_t close_replaced = 4001;
constexpr uint16_t close_slow_reader = 4002;
constexpr uint16_t close_pong_timeout = 4003;
constexpr uint16_t close_token_expired = 4004;
constexpr uint16_t close_try_again = 1013;  // a replay could not run now: reconnect with the same cursor

// Per-connection state, carried by websocketpp's connection object itself.
struct outgoing;

struct socket_state {
    uint64_t id = 0;
    std::string user;
    std::string thread_filter;  // empty: every thread
    int64_t token_expires_at = 0;
    bool validated = false;  // counted in gateway's pending handshakes until it opens or fails
    bool opened = false;
    bool registered = false;
    bool closing = false;
    uint64_t batch_seen = 0;           // last batch that measured this socket's send buffer
    std::size_t buffered_at_batch = 0;  // bytes still unsent when that batch began
    disconnect_reason reason = disconnect_reason::client;
    // Replay (resume or late join): asked for, running, and the live events held meanwhile.
    consumers::replay_request replay;
    bool replay_asked = false;
    bool catching_up = false;
    bool sent_event = false;  // a resume message after an event came is refused
    std::vector<outgoing> held_live;
    std::size_t held_bytes = 0;
};

struct ws_config : websocketpp::config::asio {
    typedef ws_config type;
    typedef socket_state connection_base;
    static const std::size_t connection_read_buffer_size = 4096;  // client messages are small
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


int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string_view path_of(std::string_view resource) { return resource.substr(0, resource.find('?')); }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The value of one query parameter, percent-decoded; empty if absent or badly encoded.
std::string query_param(std::string_view resource, std::string_view name) {
    const auto q = resource.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = resource.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
        std::string out;
        const std::string_view raw = pair.substr(eq + 1);
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%') {
                if (i + 2 >= raw.size()) return {};
                const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
                if (hi < 0 || lo < 0) return {};
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
            } else {
                out += raw[i] == '+' ? ' ' : raw[i];
            }
        }
        return out;
    }
    return {};
}

// The token from "Authorization: Bearer <jwt>", else from ?access_token=.
std::string token_of(const connection_ptr& con) {
    const std::string& auth = con->get_request_header("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (auth.size() > scheme.size() && auth.compare(0, scheme.size(), scheme) == 0) return auth.substr(scheme.size());
    return query_param(con->get_resource(), "access_token");
}

}  // namespace

struct gateway::impl {
    gateway_config config;
    jwt_verifier verifier;
    gateway_hooks hooks;

    asio::io_context io;
    server_type server;
    socket_registry registry;
    gateway_metrics metrics;
    std::size_t handshakes = 0;  // upgrades validated, not yet open
    bool draining = false;
    uint16_t bound_port = 0;
    long ticks = 0;
    uint64_t batch_seq = 0;
    uint64_t next_socket_id = 1;
    std::unordered_map<uint64_t, connection_hdl> replaying;  // sockets catching up, by id
    // Replay pacing: batches posted to the io thread and not yet sent, per socket.
    std::mutex pace_mutex;
    std::condition_variable pace_cv;
    std::unordered_map<uint64_t, int> in_flight;
    int64_t last_slow_log_ms = 0;
    uint64_t slow_logs_suppressed = 0;
    asio::steady_timer tick_timer{io};
    asio::steady_timer drain_timer{io};

    // Reading-thread state for framing: no deflate, server side, so frames are identical.
    ws_config::rng_type rng;
    std::shared_ptr<ws_config::con_msg_manager_type> framing_messages =
        std::make_shared<ws_config::con_msg_manager_type>();
    websocketpp::processor::hybi13<ws_config> framer{false, true, framing_messages, rng};

    impl(gateway_config c, jwt_verifier v, gateway_hooks h)
        : config(std::move(c)), verifier(std::move(v)), hooks(std::move(h)), registry(config.max_sockets_per_user) {}

    void listen() {
        using namespace std::placeholders;
        server.clear_access_channels(websocketpp::log::alevel::all);
        server.clear_error_channels(websocketpp::log::elevel::all);
        server.init_asio(&io);
        server.set_reuse_addr(true);
        server.set_listen_backlog(asio::socket_base::max_listen_connections);
        server.set_max_message_size(config.max_inbound_bytes);
        server.set_max_http_body_size(4096);
        server.set_pong_timeout(config.pong_timeout_ms);
        server.set_tcp_pre_init_handler([this](connection_hdl h) { on_tcp_pre_init(h); });
        server.set_validate_handler([this](connection_hdl h) { return on_validate(h); });
        server.set_http_handler([this](connection_hdl h) { on_http(h); });
        server.set_open_handler([this](connection_hdl h) { on_open(h); });
        server.set_close_handler([this](connection_hdl h) { on_end(h, disconnect_reason::client); });
        server.set_fail_handler([this](connection_hdl h) { on_end(h, disconnect_reason::error); });
        server.set_message_handler([this](connection_hdl h, server_type::message_ptr m) { on_message(h, m); });
        server.set_pong_timeout_handler([this](connection_hdl h, std::string) {
            close_socket(h, close_pong_timeout, "pong timeout", disconnect_reason::pong_timeout);
        });

        std::error_code ec;
        const auto address = asio::ip::make_address(config.listen_host, ec);
        if (ec) throw std::runtime_error("listen address " + config.listen_host + ": " + ec.message());
        server.listen(asio::ip::tcp::endpoint(address, config.port), ec);
        if (ec) throw std::runtime_error("listen on port " + std::to_string(config.port) + ": " + ec.message());
        bound_port = server.get_local_endpoint(ec).port();
        server.start_accept(ec);
        if (ec) throw std::runtime_error("accept: " + ec.message());
        schedule_tick();
    }

    void on_tcp_pre_init(connection_hdl h) {
        std::error_code ec;
        if (auto con = server.get_con_from_hdl(h, ec)) con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);
    }

    // Upgrade requests: path, capacity, then the token. The user comes from the token only.
    bool on_validate(connection_hdl h) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return false;
        if (path_of(con->get_resource()) != "/ws") {
            con->set_status(websocketpp::http::status_code::not_found);
            return false;
        }
        if (draining || registry.socket_count() + handshakes >= config.max_sockets) {
            con->set_status(websocketpp::http::status_code::service_unavailable);
            return false;
        }
        verified_token token;
        const auth_error err = verifier.verify(token_of(con), now_ms() / 1000, token);
        if (err != auth_error::none) {
            ++metrics.auth_failures[static_cast<std::size_t>(err)];
            con->set_status(websocketpp::http::status_code::unauthorized);
            con->append_header("WWW-Authenticate", "Bearer");
            con->set_body("unauthorized: " + std::string(to_string(err)) + "\n");
            return false;
        }
        con->user = std::move(token.subject);
        con->token_expires_at = token.expires_at;
        if (!read_replay_params(con)) {
            con->set_status(websocketpp::http::status_code::bad_request);
            con->set_body("bad resume, since or run_id parameter\n");
            return false;
        }
        con->validated = true;
        ++handshakes;
        return true;
    }

    // ?resume=<id> (resume after the id) or ?since=<ms>[&run_id=<run>] (late join).
    bool read_replay_params(const connection_ptr& con) {
        const std::string& resource = con->get_resource();
        auto& r = con->replay;
        r.user_id = con->user;
        r.cursor = query_param(resource, "resume");
        r.run_id = query_param(resource, "run_id");
        const std::string since = query_param(resource, "since");
        if (!since.empty()) {
            const auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), r.since_ms);
            if (ec != std::errc() || end != since.data() + since.size() || r.since_ms < 0) return false;
        }
        if (r.cursor.size() > 512 || r.run_id.size() > 256) return false;
        con->replay_asked = !r.cursor.empty() || r.since_ms >= 0;
        return true;
    }

    void on_http(connection_hdl h) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return;
        const std::string_view path = path_of(con->get_resource());
        auto reply = [&](websocketpp::http::status_code::value status, std::string body, const char* type) {
            con->set_status(status);
            con->replace_header("Content-Type", type);
            con->set_body(std::move(body));
        };
        if (path == "/healthz") return reply(websocketpp::http::status_code::ok, "ok\n", "text/plain");
        if (path == "/readyz") {
            const bool ready = !draining && hooks.ready && hooks.ready();
            return reply(ready ? websocketpp::http::status_code::ok : websocketpp::http::status_code::service_unavailable,
                         ready ? "ready\n" : "not ready\n", "text/plain");
        }
        if (path == "/metrics") {
            std::string text = metrics.text();
            if (hooks.metrics) text += hooks.metrics();
            return reply(websocketpp::http::status_code::ok, std::move(text), "text/plain; version=0.0.4");
        }
        if (path == "/ws") return reply(websocketpp::http::status_code::upgrade_required, "websocket upgrade required\n", "text/plain");
        reply(websocketpp::http::status_code::not_found, "not found\n", "text/plain");
    }

    void on_open(connection_hdl h) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return;
        if (con->validated) --handshakes;
        con->validated = false;
        con->opened = true;
        ++metrics.sockets_open;
        ++metrics.connects;
        if (draining) return close_socket(h, websocketpp::close::status::going_away, "shutting down", disconnect_reason::shutdown);
        con->registered = true;
        con->id = next_socket_id++;
        // Catching up starts before the socket joins, so no live event slips past the hold.
        if (con->replay_asked) start_replay(con, h);
        if (auto oldest = registry.join(con->user, h))
            close_socket(*oldest, close_replaced, "too many sockets for this user", disconnect_reason::replaced);
    }

    void start_replay(const connection_ptr& con, connection_hdl h) {
        con->catching_up = true;
        con->replay.socket_id = con->id;
        replaying[con->id] = h;
        {
            std::lock_guard<std::mutex> lock(pace_mutex);
            in_flight[con->id] = 0;
        }
        if (hooks.replay)
            hooks.replay(con->replay);
        else
            finish_replay(con->id, {consumers::replay_status::unavailable, "no replay source", {}});
    }

    // Close and fail handlers: the socket is gone; count it once.
    void on_end(connection_hdl h, disconnect_reason fallback) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return;
        if (con->validated) --handshakes;  // a validated upgrade that never opened
        con->validated = false;
        if (!con->opened) return;
        con->opened = false;
        if (con->catching_up) stop_replay(con->id);
        if (con->registered) registry.leave(con->user, h);
        con->registered = false;
        --metrics.sockets_open;
        ++metrics.disconnects[static_cast<std::size_t>(con->closing ? con->reason : fallback)];
        if (draining && metrics.sockets_open == 0) finish();
    }

    void on_message(connection_hdl h, server_type::message_ptr m) {
        client_message request;
        if (m->get_opcode() == websocketpp::frame::opcode::text)
            request = parse_client_message(m->get_payload());
        else
            request.error = "binary messages are not accepted";
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return;
        std::string reply;
        switch (request.what) {
            case client_message::kind::subscribe:
                con->thread_filter = request.thread_id;
                reply = encode_control_frame("subscribed", "{\"thread_id\":" + json_string(request.thread_id) + "}");
                break;
            case client_message::kind::unsubscribe:
                con->thread_filter.clear();
                reply = encode_control_frame("unsubscribed", "{}");
                break;
            case client_message::kind::resume:
                if (con->sent_event || con->replay_asked) {
                    reply = encode_control_frame("error", "{\"code\":\"bad_request\",\"message\":"
                                                          "\"resume must come first, before any event; or use ?resume=\"}");
                    break;
                }
                con->replay_asked = true;
                con->replay.user_id = con->user;
                con->replay.cursor = request.id;
                return start_replay(con, h);
            case client_message::kind::invalid:
                reply = encode_control_frame(
                    "error", "{\"code\":\"bad_request\",\"message\":" + json_string(request.error) + "}");
                break;
        }
        if (con->get_buffered_amount() + reply.size() > config.send_buffer_bytes)
            return close_socket(h, close_slow_reader, "send buffer full", disconnect_reason::slow_reader);
        con->send(reply, websocketpp::frame::opcode::text);
    }

    void close_socket(connection_hdl h, uint16_t code, const std::string& why, disconnect_reason reason) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec || con->closing) return;
        con->closing = true;
        con->reason = reason;
        if (con->registered) registry.leave(con->user, h);
        con->registered = false;
        con->close(code, why, ec);
    }

    // On the io thread: send each event to its user's sockets, oldest socket first.
    // A socket is slow when what earlier batches queued on it is still unsent past the limit;
    // within one batch it may exceed the limit by at most that batch (bounded by the reader).
    void send_batch(const std::vector<outgoing>& batch) {
        const int64_t now = now_ms();
        ++batch_seq;
        std::vector<connection_hdl> slow;
        for (const auto& item : batch) {
            const auto* sockets = registry.sockets_of(item.user);
            if (!sockets) continue;
            for (const auto& h : *sockets) {
                std::error_code ec;
                auto con = server.get_con_from_hdl(h, ec);
                if (ec || con->closing) continue;
                if (!con->thread_filter.empty() && con->thread_filter != item.thread_id) continue;
                if (con->catching_up) {
                    hold_live(con, h, item, slow);
                    continue;
                }
                if (con->batch_seen != batch_seq) {
                    con->batch_seen = batch_seq;
                    con->buffered_at_batch = con->get_buffered_amount();
                }
                if (con->buffered_at_batch > config.send_buffer_bytes) {
                    con->closing = true;  // skip it for the rest of the batch; closed below
                    slow.push_back(h);
                    continue;
                }
                if (con->send(item.frame)) continue;
                con->sent_event = true;
                ++metrics.delivered[item.type_index];
                metrics.latency.observe(static_cast<double>(now - item.timestamp_ms) / 1000.0);
            }
        }
        for (const auto& h : slow) {
            std::error_code ec;
            auto con = server.get_con_from_hdl(h, ec);
            if (ec) continue;
            con->closing = false;
            log_slow_reader(con->buffered_at_batch);
            close_socket(h, close_slow_reader, "send buffer full: reconnect and resume", disconnect_reason::slow_reader);
        }
    }

    // Live events for a socket still catching up wait, bounded by its send buffer size.
    void hold_live(const connection_ptr& con, connection_hdl h, const outgoing& item, std::vector<connection_hdl>& slow) {
        con->held_bytes += item.frame->get_payload().size();
        if (con->held_bytes > config.send_buffer_bytes) {
            con->closing = true;
            slow.push_back(h);
            return;
        }
        con->held_live.push_back(item);
    }

    void stop_replay(uint64_t id) {
        replaying.erase(id);
        {
            std::lock_guard<std::mutex> lock(pace_mutex);
            in_flight.erase(id);
        }
        pace_cv.notify_all();
        if (hooks.cancel_replay) hooks.cancel_replay(id);
    }

    // On the io thread: one replayed batch for one socket.
    void send_replay(uint64_t id, const std::vector<outgoing>& batch) {
        {
            std::lock_guard<std::mutex> lock(pace_mutex);
            if (auto it = in_flight.find(id); it != in_flight.end()) --it->second;
        }
        pace_cv.notify_all();
        const auto it = replaying.find(id);
        if (it == replaying.end()) return;
        std::error_code ec;
        auto con = server.get_con_from_hdl(it->second, ec);
        if (ec || con->closing) return;
        if (con->get_buffered_amount() > config.send_buffer_bytes)
            return close_socket(it->second, close_slow_reader, "send buffer full: reconnect and resume",
                                disconnect_reason::slow_reader);
        for (const auto& item : batch) {
            if (!con->thread_filter.empty() && con->thread_filter != item.thread_id) continue;
            if (!con->send(item.frame)) con->sent_event = true;
        }
    }

    // On the io thread: the replay ended; splice the held live events and go live.
    void finish_replay(uint64_t id, const consumers::replay_result& result) {
        const auto it = replaying.find(id);
        if (it == replaying.end()) return;
        const connection_hdl h = it->second;
        stop_replay(id);
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec || con->closing) return;
        con->catching_up = false;
        std::vector<outgoing> held = std::move(con->held_live);
        con->held_live.clear();
        con->held_bytes = 0;
        using consumers::replay_status;
        switch (result.status) {
            case replay_status::done:
                send_control(con, "resumed", "{}");
                break;
            case replay_status::failed:
                if (result.reason == "cancelled")
                    return close_socket(h, close_slow_reader, "replay too slow: reconnect and resume",
                                        disconnect_reason::slow_reader);
                send_control(con, "resume_failed", "{\"reason\":" + json_string(result.reason) + "}");
                break;
            case replay_status::truncated:
                send_control(con, "resume_truncated", "{\"reason\":" + json_string(result.reason) + "}");
                return close_socket(h, close_slow_reader, "replay cut short: resume from the last id",
                                    disconnect_reason::slow_reader);
            case replay_status::unavailable:
                return close_socket(h, close_try_again, "replay unavailable: try again", disconnect_reason::error);
        }
        // A held event at or below the offset the replay read in its partition was replayed.
        for (const auto& item : held) {
            bool replayed = false;
            for (const auto& sp : result.splice)
                if (sp.partition == item.partition && sp.topic == item.topic && item.offset <= sp.last_offset)
                    replayed = true;
            if (replayed || (!con->thread_filter.empty() && con->thread_filter != item.thread_id)) continue;
            if (con->send(item.frame)) continue;
            con->sent_event = true;
            ++metrics.delivered[item.type_index];
        }
    }

    void send_control(const connection_ptr& con, std::string_view type, const std::string& payload) {
        con->send(encode_control_frame(type, payload), websocketpp::frame::opcode::text);
    }

    // Encodes and frames each event once; every socket of the user shares these bytes.
    std::vector<outgoing> frame_events(const std::vector<consumers::event>& batch) {
        std::vector<outgoing> ready;
        ready.reserve(batch.size());
        for (const auto& e : batch) {
            auto text = framing_messages->get_message(websocketpp::frame::opcode::text, 0);
            text->get_raw_payload() =
                encode_event_frame(e.envelope, consumers::format_cursor(e.topic, e.partition, e.offset, e.timestamp_ms));
            auto framed = framing_messages->get_message();
            if (framer.prepare_data_frame(text, framed)) continue;
            ready.push_back({e.envelope.user_id, e.envelope.thread_id, std::string(e.topic), e.partition, e.offset,
                             event_type_index(e.envelope.type), e.timestamp_ms, std::move(framed)});
        }
        return ready;
    }

    // At most one line a second, however many sockets fall behind at once.
    void log_slow_reader(std::size_t buffered) {
        const int64_t now = now_ms();
        if (now - last_slow_log_ms < 1000) {
            ++slow_logs_suppressed;
            return;
        }
        spdlog::warn("closing slow socket: {} bytes unsent (limit {}), suppressed since last: {}", buffered,
                     config.send_buffer_bytes, slow_logs_suppressed);
        last_slow_log_ms = now;
        slow_logs_suppressed = 0;
    }

    // Once a second: close sockets whose token expired; ping every ping interval.
    void schedule_tick() {
        tick_timer.expires_after(std::chrono::seconds(1));
        tick_timer.async_wait([this](const std::error_code& ec) {
            if (ec || draining) return;
            tick();
            schedule_tick();
        });
    }

    void tick() {
        ++ticks;
        const int64_t now_s = now_ms() / 1000;
        const bool ping = config.ping_interval_ms > 0 && (ticks * 1000) % config.ping_interval_ms < 1000;
        std::vector<connection_hdl> expired;
        registry.for_each([&](const connection_hdl& h) {
            std::error_code ec;
            auto con = server.get_con_from_hdl(h, ec);
            if (ec) return;
            if (con->token_expires_at <= now_s) return expired.push_back(h);
            if (ping) con->ping("", ec);
        });
        for (const auto& h : expired) close_socket(h, close_token_expired, "token expired", disconnect_reason::token_expired);
    }

    void begin_drain() {
        if (draining) return;
        draining = true;
        spdlog::info("draining: closing {} sockets", registry.socket_count());
        tick_timer.cancel();
        std::error_code ec;
        server.stop_listening(ec);
        std::vector<connection_hdl> all;
        registry.for_each([&](const connection_hdl& h) { all.push_back(h); });
        for (const auto& h : all) close_socket(h, websocketpp::close::status::going_away, "shutting down", disconnect_reason::shutdown);
        if (metrics.sockets_open == 0) return finish();
        drain_timer.expires_after(std::chrono::milliseconds(config.drain_timeout_ms));
        drain_timer.async_wait([this](const std::error_code& e) {
            if (e) return;
            spdlog::warn("drain timeout: {} sockets still open", metrics.sockets_open);
            finish();
        });
    }

    void finish() {
        drain_timer.cancel();
        io.stop();
    }
};

gateway::gateway(gateway_config config, jwt_verifier verifier, gateway_hooks hooks)
    : impl_(std::make_unique<impl>(std::move(config), std::move(verifier), std::move(hooks))) {
    impl_->listen();
}

gateway::~gateway() = default;

uint16_t gateway::port() const { return impl_->bound_port; }

void gateway::run() { impl_->io.run(); }

void gateway::shutdown() {
    asio::post(impl_->io, [this] { impl_->begin_drain(); });
}

bool gateway::wants(const std::string& user_id) const { return impl_->registry.has_user(user_id); }

void gateway::deliver(const std::vector<consumers::event>& batch) {
    asio::post(impl_->io, [this, items = impl_->frame_events(batch)] { impl_->send_batch(items); });
}

bool gateway::replay_events(uint64_t socket_id, const std::vector<consumers::event>& batch) {
    auto& s = *impl_;
    auto items = s.frame_events(batch);
    // Pace the replay to the socket: at most two batches waiting on the io thread.
    {
        std::unique_lock<std::mutex> lock(s.pace_mutex);
        const bool room = s.pace_cv.wait_for(lock, std::chrono::seconds(10), [&] {
            const auto it = s.in_flight.find(socket_id);
            return it == s.in_flight.end() || it->second < 2;
        });
        const auto it = s.in_flight.find(socket_id);
        if (!room || it == s.in_flight.end()) return false;
        ++it->second;
    }
    asio::post(s.io, [this, socket_id, items = std::move(items)] { impl_->send_replay(socket_id, items); });
    return true;
}

void gateway::replay_finished(uint64_t socket_id, consumers::replay_result result) {
    asio::post(impl_->io, [this, socket_id, result = std::move(result)] { impl_->finish_replay(socket_id, result); });
}

}  // namespace bridge::gateway
