#include "ws_gateway/admission.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <stdexcept>

namespace bridge::gateway {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct origin_parts {
    std::string scheme, host, port;
};

// "scheme://host[:port]" or, for a pattern, "host[:port]"; false if it is neither.
bool split_origin(std::string_view text, bool scheme_required, origin_parts& out) {
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) {
        if (scheme_required) return false;
    } else {
        out.scheme = lower(text.substr(0, sep));
        text.remove_prefix(sep + 3);
        if (out.scheme.empty()) return false;
    }
    // IPv6 literals keep their brackets; the port follows the last colon after them.
    const auto bracket = text.rfind(']');
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        out.port = std::string(text.substr(colon + 1));
        text = text.substr(0, colon);
        if (out.port.empty() || out.port.find_first_not_of("0123456789") != std::string::npos) return false;
    }
    out.host = lower(text);
    return !out.host.empty() && out.host.find_first_of("/?#@ ") == std::string::npos;
}

// Parses an address into 16 bytes; returns the family (AF_INET, AF_INET6) or 0.
int parse_address(std::string_view text, std::array<unsigned char, 16>& bytes) {
    const std::string s(text);
    bytes.fill(0);
    if (inet_pton(AF_INET, s.c_str(), bytes.data()) == 1) return AF_INET;
    if (inet_pton(AF_INET6, s.c_str(), bytes.data()) == 1) return AF_INET6;
    return 0;
}

// As parse_address, but an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 one.
int parse_client(std::string_view text, std::array<unsigned char, 16>& bytes) {
    const int family = parse_address(text, bytes);
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (family != AF_INET6 || std::memcmp(bytes.data(), mapped, sizeof mapped) != 0) return family;
    std::memmove(bytes.data(), bytes.data() + 12, 4);
    std::fill(bytes.begin() + 4, bytes.end(), 0);
    return AF_INET;
}

}  // namespace

origin_list::origin_list(const std::vector<std::string>& entries) {
    for (const auto& text : entries) {
        origin_parts parts;
        if (!split_origin(text, false, parts))
            throw std::invalid_argument("allowed origin \"" + text + "\" is not scheme://host[:port] or *.domain");
        entry e{parts.scheme, parts.host, parts.port, false};
        if (e.host.rfind("*.", 0) == 0) {
            e.wildcard = true;
            e.host.erase(0, 1);  // keep the dot: "*.example.com" matches "a.example.com", not "example.com"
        } else if (e.host.find('*') != std::string::npos || e.scheme.empty()) {
            throw std::invalid_argument("allowed origin \"" + text + "\": exact origins need a scheme, wildcards start with *.");
        }
        entries_.push_back(std::move(e));
    }
}

bool origin_list::allows(std::string_view origin) const {
    if (entries_.empty()) return true;
    origin_parts o;
    if (!split_origin(origin, true, o)) return false;  // also "null"
    for (const auto& e : entries_) {
        if (!e.scheme.empty() && e.scheme != o.scheme) continue;
        if (e.port != o.port) continue;
        if (e.wildcard ? o.host.size() > e.host.size() && o.host.compare(o.host.size() - e.host.size(), e.host.size(), e.host) == 0
                       : o.host == e.host)
            return true;
    }
    return false;
}

proxy_list::proxy_list(const std::vector<std::string>& entries) {
    for (const auto& text : entries) {
        const auto slash = text.find('/');
        range r;
        r.family = parse_address(std::string_view(text).substr(0, slash), r.bytes);
        if (r.family == 0) throw std::invalid_argument("trusted proxy \"" + text + "\" is not an address or CIDR range");
        const unsigned bits = r.family == AF_INET ? 32 : 128;
        r.prefix = bits;
        if (slash != std::string::npos) {
            const std::string prefix = text.substr(slash + 1);
            if (prefix.empty() || prefix.size() > 3 || prefix.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(prefix) > bits)
                throw std::invalid_argument("trusted proxy \"" + text + "\": bad prefix length");
            r.prefix = static_cast<unsigned>(std::stoul(prefix));
        }
        ranges_.push_back(r);
    }
}

bool proxy_list::contains(std::string_view address) const {
    std::array<unsigned char, 16> bytes;
    const int family = parse_client(address, bytes);
    if (family == 0) return false;
    for (const auto& r : ranges_) {
        if (r.family != family) continue;
        const unsigned whole = r.prefix / 8, rest = r.prefix % 8;
        if (std::memcmp(bytes.data(), r.bytes.data(), whole) != 0) continue;
        const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - rest));
        if (rest == 0 || (bytes[whole] & mask) == (r.bytes[whole] & mask)) return true;
    }
    return false;
}

std::string client_address(std::string_view peer, std::string_view forwarded_for, const proxy_list& trusted) {
    if (!trusted.contains(peer)) return std::string(peer);
    std::string_view rest = forwarded_for;
    std::string nearest(peer);
    while (!rest.empty()) {
        const auto comma = rest.rfind(',');
        const std::string_view hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
        std::array<unsigned char, 16> bytes;
        if (parse_address(hop, bytes) == 0) break;  // garbage: trust nothing further left
        nearest = std::string(hop);
        if (!trusted.contains(hop)) break;
    }
    return nearest;
}

std::string address_key(std::string_view address, unsigned ipv6_prefix) {
    std::array<unsigned char, 16> bytes;
    const int family = parse_client(address, bytes);
    if (family == 0) return std::string(address);
    if (family == AF_INET6 && ipv6_prefix < 128) {
        const unsigned whole = ipv6_prefix / 8, rest = ipv6_prefix % 8;
        if (rest) bytes[whole] &= static_cast<unsigned char>(0xFF << (8 - rest));
        std::fill(bytes.begin() + whole + (rest ? 1 : 0), bytes.end(), 0);
    }
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, bytes.data(), text, sizeof text)) return std::string(address);
    std::string key(text);
    if (family == AF_INET6 && ipv6_prefix < 128) key += "/" + std::to_string(ipv6_prefix);
    return key;
}

address_limits::address_limits(std::size_t per_address, std::size_t total) : counts_(std::make_shared<counts>()) {
    counts_->limit = per_address;
    counts_->total_limit = total;
}

address_limits::ticket address_limits::acquire(const std::string& address, full* why) {
    ticket t;
    if (why) *why = full::none;
    std::lock_guard<std::mutex> lock(counts_->mutex);
    if (counts_->total >= counts_->total_limit) {
        if (why) *why = full::total;
        return t;
    }
    auto& n = counts_->by_address[address];
    if (n >= counts_->limit) {
        if (n == 0) counts_->by_address.erase(address);
        if (why) *why = full::address;
        return t;
    }
    ++n;
    ++counts_->total;
    t.counts_ = counts_;
    t.address_ = address;
    return t;
}

std::size_t address_limits::total() const {
    std::lock_guard<std::mutex> lock(counts_->mutex);
    return counts_->total;
}

std::size_t address_limits::count(const std::string& address) const {
    std::lock_guard<std::mutex> lock(counts_->mutex);
    const auto it = counts_->by_address.find(address);
    return it == counts_->by_address.end() ? 0 : it->second;
}

void address_limits::ticket::release() noexcept {
    if (!counts_) return;
    std::lock_guard<std::mutex> lock(counts_->mutex);
    const auto it = counts_->by_address.find(address_);
    if (it != counts_->by_address.end() && --it->second == 0) counts_->by_address.erase(it);
    --counts_->total;
    counts_.reset();
}

address_limits::ticket& address_limits::ticket::operator=(ticket&& other) noexcept {
    if (this != &other) {
        release();
        counts_ = std::move(other.counts_);
        address_ = std::move(other.address_);
    }
    return *this;
}

address_limits::ticket::~ticket() { release(); }

connection_rate::connection_rate(double rate, double burst, std::size_t max_addresses)
    : rate_(rate), burst_(burst), max_addresses_(max_addresses) {}

bool connection_rate::take(const std::string& address, int64_t now_ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = buckets_.find(address);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_addresses_ && now_ms - last_prune_ms_ >= 1000) {
            last_prune_ms_ = now_ms;
            for (auto b = buckets_.begin(); b != buckets_.end();)
                b = b->second.full_at(now_ms, rate_, burst_) ? buckets_.erase(b) : std::next(b);
        }
        if (buckets_.size() >= max_addresses_) return true;  // too many at once to count: let it pass
        it = buckets_.emplace(address, token_bucket{}).first;
    }
    return it->second.take(now_ms, rate_, burst_);
}

std::size_t connection_rate::tracked() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return buckets_.size();
}

}  // namespace bridge::gateway
