#pragma once
#include <cstring>
#include <string_view>

namespace bridge::schemas {

// True if a string decoded by RapidJSON holds a lone UTF-16 surrogate. RapidJSON 1.1.0
// decodes "\udc00" into ED B0 80, bytes that are not UTF-8 even though the input was; valid
// UTF-8 never has ED followed by A0..BF.
inline bool has_lone_surrogate(std::string_view decoded) {
    const char* p = decoded.data();
    const char* const end = p + decoded.size();
    while (p < end) {
        p = static_cast<const char*>(std::memchr(p, '\xED', static_cast<std::size_t>(end - p)));
        if (!p || p + 1 >= end) return false;
        if (static_cast<unsigned char>(p[1]) >= 0xA0) return true;
        ++p;
    }
    return false;
}

}  // namespace bridge::schemas
