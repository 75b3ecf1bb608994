// Fuzzes the request target and header helpers. The input is read two ways: as a request
// target and Authorization value (path_of, bearer_token, query_param hold their contracts),
// and as one flags byte plus a value that is percent-encoded into a query and must decode
// back to exactly itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_checks.hpp"
#include "ws_gateway/request_params.hpp"

namespace {

using bridge::gateway::param_status;
using bridge::gateway::query_param;
using fuzz::require;

const char* const names[] = {"access_token", "resume", "run_id", "since"};

// Case-insensitive "bearer " at the start.
bool bearer_prefix(std::string_view s) {
    constexpr std::string_view scheme = "bearer ";
    if (s.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
        if (c != scheme[i]) return false;
    }
    return true;
}

void check_raw(std::string_view text) {
    const std::string_view path = bridge::gateway::path_of(text);
    require(path.data() == text.data() && path.size() <= text.size(), "path_of is not a prefix of the target");
    require(path.find('?') == std::string_view::npos, "path_of holds a '?'");
    require(path.size() == text.size() || text[path.size()] == '?', "path_of stops before the query");

    const std::string token = bridge::gateway::bearer_token(text);
    if (bearer_prefix(text) && text.size() > 7) {
        require(token == text.substr(7), "bearer_token is not what follows the scheme");
    } else {
        require(token.empty(), "bearer_token from a value without the Bearer scheme");
    }

    for (const char* name : names) {
        std::string value = "stale";
        const param_status s = query_param(text, name, value);
        if (s == param_status::ok) {
            require(value.size() <= text.size(), "a decoded parameter is longer than the target");
        } else {
            require(value.empty(), "a parameter not found or malformed leaves a value");
        }
    }
}

enum : uint8_t {
    encode_all = 1,      // every byte as %XX
    keep_more = 2,       // only what must be escaped in a query value ('=' and '?' stay raw)
    lower_hex = 4,       // %2f rather than %2F
    space_plus = 8,      // ' ' as '+' rather than %20
    param_before = 16,   // another parameter, whose name starts like ours, before it
    param_after = 32,    // a badly encoded parameter after it, which must not matter
    name_bits = 64 + 128
};

std::string percent_encode(std::string_view value, uint8_t flags) {
    const char* hex = (flags & lower_hex) ? "0123456789abcdef" : "0123456789ABCDEF";
    std::string out;
    for (const char ch : value) {
        const unsigned char c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        const bool query_safe = c > 0x20 && c < 0x7F && c != '%' && c != '&' && c != '+' && c != '#';
        if (c == ' ' && (flags & space_plus) && !(flags & encode_all)) {
            out += '+';
        } else if (!(flags & encode_all) && (unreserved || ((flags & keep_more) && query_safe))) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
    return out;
}

void check_round_trip(uint8_t flags, std::string_view value) {
    const std::string name = names[(flags & name_bits) >> 6];
    const std::string encoded = percent_encode(value, flags);
    const std::string before = (flags & param_before) ? name + "x=1&x" + name + "=2&" : "";
    const std::string after = (flags & param_after) ? "&other=%zz&&" : "";
    std::string got;

    // Present and well encoded: exactly the value back.
    const std::string target = "/ws?" + before + name + "=" + encoded + after;
    require(query_param(target, name, got) == param_status::ok, "a well-encoded parameter is not ok");
    require(got == value, "a percent-encoded value does not decode back to itself");

    // A bad escape in it: malformed.
    for (const char* bad : {"%", "%4", "%g0", "%0g"}) {
        require(query_param("/ws?" + before + name + "=" + encoded + bad + after, name, got) ==
                    param_status::malformed,
                "a bad percent escape is not malformed");
    }

    // Given twice: malformed. Not given: absent.
    require(query_param(target + "&" + name + "=" + encoded, name, got) == param_status::malformed,
            "a parameter given twice is not malformed");
    require(query_param("/ws?" + before + after, name, got) == param_status::absent,
            "a parameter not given is not absent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_raw(text);
    if (size > 0) check_round_trip(data[0], text.substr(1));
    return 0;
}
