// bench_loadgen: opens C WebSockets for U users against one or more bridges, produces
// agent events to Kafka at a fixed rate or as fast as the bridges deliver them, and prints
// one JSON object with throughput, end-to-end latency, losses, and the bridges' CPU and RSS.
// This is the only translation unit that includes websocketpp (the socket processes).
#include "event_counter.hpp"
#include "load_driver.hpp"
#include "realtime_clock.hpp"
#include "socket_fleet.hpp"

#include <CLI/CLI.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <memory>

namespace bench {
namespace {

// The asio transport, but each connect binds its local end to a chosen 127.0.0.x first
// (websocketpp's own connect closes the socket before connecting, losing any bind).
template <typename transport_config>
class bound_transport : public websocketpp::transport::asio::endpoint<transport_config> {
    using base = websocketpp::transport::asio::endpoint<transport_config>;

public:
    using transport_con_ptr = typename base::transport_con_ptr;
    asio::ip::address_v4 next_source = asio::ip::address_v4::loopback();

    void async_connect(transport_con_ptr tcon, websocketpp::uri_ptr u,
                       websocketpp::transport::connect_handler cb) {
        tcon->set_uri(u);
        asio::error_code ec;
        auto address = asio::ip::make_address(u->get_host(), ec);
        if (ec) return cb(ec);
        auto& socket = tcon->get_raw_socket();
        socket.open(asio::ip::tcp::v4(), ec);
        if (ec) return cb(ec);
        // Pick the port at connect time: (source, port) pairs are shared across servers.
        int one = 1;
        setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        socket.bind(asio::ip::tcp::endpoint(next_source, 0), ec);
        if (ec) return cb(ec);
        socket.async_connect(asio::ip::tcp::endpoint(address, u->get_port()),
                             [cb](const asio::error_code& e) { cb(e); });
    }
};

// Single-threaded client: no locks, no strands, no logging.
struct client_config : websocketpp::config::asio_client {
    typedef client_config type;
    typedef websocketpp::config::asio_client base;
    typedef websocketpp::concurrency::none concurrency_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::elevel> elog_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::alevel> alog_type;
    typedef websocketpp::random::random_device::int_generator<uint32_t, concurrency_type> rng_type;
    static const bool enable_multithreading = false;

    struct transport_config : base::transport_config {
        typedef type::concurrency_type concurrency_type;
        typedef type::elog_type elog_type;
        typedef type::alog_type alog_type;
        static const bool enable_multithreading = false;
        static const long timeout_socket_pre_init = 60000;
        static const long timeout_socket_post_init = 60000;
    };
    typedef bound_transport<transport_config> transport_type;

    static const long timeout_open_handshake = 60000;
    static const long timeout_close_handshake = 2000;
    static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
    static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};

using client_type = websocketpp::client<client_config>;

class socket_fleet {
public:
    socket_fleet(const fleet_options& opts, shared_stats& stats)
        : opts_(opts), stats_(stats), mine_(stats.proc(opts.proc_index)), timer_(io_) {
        for (std::size_t i = opts.proc_index; i < opts.sockets; i += opts.procs) sockets_.push_back({i});
        mine_.assigned.store(sockets_.size());
        client_.clear_access_channels(websocketpp::log::alevel::all);
        client_.clear_error_channels(websocketpp::log::elevel::all);
        client_.init_asio(&io_);
        in_flight_max_ = std::max<std::size_t>(1, opts.connect_concurrency);
    }

    void run() {
        while (in_flight_ < in_flight_max_ && next_ < sockets_.size()) connect(next_++);
        if (sockets_.empty()) mine_.connect_done.store(1);
        watch_stop();
        io_.run();
    }

private:
    struct socket_state {
        std::size_t index;          // global socket number
        std::int64_t last_seq = -1;
        int attempts = 0;
    };

    void connect(std::size_t slot) {
        auto& s = sockets_[slot];
        ++in_flight_;
        ++s.attempts;
        std::size_t user = s.index % opts_.users;
        websocketpp::lib::error_code ec;
        auto con = client_.get_connection(opts_.urls[s.index % opts_.urls.size()], ec);
        if (ec) return settle(slot, false);
        con->append_header("Authorization", "Bearer " + opts_.tokens[user]);
        con->set_open_handler([this, slot](websocketpp::connection_hdl) { on_open(slot); });
        con->set_fail_handler([this, slot](websocketpp::connection_hdl h) { on_fail(slot, h); });
        con->set_close_handler([this](websocketpp::connection_hdl h) { on_close(h); });
        con->set_message_handler(
            [this, slot](websocketpp::connection_hdl, client_type::message_ptr m) { on_message(slot, *m); });
        client_.next_source = asio::ip::address_v4(0x7f000001u + static_cast<std::uint32_t>(s.index % opts_.source_addrs));
        client_.connect(con);
    }

    void on_open(std::size_t slot) {
        stats_.sockets_of_user(sockets_[slot].index % opts_.users).fetch_add(1, std::memory_order_relaxed);
        bump(mine_.opened);
        settle(slot, true);
    }

    void on_fail(std::size_t slot, websocketpp::connection_hdl h) {
        websocketpp::lib::error_code ec;
        auto con = client_.get_con_from_hdl(h, ec);
        int status = con ? static_cast<int>(con->get_response_code()) : 0;
        if (status == 401) bump(mine_.http_401);
        if (status == 503) bump(mine_.http_503);
        // Retry after a pause unless the server said no for good (bad token).
        if (status != 401 && sockets_[slot].attempts < opts_.connect_attempts) {
            --in_flight_;
            auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(500));
            t->async_wait([this, slot, t](const asio::error_code&) { connect(slot); });
            return;
        }
        settle(slot, false);
    }

    // A handshake finished: count it and start the next one.
    void settle(std::size_t, bool ok) {
        if (!ok) bump(mine_.failed);
        --in_flight_;
        if (++settled_ == sockets_.size()) mine_.connect_done.store(1);
        while (in_flight_ < in_flight_max_ && next_ < sockets_.size()) connect(next_++);
    }

    void on_close(websocketpp::connection_hdl h) {
        websocketpp::lib::error_code ec;
        auto con = client_.get_con_from_hdl(h, ec);
        if (!con) return;
        bump(mine_.closed_early);
        auto code = con->get_remote_close_code();
        std::size_t i = 0;
        while (i < kCountedCloseCount && kCountedCloseCodes[i] != code) ++i;
        bump(mine_.close_codes[i]);
    }

    void on_message(std::size_t slot, const client_config::message_type& m) {
        const std::string& p = m.get_payload();
        count_event(mine_, stats_.control(), p.data(), p.size(), sockets_[slot].last_seq, realtime_ns());
    }

    void watch_stop() {
        timer_.expires_after(std::chrono::milliseconds(50));
        timer_.async_wait([this](const asio::error_code&) {
            if (stats_.control().stop.load()) return io_.stop();
            watch_stop();
        });
    }

    const fleet_options& opts_;
    shared_stats& stats_;
    socket_proc_stats& mine_;
    asio::io_context io_;
    asio::steady_timer timer_;
    client_type client_;
    std::vector<socket_state> sockets_;
    std::size_t next_ = 0, in_flight_ = 0, in_flight_max_ = 1, settled_ = 0;
};

}  // namespace

void run_socket_fleet(const fleet_options& opts, shared_stats& stats) {
    socket_fleet fleet(opts, stats);
    fleet.run();
}

}  // namespace bench

int main(int argc, char** argv) {
    bench::load_options o;
    CLI::App app{"bench_loadgen: WebSocket clients and a Kafka producer; prints one JSON object of results"};
    app.add_option("--url", o.urls, "ws://host:port/ws (repeatable; sockets spread over them)");
    app.add_option("--brokers", o.brokers, "Kafka bootstrap servers")->capture_default_str();
    app.add_option("--topic", o.topic, "topic to produce to")->capture_default_str();
    app.add_option("--jwt-secret", o.jwt_secret, "HS256 secret the bridges verify with");
    app.add_option("--users", o.users, "distinct users")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--sockets", o.sockets, "sockets, users spread round robin")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--rate", o.rate, "events/s produced (0: as fast as delivered, closed loop)")->capture_default_str();
    app.add_option("--duration-s", o.duration_s, "production time")->capture_default_str();
    app.add_option("--warmup-s", o.warmup_s, "first seconds left out of throughput and latency")->capture_default_str();
    app.add_option("--drain-s", o.drain_s, "after production, wait this long without progress for the rest")->capture_default_str();
    app.add_option("--payload-bytes", o.payload_bytes, "size of each record value")->capture_default_str();
    app.add_option("--max-inflight", o.max_inflight, "closed loop (--rate 0): deliveries outstanding at most")->capture_default_str();
    app.add_option("--linger-ms", o.linger_ms, "producer linger.ms")->capture_default_str();
    app.add_option("--pid", o.pids, "bridge process to sample CPU and RSS of (repeatable)");
    app.add_flag("--idle", o.idle, "connect and hold; measure RSS per socket; no production");
    app.add_flag("--kafka-floor", o.kafka_floor, "no bridge: read the events back with a plain Kafka consumer (the latency floor)");
    app.add_option("--settle-s", o.settle_s, "idle: wait after the last connect before reading RSS")->capture_default_str();
    app.add_option("--source-addrs", o.source_addrs, "bind sockets to 127.0.0.1 .. 127.0.0.N")->capture_default_str()->check(CLI::Range(1, 254));
    app.add_option("--procs", o.procs, "socket processes (0: as the descriptor limit needs)")->capture_default_str();
    app.add_option("--connect-concurrency", o.connect_concurrency, "handshakes in flight at once")->capture_default_str();
    app.add_option("--connect-timeout-s", o.connect_timeout_s, "give up waiting for sockets after this")->capture_default_str();
    app.add_option("--user-prefix", o.user_prefix, "user ids are <prefix><n>")->capture_default_str();
    app.add_option("--label", o.label, "copied into the output");
    CLI11_PARSE(app, argc, argv);
    try {
        return bench::run_load(o, std::cout);
    } catch (const std::exception& e) {
        std::cerr << "bench_loadgen: " << e.what() << "\n";
        return 2;
    }
}
