#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "ws_gateway/admission.hpp"

using bridge::gateway::address_key;
using bridge::gateway::address_limits;
using bridge::gateway::client_address;
using bridge::gateway::connection_rate;
using bridge::gateway::origin_list;
using bridge::gateway::proxy_list;
using bridge::gateway::token_bucket;

TEST_CASE("origins: exact entries, wildcard hosts, ports and schemes") {
    const origin_list list({"https://app.example.com", "*.example.org", "https://*.corp.example", "http://localhost:5173"});
    CHECK(list.allows("https://app.example.com"));
    CHECK(list.allows("HTTPS://App.Example.COM"));
    CHECK_FALSE(list.allows("http://app.example.com"));
    CHECK_FALSE(list.allows("https://app.example.com:8443"));
    CHECK_FALSE(list.allows("https://app.example.com.evil.net"));
    CHECK_FALSE(list.allows("https://evilapp.example.com"));
    CHECK(list.allows("https://a.example.org"));
    CHECK(list.allows("http://a.b.example.org"));
    CHECK_FALSE(list.allows("https://example.org"));
    CHECK_FALSE(list.allows("https://badexample.org"));
    CHECK(list.allows("https://x.corp.example"));
    CHECK_FALSE(list.allows("http://x.corp.example"));
    CHECK(list.allows("http://localhost:5173"));
    CHECK_FALSE(list.allows("http://localhost"));
    CHECK_FALSE(list.allows("null"));
    CHECK_FALSE(list.allows(""));
    CHECK_FALSE(list.allows("https://"));
    CHECK(origin_list({}).allows("https://anything.example"));
}

TEST_CASE("origins: entries that are not origins are refused at start-up") {
    CHECK_THROWS_AS(origin_list({"example.com"}), std::invalid_argument);  // exact needs a scheme
    CHECK_THROWS_AS(origin_list({"https://a.*.example.com"}), std::invalid_argument);
    CHECK_THROWS_AS(origin_list({"https://example.com/path"}), std::invalid_argument);
    CHECK_THROWS_AS(origin_list({"https://example.com:port"}), std::invalid_argument);
}

TEST_CASE("trusted proxies: addresses and CIDR ranges, IPv4 and IPv6") {
    const proxy_list proxies({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "172.28.0.10/32"});
    CHECK(proxies.contains("10.1.2.3"));
    CHECK_FALSE(proxies.contains("11.0.0.1"));
    CHECK(proxies.contains("192.168.1.7"));
    CHECK_FALSE(proxies.contains("192.168.1.8"));
    CHECK(proxies.contains("fd12::1"));
    CHECK_FALSE(proxies.contains("fe80::1"));
    CHECK(proxies.contains("172.28.0.10"));
    CHECK_FALSE(proxies.contains("not an address"));
    CHECK(proxy_list({"0.0.0.0/0"}).contains("8.8.8.8"));
    CHECK(proxy_list({"10.0.0.0/12"}).contains("10.15.255.255"));
    CHECK_FALSE(proxy_list({"10.0.0.0/12"}).contains("10.16.0.0"));
    CHECK_THROWS_AS(proxy_list({"10.0.0.0/33"}), std::invalid_argument);
    CHECK_THROWS_AS(proxy_list({"nginx"}), std::invalid_argument);
    CHECK_THROWS_AS(proxy_list({"10.0.0.0/"}), std::invalid_argument);
}

TEST_CASE("trusted proxies match IPv4-mapped IPv6 spellings of their IPv4 addresses") {
    const proxy_list proxies({"10.0.0.0/8"});
    CHECK(proxies.contains("::ffff:10.1.2.3"));
    CHECK(proxies.contains("::FFFF:10.1.2.3"));
    CHECK_FALSE(proxies.contains("::ffff:11.0.0.1"));
    CHECK(client_address("::ffff:10.0.0.2", "198.51.100.1", proxies) == "198.51.100.1");
}

TEST_CASE("the client address comes from X-Forwarded-For only through trusted proxies") {
    const proxy_list proxies({"10.0.0.0/8"});
    CHECK(client_address("203.0.113.5", "198.51.100.1", proxies) == "203.0.113.5");  // not a proxy: ignored
    CHECK(client_address("10.0.0.2", "198.51.100.1", proxies) == "198.51.100.1");
    // A client may send its own header: only the entry our proxy added counts.
    CHECK(client_address("10.0.0.2", "1.2.3.4, 198.51.100.1", proxies) == "198.51.100.1");
    // Proxies in a chain are skipped from the right.
    CHECK(client_address("10.0.0.2", "198.51.100.1, 10.0.0.9", proxies) == "198.51.100.1");
    CHECK(client_address("10.0.0.2", "", proxies) == "10.0.0.2");
    CHECK(client_address("10.0.0.2", "garbage", proxies) == "10.0.0.2");
    CHECK(client_address("10.0.0.2", "198.51.100.1, garbage", proxies) == "10.0.0.2");
    CHECK(client_address("10.0.0.2", " 2001:db8::1 ", proxies) == "2001:db8::1");
}

TEST_CASE("address keys: one spelling per address, IPv4-mapped as IPv4, IPv6 grouped by prefix") {
    CHECK(address_key("198.51.100.7", 64) == "198.51.100.7");
    CHECK(address_key("::ffff:198.51.100.7", 64) == "198.51.100.7");
    CHECK(address_key("::FFFF:c633:6407", 64) == "198.51.100.7");
    CHECK(address_key("::ffff:198.51.100.7", 128) == "198.51.100.7");
    // Every spelling of one /64 is one key.
    const std::string key = "2001:db8:0:1::/64";
    CHECK(address_key("2001:db8:0:1::1", 64) == key);
    CHECK(address_key("2001:DB8:0:1:0:0:0:1", 64) == key);
    CHECK(address_key("2001:0db8:0000:0001:abcd:ef01:2345:6789", 64) == key);
    CHECK(address_key("2001:db8:0:2::1", 64) != key);
    // Other prefixes, including one that cuts a byte.
    CHECK(address_key("2001:db8:0:1::1", 128) == "2001:db8:0:1::1");
    CHECK(address_key("2001:DB8::0:1", 128) == "2001:db8::1");
    CHECK(address_key("2001:db8:abcd:ffff::1", 48) == "2001:db8:abcd::/48");
    CHECK(address_key("2001:db8:abcd:ffff::1", 60) == "2001:db8:abcd:fff0::/60");
    CHECK(address_key("2001:db8:abcd:ffff::1", 0) == "::/0");
    // Not an address: as it is (a peer is always one; this is only the fallback).
    CHECK(address_key("not an address", 64) == "not an address");
    CHECK(address_key("", 64).empty());
}

TEST_CASE("address limits: a total as well as a share per address") {
    address_limits pool(2, 3);
    address_limits::full why = address_limits::full::none;
    auto a1 = pool.acquire("a", &why);
    auto a2 = pool.acquire("a", &why);
    CHECK(why == address_limits::full::none);
    CHECK_FALSE(pool.acquire("a", &why).held());
    CHECK(why == address_limits::full::address);
    auto b1 = pool.acquire("b", &why);
    CHECK(b1.held());
    CHECK(pool.total() == 3);
    CHECK_FALSE(pool.acquire("c", &why).held());
    CHECK(why == address_limits::full::total);
    CHECK(pool.count("c") == 0);  // a refusal leaves no entry behind
    a1 = address_limits::ticket{};  // giving one back frees a place in the total
    CHECK(pool.total() == 2);
    CHECK(pool.acquire("c", &why).held());
    CHECK(why == address_limits::full::none);
    CHECK(pool.total() == 2);
}

TEST_CASE("connection rate: a bucket per address; full buckets are forgotten when the map is full") {
    connection_rate rate(1, 3, 2);
    for (int i = 0; i < 3; ++i) CHECK(rate.take("a", 10000));
    CHECK_FALSE(rate.take("a", 10000));
    CHECK(rate.take("b", 10000));  // another address has its own bucket
    CHECK(rate.take("a", 11000));  // one token a second
    CHECK_FALSE(rate.take("a", 11000));
    CHECK(rate.tracked() == 2);
    // Full map, and neither bucket has filled up again: "c" passes uncounted.
    CHECK(rate.take("c", 10500));
    CHECK(rate.tracked() == 2);
    // Later "b" is full again: it is forgotten and "c" gets a bucket of its own.
    CHECK(rate.take("c", 13000));
    CHECK(rate.tracked() == 2);
    CHECK(rate.take("c", 13000));
    CHECK(rate.take("c", 13000));
    CHECK_FALSE(rate.take("c", 13000));
}

TEST_CASE("address limits: tickets hold places and give them back") {
    address_limits limits(2);
    auto a = limits.acquire("1.1.1.1");
    auto b = limits.acquire("1.1.1.1");
    CHECK(a.held());
    CHECK(b.held());
    CHECK_FALSE(limits.acquire("1.1.1.1").held());
    CHECK(limits.acquire("2.2.2.2").held());  // released at once: a temporary
    CHECK(limits.count("2.2.2.2") == 0);
    CHECK(limits.count("1.1.1.1") == 2);
    {
        auto moved = std::move(a);
        CHECK_FALSE(a.held());
        CHECK(limits.count("1.1.1.1") == 2);
    }
    CHECK(limits.count("1.1.1.1") == 1);
    b = limits.acquire("3.3.3.3");  // assigning releases the old place
    CHECK(limits.count("1.1.1.1") == 0);
    CHECK(limits.count("3.3.3.3") == 1);
}

TEST_CASE("token bucket: a burst, then the rate") {
    token_bucket bucket;
    int passed = 0;
    for (int i = 0; i < 100; ++i) passed += bucket.take(1000, 10, 50);
    CHECK(passed == 50);
    CHECK_FALSE(bucket.take(1050, 10, 50));  // half a token later
    CHECK(bucket.take(1100, 10, 50));        // one token after 100 ms at 10/s
    CHECK_FALSE(bucket.take(1100, 10, 50));
    passed = 0;
    for (int i = 0; i < 100; ++i) passed += bucket.take(100000, 10, 50);  // refilled to the burst, no more
    CHECK(passed == 50);
    CHECK_FALSE(bucket.full_at(100000, 10, 50));
    CHECK(bucket.full_at(105000, 10, 50));
    CHECK_FALSE(bucket.take(99000, 10, 50));  // the clock stepped back: no tokens from it
}
