// bridge: one stateless worker. Reads every partition of the agent-event topics and
// pushes each event to the WebSockets of its user held by this worker.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <pthread.h>
#include <stdexcept>
#include <thread>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "bridge/config.hpp"
#include "bridge/log.hpp"
#include "bridge/process_metrics.hpp"
#include "bridge/produce.hpp"
#include "consumers/dlq_writer.hpp"
#include "consumers/inflate_limit.hpp"
#include "consumers/kafka_reader.hpp"
#include "consumers/kafka_replayer.hpp"
#include "ws_gateway/gateway.hpp"

namespace {

// SIGTERM, SIGINT (drain and stop) and SIGHUP (re-read the TLS files) are blocked in every
// thread and taken by one waiting thread.
sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

int serve(const bridge::bridge_config& config) {
    using namespace bridge;
    // The gateway is built first (it binds the port); the Kafka side reaches it as its sink.
    // Batches that cannot be read, found once for the reader, the replayers and the dead-letter writer.
    consumers::unreadable_batches unreadable(config.kafka);
    std::unique_ptr<consumers::kafka_reader> reader;
    std::unique_ptr<consumers::kafka_replayer> replayer;
    std::unique_ptr<consumers::dlq_writer> dlq;
    gateway::gateway_hooks hooks{
        [&reader]() -> const char* {
            if (!reader) return "starting";
            if (reader->stalled()) return "reader_stalled";
            return reader->ready() ? nullptr : "kafka_unavailable";
        },
        [&reader, &replayer, &dlq] {
            return reader->metrics_text() + replayer->metrics_text() + (dlq ? dlq->metrics_text() : std::string()) +
                   process_metrics_text();
        },
        [&replayer](consumers::replay_request r) { replayer->request(std::move(r)); },
        [&replayer](uint64_t socket_id) { replayer->cancel(socket_id); },
    };
    gateway::gateway gw(config.gateway, gateway::jwt_verifier(config.jwt), std::move(hooks));
    reader = std::make_unique<consumers::kafka_reader>(config.kafka, config.reader, unreadable, gw);
    replayer = std::make_unique<consumers::kafka_replayer>(config.kafka, config.replayer, unreadable, gw);
    if (config.dlq_enabled) dlq = std::make_unique<consumers::dlq_writer>(config.kafka, config.dlq, unreadable);
    reader->start();
    replayer->start();
    if (dlq) dlq->start();
    spdlog::info("listening on {}:{} for topics {} of brokers {} ({} io threads)", config.gateway.listen_host,
                 gw.port(), fmt::join(config.kafka.topics, ","), config.kafka.brokers, gw.io_threads());
    if (gw.admin_port()) spdlog::info("admin listening on {}:{} (/metrics)", config.gateway.admin_host, gw.admin_port());
    if (config.gateway.allowed_origins.empty())
        spdlog::warn("--allowed-origins is not set: pages of any origin may open sockets with a token");

    const sigset_t signals = handled_signals();
    std::thread waiter([&gw, signals] {
        int sig = 0;
        while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) gw.reload_tls();
        spdlog::info("signal {}: draining", sig);
        gw.shutdown();
    });
    waiter.detach();

    gw.run();
    // The sockets are drained. Stopping the Kafka side should take a moment; if a thread is
    // stuck (a broker that does not answer), the drain deadline still holds.
    std::thread deadline([timeout_ms = config.gateway.drain_timeout_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms + 2000));
        spdlog::error("stopping the Kafka side took over {} ms: exiting now", timeout_ms + 2000);
        spdlog::default_logger()->flush();
        std::_Exit(0);
    });
    deadline.detach();
    if (dlq) dlq->stop();
    replayer->stop();
    reader->stop();
    spdlog::info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    bridge::bridge_config config;
    if (auto code = bridge::parse_config(argc, argv, config)) return *code;
    if (config.run == bridge::bridge_config::command::produce) {
        try {
            return bridge::run_produce(config);
        } catch (const std::exception& e) {
            std::cerr << "bridge produce: " << e.what() << "\n";
            return 2;
        }
    }
    bridge::setup_json_logging(config.log_level);
    bridge::consumers::set_inflate_limits({});

    const sigset_t signals = handled_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        return serve(config);
    } catch (const std::invalid_argument& e) {
        std::cerr << "bridge: bad configuration: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        return 1;
    }
}
