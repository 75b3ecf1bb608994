#include "ws_gateway/request_params.hpp"

namespace bridge::gateway {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string_view path_of(std::string_view resource) { return resource.substr(0, resource.find('?')); }


std::string query_param(std::string_view resource, std::string_view name) {
    const auto q = resource.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = resource.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
        std::string out;
        const std::string_view raw = pair.substr(eq + 1);
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%') {
                if (i + 2 >= raw.size()) return {};
                const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
                if (hi < 0 || lo < 0) return {};
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
            } else {
                out += raw[i] == '+' ? ' ' : raw[i];
            }
        }
        return out;
    }
    return {};
}

std::string bearer_token(std::string_view authorization) {
    // The scheme name is case-insensitive (RFC 7235).
    constexpr std::string_view scheme = "bearer ";
    if (authorization.size() <= scheme.size()) return {};
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        const char c = authorization[i];
        if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != scheme[i]) return {};
    }
    return std::string(authorization.substr(scheme.size()));
}

}  // namespace bridge::gateway
