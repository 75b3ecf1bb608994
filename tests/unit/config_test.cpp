#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bridge/config.hpp"

using bridge::bridge_config;
using bridge::parse_config;

namespace {

const char* const env_names[] = {
    "BRIDGE_BROKERS",          "BRIDGE_TOPICS",           "BRIDGE_KAFKA_PROPERTY",      "BRIDGE_MAX_RECORD_BYTES",
    "BRIDGE_METADATA_REFRESH_MS", "BRIDGE_LISTEN",        "BRIDGE_JWT_ALG",             "BRIDGE_JWT_SECRET",
    "BRIDGE_JWT_SECRET_FILE",  "BRIDGE_JWT_PUBLIC_KEY_FILE", "BRIDGE_JWT_ISSUER",       "BRIDGE_JWT_AUDIENCE",
    "BRIDGE_JWT_LEEWAY_S",     "BRIDGE_MAX_SOCKETS_PER_USER", "BRIDGE_MAX_SOCKETS",     "BRIDGE_MAX_INBOUND_BYTES",
    "BRIDGE_SEND_BUFFER_BYTES", "BRIDGE_PING_INTERVAL_MS", "BRIDGE_PONG_TIMEOUT_MS",    "BRIDGE_DRAIN_TIMEOUT_MS",
    "BRIDGE_LOG_LEVEL",        "BRIDGE_IPV6_PREFIX",      "BRIDGE_ADDRESS_CONNECTIONS_PER_SECOND",
    "BRIDGE_ADDRESS_CONNECTION_BURST", "BRIDGE_MAX_PENDING_AUTH_PER_ADDRESS",
};

// Each test starts and ends with no BRIDGE_* variable set, and removes the files it wrote.
struct config_fixture {
    bridge_config config;
    std::vector<std::string> files;

    config_fixture() { clear_env(); }
    ~config_fixture() {
        clear_env();
        for (const auto& f : files) std::remove(f.c_str());
    }
    static void clear_env() {
        for (const char* name : env_names) unsetenv(name);
    }

    std::optional<int> parse(std::vector<const char*> args) {
        args.insert(args.begin(), "bridge");
        return parse_config(static_cast<int>(args.size()), args.data(), config);
    }

    std::string temp_file(const std::string& content) {
        char path[] = "/tmp/bridge_config_test_XXXXXX";
        const int fd = mkstemp(path);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
        close(fd);
        files.emplace_back(path);
        return path;
    }
};

}  // namespace

TEST_CASE_FIXTURE(config_fixture, "defaults") {
    REQUIRE(parse({"--jwt-secret", "s3cret"}) == std::nullopt);
    CHECK(config.kafka.brokers == "127.0.0.1:9092");
    CHECK(config.kafka.topics == std::vector<std::string>{"agent-events"});
    CHECK(config.kafka.max_record_bytes == 1u << 20);
    CHECK(config.reader.metadata_refresh_ms == 5000);
    CHECK(config.kafka.kafka.empty());
    CHECK(config.gateway.listen_host == "0.0.0.0");
    CHECK(config.gateway.port == 8080);
    CHECK(config.gateway.max_sockets_per_user == 3);
    CHECK(config.gateway.max_sockets == 10000);
    CHECK(config.gateway.max_inbound_bytes == 4096);
    CHECK(config.gateway.send_buffer_bytes == 1u << 20);
    CHECK(config.gateway.ping_interval_ms == 30000);
    CHECK(config.gateway.pong_timeout_ms == 10000);
    CHECK(config.gateway.drain_timeout_ms == 5000);
    CHECK(config.gateway.ipv6_prefix == 64);
    CHECK(config.gateway.address_connections_per_second == 20);
    CHECK(config.gateway.address_connection_burst == 256);
    CHECK(config.gateway.max_pending_auth == 1024);
    CHECK(config.gateway.max_pending_auth_per_address == 32);
    CHECK(config.jwt.alg == "HS256");
    CHECK(config.jwt.secret == "s3cret");
    CHECK(config.jwt.public_key_pem.empty());
    CHECK(config.jwt.issuer.empty());
    CHECK(config.jwt.audience.empty());
    CHECK(config.jwt.leeway_s == 5);
    CHECK(config.log_level == "info");
}

TEST_CASE_FIXTURE(config_fixture, "flags override the defaults") {
    REQUIRE(parse({"--brokers", "k1:9092,k2:9092", "--topics", "a,b", "--max-record-bytes", "2048",
                   "--metadata-refresh-ms", "1000", "--listen", "127.0.0.1:9000", "--jwt-secret", "s",
                   "--jwt-issuer", "https://issuer", "--jwt-audience", "bridge", "--jwt-leeway-s", "30",
                   "--max-sockets-per-user", "5", "--max-sockets", "200", "--max-inbound-bytes", "1024",
                   "--send-buffer-bytes", "65536", "--ping-interval-ms", "0", "--pong-timeout-ms", "2000",
                   "--drain-timeout-ms", "100", "--log-level", "debug"}) == std::nullopt);
    CHECK(config.kafka.brokers == "k1:9092,k2:9092");
    CHECK(config.kafka.topics == std::vector<std::string>{"a", "b"});
    CHECK(config.kafka.max_record_bytes == 2048);
    CHECK(config.reader.metadata_refresh_ms == 1000);
    CHECK(config.gateway.listen_host == "127.0.0.1");
    CHECK(config.gateway.port == 9000);
    CHECK(config.jwt.issuer == "https://issuer");
    CHECK(config.jwt.audience == "bridge");
    CHECK(config.jwt.leeway_s == 30);
    CHECK(config.gateway.max_sockets_per_user == 5);
    CHECK(config.gateway.max_sockets == 200);
    CHECK(config.gateway.max_inbound_bytes == 1024);
    CHECK(config.gateway.send_buffer_bytes == 65536);
    CHECK(config.gateway.ping_interval_ms == 0);
    CHECK(config.gateway.pong_timeout_ms == 2000);
    CHECK(config.gateway.drain_timeout_ms == 100);
    CHECK(config.log_level == "debug");
}

TEST_CASE_FIXTURE(config_fixture, "--listen forms") {
    SUBCASE("port only") {
        REQUIRE(parse({"--jwt-secret", "s", "--listen", "9001"}) == std::nullopt);
        CHECK(config.gateway.listen_host == "0.0.0.0");
        CHECK(config.gateway.port == 9001);
    }
    SUBCASE(":port") {
        REQUIRE(parse({"--jwt-secret", "s", "--listen", ":0"}) == std::nullopt);
        CHECK(config.gateway.listen_host == "0.0.0.0");
        CHECK(config.gateway.port == 0);
    }
    SUBCASE("host:port") {
        REQUIRE(parse({"--jwt-secret", "s", "--listen", "localhost:65535"}) == std::nullopt);
        CHECK(config.gateway.listen_host == "localhost");
        CHECK(config.gateway.port == 65535);
    }
}

TEST_CASE_FIXTURE(config_fixture, "environment variables are used when no flag is given") {
    setenv("BRIDGE_BROKERS", "env-broker:9092", 1);
    setenv("BRIDGE_TOPICS", "x,y,z", 1);
    setenv("BRIDGE_LISTEN", "127.0.0.1:7000", 1);
    setenv("BRIDGE_JWT_SECRET", "env-secret", 1);
    setenv("BRIDGE_MAX_SOCKETS_PER_USER", "7", 1);
    setenv("BRIDGE_LOG_LEVEL", "warn", 1);
    setenv("BRIDGE_KAFKA_PROPERTY", "security.protocol=SSL,ssl.ca.location=/etc/ca.pem", 1);
    REQUIRE(parse({}) == std::nullopt);
    CHECK(config.kafka.brokers == "env-broker:9092");
    CHECK(config.kafka.topics == std::vector<std::string>{"x", "y", "z"});
    CHECK(config.gateway.listen_host == "127.0.0.1");
    CHECK(config.gateway.port == 7000);
    CHECK(config.jwt.secret == "env-secret");
    CHECK(config.gateway.max_sockets_per_user == 7);
    CHECK(config.log_level == "warn");
    CHECK(config.kafka.kafka ==
          std::map<std::string, std::string>{{"security.protocol", "SSL"}, {"ssl.ca.location", "/etc/ca.pem"}});
}

TEST_CASE_FIXTURE(config_fixture, "per-address limits from flags and from the environment") {
    setenv("BRIDGE_IPV6_PREFIX", "56", 1);
    setenv("BRIDGE_ADDRESS_CONNECTION_BURST", "20", 1);
    setenv("BRIDGE_MAX_PENDING_AUTH_PER_ADDRESS", "8", 1);
    REQUIRE(parse({"--jwt-secret", "s", "--address-connections-per-second", "2.5", "--max-pending-auth-per-address", "4"}) ==
            std::nullopt);
    CHECK(config.gateway.ipv6_prefix == 56);
    CHECK(config.gateway.address_connections_per_second == 2.5);
    CHECK(config.gateway.address_connection_burst == 20);
    CHECK(config.gateway.max_pending_auth_per_address == 4);
}

TEST_CASE_FIXTURE(config_fixture, "a flag beats its environment variable") {
    setenv("BRIDGE_BROKERS", "env-broker:9092", 1);
    setenv("BRIDGE_JWT_SECRET", "env-secret", 1);
    setenv("BRIDGE_MAX_SOCKETS_PER_USER", "7", 1);
    REQUIRE(parse({"--brokers", "flag-broker:9092", "--jwt-secret", "flag-secret", "--max-sockets-per-user", "2"}) ==
            std::nullopt);
    CHECK(config.kafka.brokers == "flag-broker:9092");
    CHECK(config.jwt.secret == "flag-secret");
    CHECK(config.gateway.max_sockets_per_user == 2);
}

TEST_CASE_FIXTURE(config_fixture, "bad values exit with 2") {
    std::vector<const char*> args;
    SUBCASE("unknown --jwt-alg") { args = {"--jwt-secret", "s", "--jwt-alg", "ES256"}; }
    SUBCASE("--jwt-alg none") { args = {"--jwt-secret", "s", "--jwt-alg", "none"}; }
    SUBCASE("--listen without a port") { args = {"--jwt-secret", "s", "--listen", "nope"}; }
    SUBCASE("--listen port out of range") { args = {"--jwt-secret", "s", "--listen", ":99999"}; }
    SUBCASE("--listen negative port") { args = {"--jwt-secret", "s", "--listen", "host:-1"}; }
    SUBCASE("--listen empty port") { args = {"--jwt-secret", "s", "--listen", "host:"}; }
    SUBCASE("--listen port with junk") { args = {"--jwt-secret", "s", "--listen", "host:80x"}; }
    SUBCASE("HS256 without a secret") { args = {"--jwt-alg", "HS256"}; }
    SUBCASE("HS256 with only a newline as secret") { args = {"--jwt-secret", "\n"}; }
    SUBCASE("RS256 without a key file") { args = {"--jwt-alg", "RS256"}; }
    SUBCASE("--kafka-property without '='") { args = {"--jwt-secret", "s", "--kafka-property", "novalue"}; }
    SUBCASE("--kafka-property without a key") { args = {"--jwt-secret", "s", "--kafka-property", "=v"}; }
    SUBCASE("unreadable --jwt-secret-file") { args = {"--jwt-secret-file", "/nonexistent/bridge/secret"}; }
    SUBCASE("empty --topics") { args = {"--jwt-secret", "s", "--topics", ","}; }
    SUBCASE("--max-sockets-per-user 0") { args = {"--jwt-secret", "s", "--max-sockets-per-user", "0"}; }
    SUBCASE("--max-record-bytes not a number") { args = {"--jwt-secret", "s", "--max-record-bytes", "big"}; }
    SUBCASE("--ipv6-prefix too short") { args = {"--jwt-secret", "s", "--ipv6-prefix", "16"}; }
    SUBCASE("--ipv6-prefix past 128") { args = {"--jwt-secret", "s", "--ipv6-prefix", "129"}; }
    SUBCASE("--address-connections-per-second 0") { args = {"--jwt-secret", "s", "--address-connections-per-second", "0"}; }
    SUBCASE("--log-level unknown") { args = {"--jwt-secret", "s", "--log-level", "verbose"}; }
    SUBCASE("unknown flag") { args = {"--jwt-secret", "s", "--no-such-flag"}; }
    CAPTURE(args.size());
    CHECK(parse(args) == 2);
}

TEST_CASE_FIXTURE(config_fixture, "a bad environment value exits with 2") {
    setenv("BRIDGE_JWT_SECRET", "s", 1);
    setenv("BRIDGE_JWT_ALG", "HS512", 1);
    CHECK(parse({}) == 2);
}

TEST_CASE_FIXTURE(config_fixture, "--help exits with 0") {
    CHECK(parse({"--help"}) == 0);
    CHECK(parse({"-h"}) == 0);
}

TEST_CASE_FIXTURE(config_fixture, "--jwt-secret-file reads the file and strips a trailing newline") {
    SUBCASE("newline") {
        const std::string path = temp_file("file-secret\n");
        REQUIRE(parse({"--jwt-secret-file", path.c_str()}) == std::nullopt);
        CHECK(config.jwt.secret == "file-secret");
    }
    SUBCASE("CRLF") {
        const std::string path = temp_file("file-secret\r\n");
        REQUIRE(parse({"--jwt-secret-file", path.c_str()}) == std::nullopt);
        CHECK(config.jwt.secret == "file-secret");
    }
    SUBCASE("no newline, inner spaces kept") {
        const std::string path = temp_file("a b\tc");
        REQUIRE(parse({"--jwt-secret-file", path.c_str()}) == std::nullopt);
        CHECK(config.jwt.secret == "a b\tc");
    }
    SUBCASE("from the environment") {
        const std::string path = temp_file("env-file-secret\n");
        setenv("BRIDGE_JWT_SECRET_FILE", path.c_str(), 1);
        REQUIRE(parse({}) == std::nullopt);
        CHECK(config.jwt.secret == "env-file-secret");
    }
    SUBCASE("an empty file is no secret") {
        const std::string path = temp_file("\n");
        CHECK(parse({"--jwt-secret-file", path.c_str()}) == 2);
    }
}

TEST_CASE_FIXTURE(config_fixture, "RS256 reads the public key file's text") {
    const std::string pem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
    const std::string path = temp_file(pem);
    REQUIRE(parse({"--jwt-alg", "RS256", "--jwt-public-key-file", path.c_str()}) == std::nullopt);
    CHECK(config.jwt.alg == "RS256");
    CHECK(config.jwt.public_key_pem == pem);
}

TEST_CASE_FIXTURE(config_fixture, "--topics a,b gives two topics") {
    REQUIRE(parse({"--jwt-secret", "s", "--topics", "a,b"}) == std::nullopt);
    CHECK(config.kafka.topics == std::vector<std::string>{"a", "b"});
}

TEST_CASE_FIXTURE(config_fixture, "--kafka-property key=value") {
    REQUIRE(parse({"--jwt-secret", "s", "--kafka-property", "a=b", "--kafka-property", "sasl.password=x=y",
                   "--kafka-property", "empty="}) == std::nullopt);
    CHECK(config.kafka.kafka == std::map<std::string, std::string>{{"a", "b"}, {"sasl.password", "x=y"}, {"empty", ""}});
}

TEST_CASE_FIXTURE(config_fixture, "a broker list that is empty or not host:port exits 2") {
    const char* secret = "0123456789abcdef0123456789abcdef";
    for (const char* brokers : {"", " ", "not a broker list", "host", "host:", ":9092", "host:0", "host:99999",
                                "host:90x", "a:1,,b", "http://x/y:1"}) {
        CAPTURE(brokers);
        CHECK(parse({"--brokers", brokers, "--jwt-secret", secret}) == 2);
    }
    for (const char* brokers : {"kafka:9092", "10.0.0.1:9092,10.0.0.2:9093", "SSL://broker.example:9093", "[::1]:9092"}) {
        CAPTURE(brokers);
        CHECK(parse({"--brokers", brokers, "--jwt-secret", secret}) == std::nullopt);
    }
}

TEST_CASE_FIXTURE(config_fixture, "one algorithm, one kind of key") {
    const std::string key = temp_file("-----BEGIN PUBLIC KEY-----\nnot checked here\n-----END PUBLIC KEY-----\n");
    CHECK(parse({"--jwt-alg", "RS256", "--jwt-public-key-file", key.c_str(), "--jwt-secret",
                 "0123456789abcdef0123456789abcdef"}) == 2);
    CHECK(parse({"--jwt-alg", "HS256", "--jwt-public-key-file", key.c_str(), "--jwt-secret",
                 "0123456789abcdef0123456789abcdef"}) == 2);
    config = bridge_config{};  // the checks above left a secret in it
    CHECK(parse({"--jwt-alg", "RS256", "--jwt-public-key-file", key.c_str()}) == std::nullopt);
}

TEST_CASE_FIXTURE(config_fixture, "--version exits 0") { CHECK(parse({"--version"}) == 0); }

TEST_CASE_FIXTURE(config_fixture, "the admin listener can be turned off, also from the environment") {
    const char* secret = "0123456789abcdef0123456789abcdef";
    REQUIRE(parse({"--jwt-secret", secret}) == std::nullopt);
    CHECK(config.gateway.admin_host == "127.0.0.1");
    CHECK(config.gateway.admin_port == 9091);
    config = bridge_config{};
    REQUIRE(parse({"--jwt-secret", secret, "--admin-listen", "none"}) == std::nullopt);
    CHECK(config.gateway.admin_host.empty());
    config = bridge_config{};
    setenv("BRIDGE_ADMIN_LISTEN", "none", 1);
    REQUIRE(parse({"--jwt-secret", secret}) == std::nullopt);
    CHECK(config.gateway.admin_host.empty());
    unsetenv("BRIDGE_ADMIN_LISTEN");
}
