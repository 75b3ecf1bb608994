#pragma once
// A TLS stream straight on a socket's descriptor: OpenSSL reads and writes the socket itself
// (SSL_set_fd) and asio only says when the socket is ready. asio::ssl::stream keeps two 17 KB
// engine buffers and a pair of 17 KB BIO buffers per socket, idle or not; here, with
// SSL_MODE_RELEASE_BUFFERS, OpenSSL's record buffers exist only while data flows. Used on the
// socket's io thread only, like the socket. Private to ws_gateway/; optional_tls.hpp uses it.
#include <cerrno>
#include <cstddef>
#include <memory>
#include <system_error>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/error.hpp>

namespace bridge::gateway::optional_tls {

class tls_stream {
public:
    using tcp_socket = asio::ip::tcp::socket;

    // The socket must be open and outlive the stream.
    tls_stream(tcp_socket& socket, SSL_CTX* context) : socket_(socket), ssl_(SSL_new(context), &SSL_free) {
        // OpenSSL reads and writes the descriptor itself: it must never block the io thread.
        std::error_code ec;
        socket.non_blocking(true, ec);
        if (!ssl_ || ec || SSL_set_fd(ssl_.get(), socket.native_handle()) != 1) ssl_.reset();
        if (!ssl_) return;
        SSL_set_accept_state(ssl_.get());
        // Writes come back after each record; a write retried may come from another address.
        SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }

    SSL* native_handle() { return ssl_.get(); }

    // handler(std::error_code)
    template <typename Handler>
    void async_handshake(Handler&& handler) {
        start([](SSL* ssl, std::size_t& n) { n = 0; return SSL_do_handshake(ssl); },
              [h = std::forward<Handler>(handler)](const std::error_code& ec, std::size_t) mutable { h(ec); });
    }

    // handler(std::error_code, std::size_t): reads into the first non-empty buffer.
    template <typename Buffers, typename Handler>
    void async_read_some(const Buffers& buffers, Handler&& handler) {
        const asio::mutable_buffer b = first(buffers, asio::mutable_buffer());
        start([b](SSL* ssl, std::size_t& n) { return SSL_read_ex(ssl, b.data(), b.size(), &n); },
              std::forward<Handler>(handler), b.size() == 0);
    }

    // handler(std::error_code, std::size_t): writes from the first non-empty buffer, at least a record.
    template <typename Buffers, typename Handler>
    void async_write_some(const Buffers& buffers, Handler&& handler) {
        const asio::const_buffer b = first(buffers, asio::const_buffer());
        start([b](SSL* ssl, std::size_t& n) { return SSL_write_ex(ssl, b.data(), b.size(), &n); },
              std::forward<Handler>(handler), b.size() == 0);
    }

    // Sends close_notify if the socket takes it now; never waits for the peer's.
    void shutdown() {
        if (!ssl_ || !SSL_is_init_finished(ssl_.get())) return;
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }

private:
    template <typename Buffer, typename Buffers>
    static Buffer first(const Buffers& buffers, Buffer none) {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (Buffer(*it).size() > 0) return Buffer(*it);
        return none;
    }

    // Runs one non-blocking SSL call until it completes, waiting for the socket as OpenSSL
    // asks. A call that completes at once still completes through the io context.
    template <typename Step, typename Handler>
    void start(Step step, Handler&& handler, bool empty = false) {
        if (empty || !ssl_) {
            const std::error_code ec = ssl_ ? std::error_code() : std::error_code(asio::error::bad_descriptor);
            return asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler), ec]() mutable { h(ec, 0); });
        }
        run(std::move(step), std::forward<Handler>(handler), false);
    }

    template <typename Step, typename Handler>
    void run(Step step, Handler&& handler, bool in_handler) {
        std::size_t n = 0;
        ERR_clear_error();
        errno = 0;
        const int r = step(ssl_.get(), n);
        const int saved_errno = errno;
        std::error_code ec;
        if (r <= 0) {
            const int why = SSL_get_error(ssl_.get(), r);
            if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
                socket_.async_wait(why == SSL_ERROR_WANT_READ ? tcp_socket::wait_read : tcp_socket::wait_write,
                                   [this, step = std::move(step), h = std::forward<Handler>(handler)](
                                       const std::error_code& e) mutable {
                                       if (e) return h(e, std::size_t(0));
                                       run(std::move(step), std::move(h), true);
                                   });
                return;
            }
            ec = error_of(why, saved_errno);
            ERR_clear_error();  // nothing left for the next socket's call on this thread
            n = 0;
        }
        if (in_handler) return handler(ec, n);
        asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler), ec, n]() mutable { h(ec, n); });
    }

    static std::error_code error_of(int why, int saved_errno) {
        if (why == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
        if (why == SSL_ERROR_SYSCALL)
            return saved_errno ? std::error_code(saved_errno, asio::error::get_system_category())
                               : std::error_code(asio::error::eof);
        const unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::ssl::error::stream_truncated;
        return std::error_code(static_cast<int>(e ? e : 1), asio::error::get_ssl_category());
    }

    tcp_socket& socket_;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
};

}  // namespace bridge::gateway::optional_tls
