#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
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

// Concurrent connections per client address. A ticket holds one place and gives it back
// when destroyed; the counts outlive the gateway if a connection does.
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

    explicit address_limits(std::size_t per_address);

    // A ticket for the address, or an empty one when it already holds per_address places.
    ticket acquire(const std::string& address);
    std::size_t count(const std::string& address) const;

private:
    struct counts {
        std::size_t limit;
        std::mutex mutex;  // tickets are taken and dropped on every io thread
        std::unordered_map<std::string, std::size_t> by_address;
    };
    std::shared_ptr<counts> counts_;
};

// Client messages allowed per socket: `rate` a second on average, `burst` at once.
class token_bucket {
public:
    // True if a message may pass now (and takes its token).
    bool take(int64_t now_ms, double rate, double burst) {
        if (last_ms_ == 0) tokens_ = burst;
        tokens_ = std::min(burst, tokens_ + static_cast<double>(now_ms - last_ms_) * rate / 1000.0);
        last_ms_ = now_ms;
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

private:
    double tokens_ = 0;
    int64_t last_ms_ = 0;
};

}  // namespace bridge::gateway
