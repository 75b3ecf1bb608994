#pragma once
// A websocketpp socket policy that speaks TLS when its endpoint holds a TLS context and
// plain TCP otherwise, so one server type serves both and a plaintext socket carries no
// TLS state. Private to ws_gateway/; included by gateway_impl.hpp only.
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <asio/ssl.hpp>
#include <websocketpp/common/asio.hpp>
#include <websocketpp/transport/asio/security/base.hpp>

#include "ws_gateway/tls_stream.hpp"

namespace bridge::gateway::optional_tls {

using tcp_socket = asio::ip::tcp::socket;
using context_ptr = std::shared_ptr<asio::ssl::context>;

// What the transport reads and writes: the TLS stream when there is one, else the socket.
class stream {
public:
    using executor_type = tcp_socket::executor_type;
    using lowest_layer_type = tcp_socket;
    using next_layer_type = tcp_socket;

    explicit stream(asio::io_context& io) : socket_(io) {}

    executor_type get_executor() { return socket_.get_executor(); }
    tcp_socket& lowest_layer() { return socket_; }
    tls_stream* tls() { return tls_.get(); }

    // The context must outlive the stream (the connection holds both).
    void use_tls(asio::ssl::context& context) { tls_ = std::make_unique<tls_stream>(socket_, context.native_handle()); }

    template <typename Buffers, typename Handler>
    void async_read_some(const Buffers& buffers, Handler&& handler) {
        if (tls_)
            tls_->async_read_some(buffers, std::forward<Handler>(handler));
        else
            socket_.async_read_some(buffers, std::forward<Handler>(handler));
    }

    template <typename Buffers, typename Handler>
    void async_write_some(const Buffers& buffers, Handler&& handler) {
        if (tls_) return tls_->async_write_some(buffers, std::forward<Handler>(handler));
        writing_ = true;
        socket_.async_write_some(buffers, [this, h = std::forward<Handler>(handler)](const std::error_code& ec,
                                                                                      std::size_t n) mutable {
            writing_ = false;
            written_ += n;
            h(ec, n);
        });
    }

    // A plaintext write of the transport is under way: no other bytes may go out now.
    bool writing() const { return writing_; }

    // Bytes the transport's plaintext writes have handed to the kernel so far.
    uint64_t written() const { return written_; }

    // Bytes the kernel holds that the peer has not acknowledged (SIOCOUTQ); 0 if unknown.
    std::size_t unsent_in_kernel() {
        int bytes = 0;
        if (::ioctl(socket_.native_handle(), SIOCOUTQ, &bytes) != 0 || bytes < 0) return 0;
        return static_cast<std::size_t>(bytes);
    }

private:
    tcp_socket socket_;
    bool writing_ = false;
    uint64_t written_ = 0;
    std::unique_ptr<tls_stream> tls_;  // declared after the socket it refers to
};

// The per-connection half of the policy (websocketpp calls it socket_con_type).
class connection : public std::enable_shared_from_this<connection> {
public:
    using type = connection;
    using ptr = std::shared_ptr<connection>;
    using socket_type = stream;
    using io_service_ptr = asio::io_context*;
    using strand_ptr = std::shared_ptr<asio::io_context::strand>;

    ptr get_shared() { return shared_from_this(); }
    bool is_secure() const { return context_ != nullptr; }
    tcp_socket& get_raw_socket() { return socket_->lowest_layer(); }
    tcp_socket& get_next_layer() { return socket_->lowest_layer(); }
    stream& get_socket() { return *socket_; }

    // A close the worker started: if, once it ends (the client's close frame, or the
    // deadline), the kernel still holds bytes the client never took, the socket is reset
    // (RST) instead of shut down. Shut down, they would stay in the kernel for minutes
    // (FIN-WAIT-1, retried against a zero window) after the descriptor is gone.
    void reset_if_unread() { reset_if_unread_ = true; }
    // The socket was reset that way.
    bool was_reset() const { return was_reset_; }

    std::string get_remote_endpoint(std::error_code& ec) const {
        std::error_code aec;
        const auto ep = socket_->lowest_layer().remote_endpoint(aec);
        if (aec) {
            ec = websocketpp::transport::asio::socket::make_error_code(
                websocketpp::transport::asio::socket::error::pass_through);
            return "unknown endpoint: " + aec.message();
        }
        ec = std::error_code();
        std::ostringstream s;
        s << ep;
        return s.str();
    }

    // websocketpp maps errors of the TLS layer to its own tls_error code.
    template <typename ErrorCode>
    static std::error_code translate_ec(ErrorCode ec) {
        if (ec.category() == asio::error::get_ssl_category())
            return websocketpp::transport::error::make_error_code(websocketpp::transport::error::tls_error);
        return websocketpp::transport::error::make_error_code(websocketpp::transport::error::pass_through);
    }
    static std::error_code translate_ec(std::error_code ec) { return ec; }

protected:
    friend class endpoint;
    void set_context_source(std::shared_ptr<const context_ptr> source) { source_ = std::move(source); }

    std::error_code init_asio(io_service_ptr service, strand_ptr strand, bool is_server) {
        if (!is_server) return websocketpp::transport::asio::socket::make_error_code(
                               websocketpp::transport::asio::socket::error::invalid_state);
        socket_ = std::make_unique<stream>(*service);
        strand_ = std::move(strand);
        return {};
    }

    void set_uri(websocketpp::uri_ptr) {}
    void set_handle(websocketpp::connection_hdl hdl) { hdl_ = std::move(hdl); }

    // Once accepted: the context in use now (a connection waits in accept() from before a
    // reload), or plaintext without one.
    void pre_init(websocketpp::transport::init_handler callback) {
        context_ = source_ ? *source_ : nullptr;
        if (context_) socket_->use_tls(*context_);
        callback(std::error_code());
    }

    // The TLS handshake, bounded by websocketpp's socket post-init timeout.
    void post_init(websocketpp::transport::init_handler callback) {
        if (!socket_->tls()) return callback(std::error_code());
        namespace socket_error = websocketpp::transport::asio::socket::error;
        ec_ = websocketpp::transport::asio::socket::make_error_code(socket_error::tls_handshake_timeout);
        auto self = get_shared();
        socket_->tls()->async_handshake([self, callback](const std::error_code& ec) {
            self->ec_ = ec ? websocketpp::transport::asio::socket::make_error_code(socket_error::tls_handshake_failed)
                           : std::error_code();
            callback(self->ec_);
        });
    }

    std::error_code get_ec() const { return ec_; }

    std::error_code cancel_socket() {
        std::error_code ec;
        socket_->lowest_layer().cancel(ec);
        return ec;
    }

    void async_shutdown(websocketpp::transport::asio::socket::shutdown_handler callback) {
        std::error_code ec;
        if (reset_if_unread_ && socket_->unsent_in_kernel() > 0) {
            // Linger 0: close() sends RST and frees the unsent bytes now. Set on the descriptor
            // itself: asio resets a linger set through it when a socket is destroyed, not closed.
            const ::linger abort{1, 0};
            ::setsockopt(socket_->lowest_layer().native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
            socket_->lowest_layer().close(ec);  // pending reads and writes end with operation_aborted
            was_reset_ = true;
            return callback(std::error_code());
        }
        // close_notify if the socket takes it now; waiting for the client's would gain nothing.
        if (socket_->tls()) socket_->tls()->shutdown();
        socket_->lowest_layer().shutdown(tcp_socket::shutdown_both, ec);
        callback(ec);
    }

private:
    std::shared_ptr<const context_ptr> source_;  // the endpoint's current context
    context_ptr context_;                        // before the stream, which refers to it
    std::unique_ptr<stream> socket_;
    strand_ptr strand_;
    std::error_code ec_;
    websocketpp::connection_hdl hdl_;
    bool reset_if_unread_ = false;
    bool was_reset_ = false;
};

// The endpoint half: the TLS context new connections use; none for plaintext. Replacing it
// leaves open connections on the one they started with.
class endpoint {
public:
    using type = endpoint;
    using socket_con_type = connection;
    using socket_con_ptr = connection::ptr;

    bool is_secure() const { return *current_ != nullptr; }
    void set_tls_context(context_ptr context) { *current_ = std::move(context); }

protected:
    std::error_code init(socket_con_ptr con) {
        con->set_context_source(current_);
        return {};
    }

private:
    std::shared_ptr<context_ptr> current_ = std::make_shared<context_ptr>();
};

}  // namespace bridge::gateway::optional_tls
