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


param_status query_param(std::string_view resource, std::string_view name, std::string& value) {
    value.clear();
    const auto q = resource.find('?');
    if (q == std::string_view::npos) return param_status::absent;
    param_status status = param_status::absent;
    std::string_view rest = resource.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
        if (status != param_status::absent) return value.clear(), param_status::malformed;
        status = param_status::ok;
        const std::string_view raw = pair.substr(eq + 1);
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '%') {
                value += raw[i] == '+' ? ' ' : raw[i];
                continue;
            }
            const int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
            const int lo = hi < 0 ? -1 : hex_value(raw[i + 2]);
            if (lo < 0) return value.clear(), param_status::malformed;
            value += static_cast<char>(hi * 16 + lo);
            i += 2;
        }
    }
    if (status != param_status::ok) value.clear();
    return status;
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
