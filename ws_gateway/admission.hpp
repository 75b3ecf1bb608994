#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bridge::gateway {

// Origins a browser page may open sockets from: exact origins ("https://app.example.com")
// and wildcard hosts ("https://*.example.com", or "*.example.com" for any scheme). A port
// must match when the entry names one; an entry without a port matches the default port only.
class origin_list {
public:
    // Throws std::invalid_argument naming an entry that is not an origin or pattern.
    explicit origin_list(const std::vector<std::string>& entries);

    // True when no list is configured (every origin passes), or the origin matches an entry.
    bool allows(std::string_view origin) const;
    bool empty() const { return entries_.empty(); }

private:
    struct entry {
        std::string scheme;  // empty: any
        std::string host;    // lower case; for a wildcard, the suffix after "*"
        std::string port;    // empty: none
        bool wildcard = false;
    };
    std::vector<entry> entries_;
};

// Peers whose X-Forwarded-For is believed: addresses or CIDR ranges, IPv4 or IPv6.
class proxy_list {
public:
    // Throws std::invalid_argument naming an entry that is not an address or range.
    explicit proxy_list(const std::vector<std::string>& entries);

    bool contains(std::string_view address) const;
    bool empty() const { return ranges_.empty(); }

private:
    struct range {
        std::array<unsigned char, 16> bytes{};
        int family = 0;
        unsigned prefix = 0;
    };
    std::vector<range> ranges_;
};

// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
// X-Forwarded-For entry, read from the right, that is not itself a trusted proxy.
std::string client_address(std::string_view peer, std::string_view forwarded_for, const proxy_list& trusted);

// The key a client address is counted under, whatever its spelling: IPv4 as dotted quads,
// IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4, IPv6 in its canonical form (RFC 5952) with the
// bits past `ipv6_prefix` cleared and "/<prefix>" appended ("2001:db8:1:2::/64"), since one
// host may hold a whole /64. Text that is not an address is returned as it is.
std::string address_key(std::string_view address, unsigned ipv6_prefix);

// Places held per client address, and in all, at once. A ticket holds one place and gives it
// back when destroyed; the counts outlive the gateway if a connection does.
class address_limits {
    struct counts;

public:
    class ticket {
    public:
        ticket() = default;
        ticket(ticket&&) noexcept = default;
        ticket& operator=(ticket&& other) noexcept;
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ~ticket();
        bool held() const { return counts_ != nullptr; }
        // The client address it counts (behind a trusted proxy, the forwarded one).
        const std::string& address() const { return address_; }

    private:
        friend class address_limits;
        void release() noexcept;
        std::shared_ptr<counts> counts_;
        std::string address_;
    };

    // Which limit an empty ticket ran into.
    enum class full { none, address, total };

    explicit address_limits(std::size_t per_address, std::size_t total = SIZE_MAX);

    // A ticket for the address, or an empty one when it already holds per_address places, or
    // every one of the total is taken (then `why`, if given, says which).
    ticket acquire(const std::string& address, full* why = nullptr);
    std::size_t count(const std::string& address) const;
    std::size_t total() const;

private:
    struct counts {
        std::size_t limit;
        std::size_t total_limit;
        std::size_t total = 0;
        std::mutex mutex;  // tickets are taken and dropped on every io thread
        std::unordered_map<std::string, std::size_t> by_address;  // no entry at zero
    };
    std::shared_ptr<counts> counts_;
};

// Client messages allowed per socket, or connections per address: `rate` a second on
// average, `burst` at once.
class token_bucket {
public:
    // True if one may pass now (and takes its token).
    bool take(int64_t now_ms, double rate, double burst) {
        tokens_ = tokens_at(now_ms, rate, burst);
        last_ms_ = now_ms;
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

    // True once the bucket has filled up again: it is then the same as a new one.
    bool full_at(int64_t now_ms, double rate, double burst) const { return tokens_at(now_ms, rate, burst) >= burst; }

private:
    double tokens_at(int64_t now_ms, double rate, double burst) const {
        if (last_ms_ == 0) return burst;
        const int64_t elapsed = std::max<int64_t>(0, now_ms - last_ms_);  // the clock may step back
        return std::min(burst, tokens_ + static_cast<double>(elapsed) * rate / 1000.0);
    }
    double tokens_ = 0;
    int64_t last_ms_ = 0;
};

// New connections per client address (a key from address_key): a token bucket each.
// Thread-safe. A bucket that has filled up again is the same as none, so those are dropped
// when the map reaches `max_addresses` (at most once a second); an address that finds the
// map still full then is let through uncounted rather than refused.
class connection_rate {
public:
    connection_rate(double rate, double burst, std::size_t max_addresses = 65536);

    // True if the address may open a connection now (and takes its token).
    bool take(const std::string& address, int64_t now_ms);
    std::size_t tracked() const;

private:
    const double rate_, burst_;
    const std::size_t max_addresses_;
    mutable std::mutex mutex_;  // connections are admitted on every io thread
    std::unordered_map<std::string, token_bucket> buckets_;
    int64_t last_prune_ms_ = 0;
};

}  // namespace bridge::gateway
