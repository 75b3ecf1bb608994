#include <charconv>
#include <stdexcept>

#include "ws_gateway/gateway_impl.hpp"
#include "ws_gateway/request_params.hpp"

namespace bridge::gateway {

namespace {

// The token from "Authorization: Bearer <jwt>", else from ?access_token=.
std::string token_of(const connection_ptr& con) {
    std::string token = bearer_token(con->get_request_header("Authorization"));
    return token.empty() ? query_param(con->get_resource(), "access_token") : token;
}

}  // namespace

void gateway::impl::listen() {
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

void gateway::impl::on_tcp_pre_init(connection_hdl h) {
    std::error_code ec;
    if (auto con = server.get_con_from_hdl(h, ec)) con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

// Upgrade requests: path, capacity, then the token. The user comes from the token only.
bool gateway::impl::on_validate(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec) return false;
    if (path_of(con->get_resource()) != "/ws") {
        con->set_status(websocketpp::http::status_code::not_found);
        return false;
    }
    // A worker that does not read Kafka yet (starting, or the broker is away) takes no new
    // socket: it could not deliver, and a resume would splice onto a reader not yet there.
    const bool reading = hooks.ready && hooks.ready();
    if (draining || !reading || registry.socket_count() + handshakes >= config.max_sockets) {
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
bool gateway::impl::read_replay_params(const connection_ptr& con) {
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

void gateway::impl::on_http(connection_hdl h) {
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

void gateway::impl::on_open(connection_hdl h) {
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

// Close and fail handlers: the socket is gone; count it once.
void gateway::impl::on_end(connection_hdl h, disconnect_reason fallback) {
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

void gateway::impl::on_message(connection_hdl h, server_type::message_ptr m) {
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
    if (con->get_buffered_amount() + reply.size() > slow_hard_factor * config.send_buffer_bytes)
        return close_socket(h, close_slow_reader, "send buffer full", disconnect_reason::slow_reader);
    con->send(reply, websocketpp::frame::opcode::text);
}

void gateway::impl::close_socket(connection_hdl h, uint16_t code, const std::string& why, disconnect_reason reason) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec || con->closing) return;
    con->closing = true;
    con->reason = reason;
    if (con->registered) registry.leave(con->user, h);
    con->registered = false;
    con->close(code, why, ec);
}

// At most one line a second, however many sockets fall behind at once.
void gateway::impl::log_slow_reader(std::size_t buffered) {
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
void gateway::impl::schedule_tick() {
    tick_timer.expires_after(std::chrono::seconds(1));
    tick_timer.async_wait([this](const std::error_code& ec) {
        if (ec || draining) return;
        tick();
        schedule_tick();
    });
}

void gateway::impl::tick() {
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

void gateway::impl::begin_drain() {
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

void gateway::impl::finish() {
    drain_timer.cancel();
    io.stop();
}

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


}  // namespace bridge::gateway
