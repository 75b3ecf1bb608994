#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "ws_gateway/gateway_impl.hpp"
#include "ws_gateway/request_params.hpp"

namespace bridge::gateway {

namespace {

// The token from "Authorization: Bearer <jwt>", else from ?access_token=. `absent` when the
// request has neither (a browser that will authenticate with its first message); an
// Authorization header of another scheme is a token that fails, not an absent one.
param_status token_of(const connection_ptr& con, std::string& token) {
    const std::string& authorization = con->get_request_header("Authorization");
    token = bearer_token(authorization);
    if (!authorization.empty()) return param_status::ok;
    return query_param(con->get_resource(), "access_token", token);
}

// A connection's peer address as text; empty if the socket is already gone.
std::string peer_of(const asio::ip::tcp::socket& socket) {
    std::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return {};
    auto address = endpoint.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    return address.to_string(ec);
}

// Out of descriptors (EMFILE, ENFILE) or buffers: an accept retried at once fails again.
bool out_of_resources(const std::error_code& ec) {
    return ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
           ec == asio::error::no_memory;
}

}  // namespace

gateway::impl::impl(gateway_config c, jwt_verifier v, gateway_hooks h)
    : config(std::move(c)),
      verifier(std::move(v)),
      hooks(std::move(h)),
      origins(config.allowed_origins),
      proxies(config.trusted_proxies),
      per_address(config.max_connections_per_address),
      connection_rates(config.address_connections_per_second, config.address_connection_burst),
      pending_auth(config.max_pending_auth_per_address, config.max_pending_auth),
      registry(config.max_sockets_per_user) {
    if (config.io_threads == 0) config.io_threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < config.io_threads; ++i) shards.push_back(std::make_unique<shard>(*this, i));
}

uint16_t gateway::shard::bind(asio::ip::tcp::acceptor& a, const std::string& host, uint16_t port, const char* what) {
    std::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) throw std::runtime_error(std::string(what) + " address " + host + ": " + ec.message());
    const asio::ip::tcp::endpoint endpoint(address, port);
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error(std::string(what) + " on " + host + ":" + std::to_string(port) + ": " + ec.message());
    return a.local_endpoint(ec).port();
}

void gateway::shard::listen() {
    using namespace std::placeholders;
    for (auto* s : {&server, &admin}) {
        s->clear_access_channels(websocketpp::log::alevel::all);
        s->clear_error_channels(websocketpp::log::elevel::all);
        s->init_asio(&io);
        s->set_max_http_body_size(4096);
    }
    server.set_max_message_size(config.max_inbound_bytes);
    server.set_pong_timeout(config.pong_timeout_ms);
    server.set_user_agent("agent-event-bridge");
    admin.set_user_agent("agent-event-bridge");
    server.set_tcp_pre_init_handler([this](connection_hdl h) { on_tcp_pre_init(h); });
    server.set_validate_handler([this](connection_hdl h) { return on_validate(h); });
    server.set_http_handler([this](connection_hdl h) { on_http(h); });
    server.set_open_handler([this](connection_hdl h) { on_open(h); });
    server.set_close_handler([this](connection_hdl h) { on_end(h, disconnect_reason::client); });
    server.set_fail_handler([this](connection_hdl h) { on_end(h, disconnect_reason::error); });
    server.set_message_handler([this](connection_hdl h, server_type::message_ptr m) { on_message(h, m); });
    // Client pings share the message budget: each costs a pong write.
    server.set_ping_handler([this](connection_hdl h, std::string) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec || con->closing) return false;
        if (con->messages.take(now_ms(), config.client_messages_per_second, config.client_message_burst)) return true;
        close_socket(h, close_policy, "rate limit: too many client messages", disconnect_reason::rate_limited);
        return false;
    });
    server.set_pong_timeout_handler([this](connection_hdl h, std::string) {
        close_socket(h, close_pong_timeout, "pong timeout", disconnect_reason::pong_timeout);
    });
    // The admin listener answers plain HTTP only.
    admin.set_http_handler([this](connection_hdl h) { on_admin_http(h); });
    admin.set_validate_handler([this](connection_hdl h) {
        std::error_code ec;
        if (auto con = admin.get_con_from_hdl(h, ec)) con->set_status(websocketpp::http::status_code::not_found);
        return false;
    });

    if (!config.tls_cert_file.empty()) server.set_tls_context(load_tls());
    if (index == 0) {
        bound_port = bind(acceptor, config.listen_host, config.port, "listen");
        if (!config.admin_host.empty())
            admin_port = bind(admin_acceptor, config.admin_host, config.admin_port, "admin listen");
        accept_public();
        if (admin_port) accept_admin();
    }
    schedule_tick();
}

optional_tls::context_ptr gateway::shard::load_tls() const {
    namespace ssl = asio::ssl;
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = context->native_handle();
    // TLS 1.2 and 1.3; for 1.2, forward-secret AEAD suites only (Mozilla's "intermediate").
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_compression | SSL_OP_NO_RENEGOTIATION |
                         SSL_OP_NO_TICKET);
    if (SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1)
        throw std::runtime_error("TLS cipher list refused by OpenSSL");
    // OpenSSL's record buffers go back while a socket is idle (tls_stream keeps none of its
    // own). Sockets live for hours: resumption is worth less than the memory a session cache
    // holds and the key that tickets would need; no tickets in TLS 1.2 (SSL_OP_NO_TICKET
    // above) or 1.3 (num_tickets 0).
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(native, 0);
    std::error_code ec;
    context->use_certificate_chain_file(config.tls_cert_file, ec);
    if (ec) throw std::runtime_error("--tls-cert-file " + config.tls_cert_file + ": " + ec.message());
    context->use_private_key_file(config.tls_key_file, ssl::context::pem, ec);
    if (ec) throw std::runtime_error("--tls-key-file " + config.tls_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(native) != 1)
        throw std::runtime_error("--tls-key-file does not match the certificate in --tls-cert-file");
    return context;
}

void gateway::shard::accept_public() {
    if (!acceptor.is_open()) return;
    acceptor.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket peer) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) return accept_later(ec, &shard::accept_public);
        accept_public();
        // A direct peer (not a trusted proxy) is held to its rate and cap from the first byte.
        address_limits::ticket place;
        const std::string address = peer_of(peer);
        if (!proxies.contains(address)) {
            const std::string key = worker.address_key_of(address);
            const bool in_rate = worker.connection_rates.take(key, now_ms());
            if (in_rate) place = per_address.acquire(key);
            if (!place.held()) {
                ++metrics.refused[static_cast<std::size_t>(in_rate ? refusal_reason::address_limit
                                                                   : refusal_reason::connection_rate)];
                return;  // closed as `peer` goes
            }
        }
        // Dealt in turn: the shard takes the descriptor over on its own thread.
        std::error_code e;
        const auto protocol = peer.local_endpoint(e).protocol();
        if (e) return;
        shard& to = *worker.shards[next_shard];
        next_shard = (next_shard + 1) % worker.shards.size();
        const int fd = peer.release(e);
        if (e) return;
        asio::post(to.io, [&to, protocol, fd, place = std::move(place)]() mutable {
            to.adopt(protocol, fd, std::move(place));
        });
    });
}

void gateway::shard::adopt(asio::ip::tcp protocol, int fd, address_limits::ticket place) {
    auto con = server.get_connection();
    std::error_code ec;
    if (con) con->get_raw_socket().assign(protocol, fd, ec);
    if (!con || ec) {
        ::close(fd);
        return;
    }
    con->address_ticket = std::move(place);
    con->start();
}

void gateway::shard::accept_admin() {
    if (!admin_acceptor.is_open()) return;
    auto con = admin.get_connection();
    if (!con) return;
    admin_acceptor.async_accept(con->get_raw_socket(), [this, con](const std::error_code& ec) {
        if (ec == asio::error::operation_aborted || !admin_acceptor.is_open()) return con->terminate(ec);
        if (ec) {
            con->terminate(ec);
            return accept_later(ec, &shard::accept_admin);
        }
        con->start();
        accept_admin();
    });
}

void gateway::shard::accept_later(const std::error_code& ec, void (shard::*again)()) {
    ++metrics.accept_errors;
    if (!out_of_resources(ec)) return (this->*again)();
    log_accept_error(ec);
    auto retry = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
    retry->async_wait([this, retry, again](const std::error_code& e) {
        if (!e) (this->*again)();  // the acceptor may be closed by then: the accept checks
    });
}

void gateway::shard::on_tcp_pre_init(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (!con) return;
    auto& socket = con->get_raw_socket();
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    // A fixed kernel send buffer, counted by the slow-reader rule (gateway_delivery.cpp).
    socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(kernel_send_buffer(config.send_buffer_bytes))), ec);
    asio::socket_base::send_buffer_size size;
    if (!ec) socket.get_option(size, ec);
    // What the kernel reports (twice what was asked); its queue may pass it by one segment.
    if (!ec && size.value() > 0) con->kernel_buffer = static_cast<std::size_t>(size.value()) + 64 * 1024;
}

// Upgrade requests: path, origin, address, capacity, the token, then the parameters. The
// user comes from the token only.
bool gateway::shard::on_validate(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec) return false;
    auto refuse = [&](refusal_reason why, websocketpp::http::status_code::value status, const std::string& body) {
        ++metrics.refused[static_cast<std::size_t>(why)];
        con->set_status(status);
        con->set_body(body);
        return false;
    };
    if (path_of(con->get_resource()) != "/ws") {
        con->set_status(websocketpp::http::status_code::not_found);
        return false;
    }
    // Browsers always send Origin; other clients need not, and are not held to the list.
    const std::string& origin = con->get_request_header("Origin");
    if (!origin.empty() && !origins.allows(origin))
        return refuse(refusal_reason::origin, websocketpp::http::status_code::forbidden, "origin not allowed\n");
    // Behind a trusted proxy, the client is known only now, from X-Forwarded-For.
    if (!con->address_ticket.held()) {
        const std::string key = worker.address_key_of(
            client_address(peer_of(con->get_raw_socket()), con->get_request_header("X-Forwarded-For"), proxies));
        if (!worker.connection_rates.take(key, now_ms())) {
            con->append_header("Retry-After", "1");
            return refuse(refusal_reason::connection_rate, websocketpp::http::status_code::too_many_requests,
                          "too many new connections from this address\n");
        }
        con->address_ticket = per_address.acquire(key);
        if (!con->address_ticket.held())
            return refuse(refusal_reason::address_limit, websocketpp::http::status_code::too_many_requests,
                          "too many connections from this address\n");
    }
    std::string raw_token;
    const param_status given = token_of(con, raw_token);
    if (given == param_status::malformed)
        return refuse(refusal_reason::bad_request, websocketpp::http::status_code::bad_request,
                      "bad access_token parameter\n");
    // No token: a browser that authenticates with its first message. Its refusals come
    // after the upgrade, as close codes it can read; until then it holds a place in the
    // pool of sockets waiting for auth only, not under --max-sockets.
    if (given == param_status::absent) {
        if (!read_replay_params(con))
            return refuse(refusal_reason::bad_request, websocketpp::http::status_code::bad_request,
                          "bad resume, since or run_id parameter\n");
        if (draining) return refuse(refusal_reason::unavailable, websocketpp::http::status_code::service_unavailable, "");
        // A share of the pool per client address, so a few addresses cannot hold all of it.
        address_limits::full full;
        con->auth_place = worker.pending_auth.acquire(con->address_ticket.address(), &full);
        if (full == address_limits::full::address)
            return refuse(refusal_reason::pending_auth_limit, websocketpp::http::status_code::too_many_requests,
                          "too many connections awaiting auth from this address\n");
        if (full == address_limits::full::total)
            return refuse(refusal_reason::unavailable, websocketpp::http::status_code::service_unavailable, "");
        return true;
    }
    // A worker that does not read Kafka yet (starting, or the broker is away) takes no new
    // socket: it could not deliver, and a resume would splice onto a reader not yet there.
    if (draining || not_ready_reason() || !worker.take_place())
        return refuse(refusal_reason::unavailable, websocketpp::http::status_code::service_unavailable, "");
    verified_token token;
    const auth_error err = verifier.verify(raw_token, now_ms() / 1000, token);
    if (err != auth_error::none) {
        worker.release_place();
        ++metrics.auth_failures[static_cast<std::size_t>(err)];
        log_lifecycle("auth refused: {} (HTTP 401) from {}", to_string(err), con->address_ticket.address());
        con->set_status(websocketpp::http::status_code::unauthorized);
        con->append_header("WWW-Authenticate", "Bearer");
        con->set_body("unauthorized: " + std::string(to_string(err)) + "\n");
        return false;
    }
    con->user = std::move(token.subject);
    con->token_expires_at = token.expires_at;
    if (!read_replay_params(con)) {
        worker.release_place();
        return refuse(refusal_reason::bad_request, websocketpp::http::status_code::bad_request,
                      "bad resume, since or run_id parameter\n");
    }
    con->validated = true;  // holds its place until it opens and joins, or fails
    return true;
}

// ?resume=<id> (resume after the id) or ?since=<ms>[&run_id=<run>] (late join). False for
// a malformed one: a bad cursor must not silently mean "no resume".
bool gateway::shard::read_replay_params(const connection_ptr& con) {
    const std::string& resource = con->get_resource();
    auto& r = con->replay;
    r.user_id = con->user;
    std::string since;
    if (query_param(resource, "resume", r.cursor) == param_status::malformed ||
        query_param(resource, "run_id", r.run_id) == param_status::malformed ||
        query_param(resource, "since", since) == param_status::malformed)
        return false;
    if (!since.empty()) {
        const auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), r.since_ms);
        if (ec != std::errc() || end != since.data() + since.size() || r.since_ms < 0) return false;
    }
    if (r.cursor.size() > 512 || r.run_id.size() > 256) return false;
    con->replay_asked = !r.cursor.empty() || r.since_ms >= 0;
    return true;
}

bool gateway::shard::serve_status(const connection_ptr& con, std::string_view path, bool with_metrics) {
    auto reply = [&](websocketpp::http::status_code::value status, std::string body, const char* type) {
        con->set_status(status);
        con->replace_header("Content-Type", type);
        con->set_body(std::move(body));
        return true;
    };
    if (path == "/healthz") return reply(websocketpp::http::status_code::ok, "ok\n", "text/plain");
    if (path == "/readyz") {
        const bool ready = !draining && !not_ready_reason();
        return reply(ready ? websocketpp::http::status_code::ok : websocketpp::http::status_code::service_unavailable,
                     ready ? "ready\n" : "not ready\n", "text/plain");
    }
    if (path == "/metrics" && with_metrics) {
        std::vector<const gateway_metrics*> all;
        for (const auto& s : worker.shards) all.push_back(&s->metrics);
        std::string text = gateway_metrics::text(all, config.max_sockets);
        if (hooks.metrics) text += hooks.metrics();
        return reply(websocketpp::http::status_code::ok, std::move(text), "text/plain; version=0.0.4");
    }
    return false;
}

void gateway::shard::on_http(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec) return;
    con->replace_header("Content-Type", "text/plain");
    switch (con->get_request().refused()) {
        case strict_request::refusal::framing:
            ++metrics.refused[static_cast<std::size_t>(refusal_reason::bad_request)];
            con->set_status(websocketpp::http::status_code::bad_request);
            return con->set_body("conflicting or unsupported Content-Length or Transfer-Encoding\n");
        case strict_request::refusal::version:
            ++metrics.refused[static_cast<std::size_t>(refusal_reason::version)];
            con->set_status(websocketpp::http::status_code::upgrade_required);
            con->replace_header("Sec-WebSocket-Version", "13");
            return con->set_body("only WebSocket version 13 (RFC 6455) is spoken here\n");
        case strict_request::refusal::none: break;
    }
    const std::string_view path = path_of(con->get_resource());
    if (serve_status(con, path, false)) return;
    if (path == "/ws") {
        con->set_status(websocketpp::http::status_code::upgrade_required);
        con->replace_header("Sec-WebSocket-Version", "13");
        return con->set_body("websocket upgrade required\n");
    }
    con->set_status(websocketpp::http::status_code::not_found);
    con->set_body("not found\n");
}

void gateway::shard::on_admin_http(connection_hdl h) {
    std::error_code ec;
    auto con = admin.get_con_from_hdl(h, ec);
    if (ec || serve_status(con, path_of(con->get_resource()), true)) return;
    con->set_status(websocketpp::http::status_code::not_found);
    con->replace_header("Content-Type", "text/plain");
    con->set_body("not found\n");
}

void gateway::shard::on_open(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec) return;
    con->opened = true;
    // websocketpp hands the request out as const, but owns it mutable; it never reads it again.
    const_cast<strict_request&>(con->get_request()).forget();
    ++metrics.sockets_open;
    ++metrics.connects;
    con->id = next_socket_id;
    next_socket_id += worker.shards.size();
    // A socket closed now gives its place back in on_end.
    if (draining) return close_socket(h, websocketpp::close::status::going_away, "shutting down", disconnect_reason::shutdown);
    if (con->awaiting_auth()) {
        ++metrics.sockets_awaiting_auth;
        awaiting.emplace(con->id, h);
        con->set_max_message_size(std::max(config.max_inbound_bytes, auth_message_bytes));
        con->auth_deadline = con->set_timer(config.auth_timeout_ms, [this, h](const std::error_code& e) {
            if (!e) auth_timed_out(h);  // else cancelled: it authenticated or ended
        });
        return;
    }
    join(con, h);
    worker.release_place();  // counted by the registry now
    con->validated = false;
}

void gateway::shard::join(const connection_ptr& con, connection_hdl h) {
    con->registered = true;
    log_lifecycle("socket {} open: user {} from {}{}", con->id, con->user, con->address_ticket.address(),
                  con->replay_asked ? ", replaying first" : "");
    if (degraded) send_text(con, status_frame());
    // Catching up starts before the socket joins, so no live event slips past the hold.
    if (con->replay_asked) start_replay(con, h);
    if (auto oldest = registry.join(con->user, {h, index})) {
        if (oldest->io_thread == index)
            close_socket(oldest->socket, close_replaced, "too many sockets for this user", disconnect_reason::replaced);
        else
            close_elsewhere(*oldest, close_replaced, "too many sockets for this user", disconnect_reason::replaced);
    }
}

void gateway::shard::close_elsewhere(const socket_registry::member& m, uint16_t code, const std::string& why,
                                     disconnect_reason reason) {
    shard& owner = *worker.shards[m.io_thread];
    asio::post(owner.io, [&owner, h = m.socket, code, why, reason] { owner.close_socket(h, code, why, reason); });
}

void gateway::shard::stop_awaiting(const connection_ptr& con) {
    if (!con->awaiting_auth()) return;
    con->auth_place = {};
    if (awaiting.erase(con->id)) --metrics.sockets_awaiting_auth;  // only open sockets wait there
    con->set_max_message_size(config.max_inbound_bytes);
    if (con->auth_deadline) con->auth_deadline->cancel();
    con->auth_deadline.reset();
}

void gateway::shard::auth_timed_out(connection_hdl h) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec || !con->awaiting_auth()) return;
    stop_awaiting(con);
    close_socket(h, close_auth_timeout, "no auth message in time: reconnect", disconnect_reason::auth_timeout);
}

void gateway::shard::authenticate(const connection_ptr& con, connection_hdl h, const client_message& request) {
    stop_awaiting(con);
    if (request.what != client_message::kind::auth)
        return close_socket(h, close_bad_request,
                            request.what == client_message::kind::invalid ? "bad request: " + request.error
                                                                          : "bad request: the first message must be auth",
                            disconnect_reason::bad_request);
    verified_token token;
    const auth_error err = verifier.verify(request.token, now_ms() / 1000, token);
    if (err != auth_error::none) {
        ++metrics.auth_failures[static_cast<std::size_t>(err)];
        log_lifecycle("auth refused: {} (close 4401) socket {} from {}", to_string(err), con->id,
                      con->address_ticket.address());
        return close_socket(h, close_unauthorized, "token: " + std::string(to_string(err)), disconnect_reason::unauthorized);
    }
    if (not_ready_reason() || !worker.take_place())
        return close_socket(h, close_unavailable, "busy or not ready: retry later", disconnect_reason::unavailable);
    con->user = std::move(token.subject);
    con->token_expires_at = token.expires_at;
    // Where to start: the auth message's resume or since, else the URL's.
    auto& r = con->replay;
    r.user_id = con->user;
    if (!request.id.empty() || request.since_ms >= 0) {
        r.cursor = request.id;
        r.since_ms = request.since_ms;
        r.run_id = request.run_id;
    }
    con->replay_asked = !r.cursor.empty() || r.since_ms >= 0;
    send_control(con, "authenticated", "{\"expires_at\":" + std::to_string(con->token_expires_at) + "}");
    join(con, h);
    worker.release_place();  // counted by the registry now
}

std::string gateway::shard::renew_token(const connection_ptr& con, const client_message& request) {
    verified_token token;
    const auth_error err = verifier.verify(request.token, now_ms() / 1000, token);
    if (err != auth_error::none) {
        ++metrics.auth_failures[static_cast<std::size_t>(err)];
        return encode_control_frame("error", "{\"code\":\"unauthorized\",\"message\":" +
                                                 json_string("token: " + std::string(to_string(err))) + "}");
    }
    if (token.subject != con->user)
        return encode_control_frame("error", "{\"code\":\"bad_request\",\"message\":\"a token for another user\"}");
    con->token_expires_at = token.expires_at;
    return encode_control_frame("authenticated", "{\"expires_at\":" + std::to_string(con->token_expires_at) + "}");
}

// Close and fail handlers: the socket is gone; count it once.
void gateway::shard::on_end(connection_hdl h, disconnect_reason fallback) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec) return;
    if (con->validated) worker.release_place();  // a validated upgrade that never opened
    con->validated = false;
    stop_awaiting(con);
    if (!con->opened) return;
    con->opened = false;
    if (con->catching_up) stop_replay(con->id);
    if (con->registered) registry.leave(con->user, h);
    con->registered = false;
    --metrics.sockets_open;
    if (con->was_reset()) ++metrics.resets;
    const disconnect_reason why = con->closing ? con->reason : fallback;
    ++metrics.disconnects[static_cast<std::size_t>(why)];
    // Codes only: a client's close reason is its own text, not for our logs.
    log_lifecycle("socket {} closed: {} (sent {}, received {})", con->id, to_string(why), con->get_local_close_code(),
                  con->get_remote_close_code());
    if (draining && metrics.sockets_open == 0) finish();
}

void gateway::shard::on_message(connection_hdl h, server_type::message_ptr m) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec || con->closing) return;
    if (!con->messages.take(now_ms(), config.client_messages_per_second, config.client_message_burst))
        return close_socket(h, close_policy, "rate limit: too many client messages", disconnect_reason::rate_limited);
    client_message request;
    if (m->get_opcode() == websocketpp::frame::opcode::text)
        request = parse_client_message(m->get_payload());
    else
        request.error = "binary messages are not accepted";
    if (con->awaiting_auth()) return authenticate(con, h, request);
    std::string reply;
    switch (request.what) {
        case client_message::kind::auth:
            reply = renew_token(con, request);
            break;
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
    send_text(con, reply);
}

void gateway::shard::close_socket(connection_hdl h, uint16_t code, const std::string& why, disconnect_reason reason) {
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec || con->closing) return;
    con->closing = true;
    con->reason = reason;
    if (con->registered) registry.leave(con->user, h);
    con->registered = false;
    // Never authenticated (no user): no 5 s wait for the client's close frame. A client that
    // does not read may never take the close frame: its socket is reset then.
    if (con->user.empty())
        con->set_close_handshake_timeout(unauthenticated_close_ms);
    else if (code == close_slow_reader || code == close_pong_timeout)
        con->set_close_handshake_timeout(unread_close_timeout_ms);
    con->reset_if_unread();
    con->close(code, why, ec);
}

// At most one line a second: out of descriptors, every retry fails.
void gateway::shard::log_accept_error(const std::error_code& ec) {
    const int64_t now = now_ms();
    if (now - last_accept_log_ms < 1000) return;
    last_accept_log_ms = now;
    spdlog::warn("accept: {}; retrying every 100 ms ({} failures so far)", ec.message(), metrics.accept_errors);
}

// At most one line a second, however many sockets fall behind at once.
void gateway::shard::log_slow_reader(const socket_state& socket) {
    const int64_t now = now_ms();
    if (now - last_slow_log_ms < 1000) {
        ++slow_logs_suppressed;
        return;
    }
    if (socket.catching_up)
        spdlog::warn("closing slow socket: {} bytes of live events held during its replay (limit {}), suppressed since last: {}",
                     socket.held_bytes, config.send_buffer_bytes, slow_logs_suppressed);
    else
        spdlog::warn("closing slow socket: {} bytes unsent (limit {}), suppressed since last: {}",
                     socket.buffered_at_batch, config.send_buffer_bytes, slow_logs_suppressed);
    last_slow_log_ms = now;
    slow_logs_suppressed = 0;
}

// Once a second: close sockets whose token expired; ping every ping interval.
void gateway::shard::schedule_tick() {
    tick_timer.expires_after(std::chrono::seconds(1));
    tick_timer.async_wait([this](const std::error_code& ec) {
        if (ec || draining) return;
        tick();
        schedule_tick();
    });
}

std::string gateway::shard::status_frame() const {
    return degraded ? encode_control_frame("status", "{\"state\":\"degraded\",\"reason\":" + json_string(degraded) + "}")
                    : encode_control_frame("status", "{\"state\":\"ok\"}");
}

void gateway::shard::announce_delivery_state() {
    const char* reason = not_ready_reason();
    if (!reason) delivered_once = true;
    if (!delivered_once) return;  // still starting: no socket could be waiting for delivery
    const bool unchanged = reason && degraded ? std::string_view(reason) == degraded : reason == degraded;
    if (unchanged) return;
    degraded = reason;
    if (index != 0) {  // shards[0] speaks for the worker
    } else if (degraded)
        spdlog::warn("delivery degraded ({}): telling {} sockets; nothing is lost, it resumes when Kafka is back",
                     degraded, registry.socket_count());
    else
        spdlog::info("delivery back: telling {} sockets", registry.socket_count());
    const std::string frame = status_frame();
    registry.for_each(index, [&](const connection_hdl& h) {
        std::error_code ec;
        if (auto con = server.get_con_from_hdl(h, ec); !ec && !con->closing)
            send_text(con, frame);
    });
}

void gateway::shard::tick() {
    ++ticks;
    announce_delivery_state();
    const int64_t now_s = now_ms() / 1000;
    const bool ping = config.ping_interval_ms > 0 && (ticks * 1000) % config.ping_interval_ms < 1000;
    std::vector<connection_hdl> expired;
    registry.for_each(index, [&](const connection_hdl& h) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) return;
        if (con->token_expires_at <= now_s) return expired.push_back(h);
        if (ping) con->ping("", ec);
    });
    for (const auto& h : expired) close_socket(h, close_token_expired, "token expired", disconnect_reason::token_expired);
}

void gateway::shard::begin_drain() {
    if (draining) return;
    draining = true;
    tick_timer.cancel();
    std::error_code ec;
    acceptor.close(ec);
    std::vector<connection_hdl> all;
    registry.for_each(index, [&](const connection_hdl& h) { all.push_back(h); });
    for (const auto& [id, h] : awaiting) all.push_back(h);
    spdlog::info("draining: io thread {} closing {} sockets", index, all.size());
    for (const auto& h : all) close_socket(h, websocketpp::close::status::going_away, "shutting down", disconnect_reason::shutdown);
    if (metrics.sockets_open == 0) return finish();
    drain_timer.expires_after(std::chrono::milliseconds(config.drain_timeout_ms));
    drain_timer.async_wait([this](const std::error_code& e) {
        if (e) return;
        spdlog::warn("drain timeout: {} sockets still open", metrics.sockets_open);
        finish();
    });
}

void gateway::shard::finish() {
    drain_timer.cancel();
    std::error_code ec;
    admin_acceptor.close(ec);
    io.stop();
}

gateway::gateway(gateway_config config, jwt_verifier verifier, gateway_hooks hooks)
    : impl_(std::make_unique<impl>(std::move(config), std::move(verifier), std::move(hooks))) {
    for (auto& s : impl_->shards) s->listen();
}

gateway::~gateway() = default;

uint16_t gateway::port() const { return impl_->shards[0]->bound_port; }

uint16_t gateway::admin_port() const { return impl_->shards[0]->admin_port; }

std::size_t gateway::io_threads() const { return impl_->shards.size(); }

void gateway::reload_tls() {
    if (impl_->config.tls_cert_file.empty()) return spdlog::warn("reload: no TLS configured");
    for (auto& s : impl_->shards)
        asio::post(s->io, [s = s.get()] {
            try {
                s->server.set_tls_context(s->load_tls());
                if (s->index == 0) spdlog::info("reload: TLS certificate and key read again; new sockets use them");
            } catch (const std::exception& e) {
                if (s->index == 0) spdlog::error("reload: keeping the previous TLS certificate: {}", e.what());
            }
        });
}

void gateway::run() {
    std::vector<std::thread> others;
    for (std::size_t i = 1; i < impl_->shards.size(); ++i)
        others.emplace_back([s = impl_->shards[i].get()] { s->io.run(); });
    impl_->shards[0]->io.run();
    for (auto& t : others) t.join();
}

void gateway::shutdown() {
    for (auto& s : impl_->shards) asio::post(s->io, [s = s.get()] { s->begin_drain(); });
}

bool gateway::wants(const std::string& user_id) const { return impl_->registry.has_user(user_id); }

}  // namespace bridge::gateway
