#include "bridge/config.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "bridge/build_version.hpp"

namespace bridge {

namespace {

std::string read_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CLI::ValidationError(what, "cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, sep))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

// "host:port" or ":port" or "port".
void parse_listen(const std::string& listen, std::string& host_out, uint16_t& port_out, const char* flag) {
    const auto colon = listen.rfind(':');
    const std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
    const std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
    int value = -1;
    try {
        std::size_t used = 0;
        value = std::stoi(port, &used);
        if (used != port.size()) value = -1;
    } catch (const std::exception&) {
    }
    if (value < 0 || value > 65535) throw CLI::ValidationError(flag, "expected host:port, got " + listen);
    host_out = host.empty() ? "0.0.0.0" : host;
    port_out = static_cast<uint16_t>(value);
}

// A Kafka bootstrap list: comma-separated host:port, each optionally with a listener
// scheme (SSL://host:port). Anything else would leave the worker retrying forever.
void check_brokers(const std::string& brokers) {
    const auto entries = split(brokers, ',');
    if (entries.empty()) throw CLI::ValidationError("--brokers", "no broker given: expected host:port[,host:port...]");
    for (std::string entry : entries) {
        const auto scheme = entry.find("://");
        if (scheme != std::string::npos) entry = entry.substr(scheme + 3);
        const auto colon = entry.rfind(':');
        const std::string host = colon == std::string::npos ? "" : entry.substr(0, colon);
        const std::string port = colon == std::string::npos ? "" : entry.substr(colon + 1);
        const bool port_ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                             std::stoi(port) > 0 && std::stoi(port) <= 65535;
        if (host.empty() || host.find_first_of(" \t/") != std::string::npos || !port_ok)
            throw CLI::ValidationError("--brokers", "\"" + entry + "\" is not host:port");
    }
}

}  // namespace

std::optional<int> parse_config(int argc, const char* const* argv, bridge_config& out) {
    CLI::App app{"bridge: delivers agent events from Kafka to the WebSockets of their users.\n"
                 "Every flag can also be set by the environment variable shown beside it."};
    app.option_defaults()->always_capture_default();
    app.set_version_flag("--version", std::string("bridge ") + version + " (commit " + commit + ")");

    auto& r = out.reader;
    auto& k = out.kafka;
    auto& g = out.gateway;
    auto& j = out.jwt;
    std::string topics = "agent-events";
    std::string listen = "0.0.0.0:8080";
    std::string admin_listen = "127.0.0.1:9091";
    std::string secret_file, public_key_file;
    std::vector<std::string> kafka_properties;
    std::string unreadable = "skip";
    k.brokers = "127.0.0.1:9092";
    j.alg = "HS256";

    app.add_option("--brokers", k.brokers, "Kafka bootstrap servers")->envname("BRIDGE_BROKERS");
    app.add_option("--topics", topics, "Topics to read, comma-separated")->envname("BRIDGE_TOPICS");
    app.add_option("--kafka-property", kafka_properties,
                   "Extra librdkafka property key=value (repeatable; in the environment, comma-separated)")
        ->envname("BRIDGE_KAFKA_PROPERTY")->delimiter(',');
    app.add_option("--max-record-bytes", k.max_record_bytes, "Larger records are rejected (too_large)")
        ->envname("BRIDGE_MAX_RECORD_BYTES")->check(CLI::Range(std::size_t{64}, std::size_t{64} << 20));
    app.add_option("--max-depth", k.max_depth, "Records nesting arrays or objects deeper are rejected (too_deep)")
        ->envname("BRIDGE_MAX_DEPTH")->check(CLI::Range(std::size_t{2}, std::size_t{10000}));
    app.add_option("--unreadable-batches", unreadable,
                   "A batch no reader can decode (corrupt, or inflating past the limit): skip it, logged, counted "
                   "and noted in the dead-letter topic; or stop there (the partition is stuck, /readyz fails)")
        ->envname("BRIDGE_UNREADABLE_BATCHES")->check(CLI::IsMember({"skip", "stop"}));
    app.add_option("--reader-stall-ms", r.stall_ms,
                   "If the Kafka reader, or one of its partitions, makes no progress this long while records wait, "
                   "/readyz fails")
        ->envname("BRIDGE_READER_STALL_MS")->check(CLI::Range(1000, 3600000));
    app.add_option("--metadata-refresh-ms", r.metadata_refresh_ms, "How often new partitions and lag are checked")
        ->envname("BRIDGE_METADATA_REFRESH_MS")->check(CLI::Range(100, 3600000));
    app.add_option("--listen", listen, "Address and port for WebSockets, /healthz and /readyz")->envname("BRIDGE_LISTEN");
    app.add_option("--tls-cert-file", g.tls_cert_file,
                   "PEM certificate chain: the public listener speaks TLS (wss://); re-read on SIGHUP")
        ->envname("BRIDGE_TLS_CERT_FILE");
    app.add_option("--tls-key-file", g.tls_key_file, "PEM private key of --tls-cert-file; re-read on SIGHUP")
        ->envname("BRIDGE_TLS_KEY_FILE");
    app.add_option("--admin-listen", admin_listen,
                   "Address and port for /metrics, /healthz and /readyz (\"none\" or \"\" for none); keep it private")
        ->envname("BRIDGE_ADMIN_LISTEN");
    app.add_option("--allowed-origins", g.allowed_origins,
                   "Origins whose pages may open sockets: https://app.example.com or *.example.com, comma-separated "
                   "(unset: any; requests without Origin are not affected)")
        ->envname("BRIDGE_ALLOWED_ORIGINS")->delimiter(',');
    app.add_option("--trusted-proxies", g.trusted_proxies,
                   "Addresses or CIDR ranges of proxies whose X-Forwarded-For names the client, comma-separated")
        ->envname("BRIDGE_TRUSTED_PROXIES")->delimiter(',');
    app.add_option("--max-connections-per-address", g.max_connections_per_address,
                   "Concurrent connections and handshakes one client address may hold; past it: closed, or HTTP 429")
        ->envname("BRIDGE_MAX_CONNECTIONS_PER_ADDRESS")->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
    app.add_option("--ipv6-prefix", g.ipv6_prefix,
                   "IPv6 clients are counted per network of this prefix length by the per-address limits (128: per address)")
        ->envname("BRIDGE_IPV6_PREFIX")->check(CLI::Range(32u, 128u));
    app.add_option("--address-connections-per-second", g.address_connections_per_second,
                   "New connections one client address may open per second on average; past the burst: closed, or HTTP 429")
        ->envname("BRIDGE_ADDRESS_CONNECTIONS_PER_SECOND")->check(CLI::Range(0.1, 1000000.0));
    app.add_option("--address-connection-burst", g.address_connection_burst,
                   "New connections one client address may open at once")
        ->envname("BRIDGE_ADDRESS_CONNECTION_BURST")->check(CLI::Range(1.0, 1000000.0));
    app.add_option("--client-messages-per-second", g.client_messages_per_second,
                   "Client messages (and pings) a socket may send per second on average; past the burst: close 1008")
        ->envname("BRIDGE_CLIENT_MESSAGES_PER_SECOND")->check(CLI::Range(0.1, 100000.0));
    app.add_option("--auth-timeout-ms", g.auth_timeout_ms,
                   "A socket opened without a token must send its auth message by then, else close 4408")
        ->envname("BRIDGE_AUTH_TIMEOUT_MS")->check(CLI::Range(100L, 600000L));
    app.add_option("--max-pending-auth", g.max_pending_auth,
                   "Sockets opened without a token that may wait for their auth message at once; then HTTP 503")
        ->envname("BRIDGE_MAX_PENDING_AUTH")->check(CLI::Range(std::size_t{0}, std::size_t{1000000}));
    app.add_option("--max-pending-auth-per-address", g.max_pending_auth_per_address,
                   "Of those, how many one client address may hold; then HTTP 429")
        ->envname("BRIDGE_MAX_PENDING_AUTH_PER_ADDRESS")->check(CLI::Range(std::size_t{0}, std::size_t{1000000}));
    app.add_option("--client-message-burst", g.client_message_burst, "Client messages a socket may send at once")
        ->envname("BRIDGE_CLIENT_MESSAGE_BURST")->check(CLI::Range(1.0, 100000.0));
    app.add_option("--jwt-alg", j.alg, "Token algorithm, pinned: HS256 or RS256")
        ->envname("BRIDGE_JWT_ALG")->check(CLI::IsMember({"HS256", "RS256"}));
    app.add_option("--jwt-secret", j.secret, "HS256 shared secret (prefer the environment or a file)")
        ->envname("BRIDGE_JWT_SECRET")->capture_default_str()->default_str("");
    app.add_option("--jwt-secret-file", secret_file, "File holding the HS256 secret")->envname("BRIDGE_JWT_SECRET_FILE");
    app.add_option("--jwt-public-key-file", public_key_file, "PEM file with the RS256 public key")
        ->envname("BRIDGE_JWT_PUBLIC_KEY_FILE");
    app.add_option("--jwt-issuer", j.issuer, "Required iss claim (empty: not checked)")->envname("BRIDGE_JWT_ISSUER");
    app.add_option("--jwt-audience", j.audience, "Required aud claim (empty: not checked)")->envname("BRIDGE_JWT_AUDIENCE");
    app.add_option("--jwt-leeway-s", j.leeway_s, "Clock skew allowed on exp and nbf, seconds")
        ->envname("BRIDGE_JWT_LEEWAY_S")->check(CLI::Range(0, 300));
    app.add_option("--max-sockets-per-user", g.max_sockets_per_user, "A newer socket closes the oldest (4001)")
        ->envname("BRIDGE_MAX_SOCKETS_PER_USER")->check(CLI::Range(1, 1000));
    app.add_option("--max-sockets", g.max_sockets, "Upgrades past this get HTTP 503")
        ->envname("BRIDGE_MAX_SOCKETS")->check(CLI::Range(1, 10000000));
    app.add_option("--io-threads", g.io_threads, "Threads that own the sockets, dealt in turn (0: one per core)")
        ->envname("BRIDGE_IO_THREADS")->check(CLI::Range(0, 256));
    app.add_option("--max-inbound-bytes", g.max_inbound_bytes, "Largest client message; larger closes with 1009")
        ->envname("BRIDGE_MAX_INBOUND_BYTES")->check(CLI::Range(64, 1 << 20));
    app.add_option("--send-buffer-bytes", g.send_buffer_bytes, "Per-socket unsent bytes, the kernel's included (SO_SNDBUF is a quarter of it, at most 256 KiB); past it for 0.5 s, or past 4 times it, the socket closes (4002)")
        ->envname("BRIDGE_SEND_BUFFER_BYTES")->check(CLI::Range(std::size_t{1024}, std::size_t{256} << 20));
    app.add_option("--ping-interval-ms", g.ping_interval_ms, "Ping every socket this often (0: never)")
        ->envname("BRIDGE_PING_INTERVAL_MS")->check(CLI::Range(0L, 3600000L));
    app.add_option("--pong-timeout-ms", g.pong_timeout_ms, "Close a socket that does not answer a ping (4003)")
        ->envname("BRIDGE_PONG_TIMEOUT_MS")->check(CLI::Range(100L, 600000L));
    app.add_option("--drain-timeout-ms", g.drain_timeout_ms, "On SIGTERM, wait this long for sockets to close")
        ->envname("BRIDGE_DRAIN_TIMEOUT_MS")->check(CLI::Range(0L, 600000L));
    auto& rp = out.replayer;
    app.add_option("--replay-max-events", rp.max_events, "Events one resume or late join may replay; then resume_truncated")
        ->envname("BRIDGE_REPLAY_MAX_EVENTS")->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
    app.add_option("--replay-max-bytes", rp.max_bytes, "Bytes one replay may send; then resume_truncated")
        ->envname("BRIDGE_REPLAY_MAX_BYTES")->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 32));
    app.add_option("--replay-concurrency", rp.concurrency, "Replays reading Kafka at once (others wait)")
        ->envname("BRIDGE_REPLAY_CONCURRENCY")->check(CLI::Range(std::size_t{1}, std::size_t{64}));
    app.add_option("--replay-max-queued", rp.max_queued, "Replays waiting; past it a socket is closed with 1013")
        ->envname("BRIDGE_REPLAY_MAX_QUEUED")->check(CLI::Range(std::size_t{0}, std::size_t{1000000}));
    app.add_option("--replay-lookback-ms", rp.lookback_ms,
                   "On resume, a user's other partitions are read from this long before the cursor")
        ->envname("BRIDGE_REPLAY_LOOKBACK_MS")->check(CLI::Range(int64_t{0}, int64_t{86400000}));
    app.add_option("--replay-timeout-ms", rp.timeout_ms, "A replay not done by then closes the socket with 1013")
        ->envname("BRIDGE_REPLAY_TIMEOUT_MS")->check(CLI::Range(1000, 600000));
    app.add_flag("--dlq", out.dlq_enabled, "Copy rejected records to <topic>.dlq, once for the fleet")
        ->envname("BRIDGE_DLQ");
    app.add_option("--dlq-group", out.dlq.group, "Consumer group the workers share to write the dead-letter topic")
        ->envname("BRIDGE_DLQ_GROUP");
    app.add_option("--dlq-start", out.dlq.start, "Where a new dead-letter group starts reading")
        ->envname("BRIDGE_DLQ_START")->check(CLI::IsMember({"latest", "earliest"}));
    app.add_option("--log-level", out.log_level, "trace, debug, info, warn, error")
        ->envname("BRIDGE_LOG_LEVEL")->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

    auto& p = out.produce;
    CLI::App* produce = app.add_subcommand("produce", "Publish one event, validated against the schemas first");
    produce->fallthrough();
    produce->add_option("--topic", p.topic, "Topic (default: the first of --topics)");
    produce->add_option("--user", p.user, "User id: the record key and the envelope's user_id");
    produce->add_option("--type", p.type, "Event type, e.g. tool_executing");
    produce->add_option("--run-id", p.run_id, "Agent run id");
    produce->add_option("--thread-id", p.thread_id, "Thread id");
    produce->add_option("--payload", p.payload, "Payload as a JSON object");
    produce->add_option("--envelope", p.envelope, "A whole envelope as JSON instead of the fields above; - reads stdin");

    try {
        app.parse(argc, argv);
        if (produce->parsed()) out.run = bridge_config::command::produce;
        k.topics = split(topics, ',');
        if (k.topics.empty()) throw CLI::ValidationError("--topics", "at least one topic is needed");
        check_brokers(k.brokers);
        k.unreadable = unreadable == "stop" ? consumers::unreadable_policy::stop : consumers::unreadable_policy::skip;
        for (const auto& kv : kafka_properties) {
            const auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0)
                throw CLI::ValidationError("--kafka-property", "expected key=value, got " + kv);
            k.kafka[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
        parse_listen(listen, g.listen_host, g.port, "--listen");
        g.admin_host.clear();
        // "none" also works from the environment, where CLI11 reads an empty value as unset.
        if (!admin_listen.empty() && admin_listen != "none")
            parse_listen(admin_listen, g.admin_host, g.admin_port, "--admin-listen");
        if (!secret_file.empty()) j.secret = read_file(secret_file, "--jwt-secret-file");
        while (!j.secret.empty() && (j.secret.back() == '\n' || j.secret.back() == '\r')) j.secret.pop_back();
        if (!public_key_file.empty()) j.public_key_pem = read_file(public_key_file, "--jwt-public-key-file");
        if (out.run == bridge_config::command::produce) {
            if (p.topic.empty()) p.topic = k.topics.front();
            if (p.envelope.empty() && (p.user.empty() || p.type.empty() || p.run_id.empty() || p.thread_id.empty()))
                throw CLI::ValidationError("produce", "give --user, --type, --run-id and --thread-id, or --envelope");
            return std::nullopt;  // producing needs no token settings
        }
        if (g.tls_cert_file.empty() != g.tls_key_file.empty())
            throw CLI::ValidationError("--tls-cert-file", "TLS needs both --tls-cert-file and --tls-key-file");
        // One algorithm, one kind of key: a leftover of the other is a mistake, not a fallback.
        if (j.alg == "RS256" && !j.secret.empty())
            throw CLI::ValidationError("--jwt-secret", "RS256 takes a public key only: unset the HS256 secret");
        if (j.alg == "HS256" && !public_key_file.empty())
            throw CLI::ValidationError("--jwt-public-key-file", "HS256 takes a secret only: unset the RS256 key file");
        if (j.alg == "HS256" && j.secret.empty())
            throw CLI::ValidationError("--jwt-secret", "HS256 needs --jwt-secret or --jwt-secret-file");
        if (j.alg == "RS256" && j.public_key_pem.empty())
            throw CLI::ValidationError("--jwt-public-key-file", "RS256 needs a public key file");
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::CallForVersion&) {
        std::cout << app.version() << "\n";
        return 0;
    } catch (const CLI::ParseError& e) {
        std::cerr << "bridge: bad configuration: " << e.what() << "\n(see bridge --help)\n";
        return 2;
    }
    return std::nullopt;
}

}  // namespace bridge
