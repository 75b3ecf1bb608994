#include "consumers/cursor.hpp"

#include <charconv>

namespace bridge::consumers {

namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty() || s.size() > 20) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && out >= 0;
}

// Kafka topic names: at most 249 of [a-zA-Z0-9._-].
bool valid_topic(std::string_view t) {
    if (t.empty() || t.size() > 249) return false;
    for (const char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    return true;
}

}  // namespace

std::string format_cursor(std::string_view topic, int32_t partition, int64_t offset, int64_t timestamp_ms) {
    std::string out;
    out.reserve(topic.size() + 40);
    out.append(topic).append(":").append(std::to_string(partition)).append(":").append(std::to_string(offset));
    out.append(":").append(std::to_string(timestamp_ms));
    return out;
}

std::optional<cursor> parse_cursor(std::string_view text) {
    // Split from the right: the topic cannot hold ':'.
    std::string_view parts[4];
    for (int i = 3; i > 0; --i) {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        parts[i] = text.substr(colon + 1);
        text = text.substr(0, colon);
    }
    parts[0] = text;
    cursor c;
    if (!valid_topic(parts[0]) || !parse_number(parts[1], c.partition) || !parse_number(parts[2], c.offset) ||
        !parse_number(parts[3], c.timestamp_ms))
        return std::nullopt;
    c.topic = std::string(parts[0]);
    return c;
}

}  // namespace bridge::consumers
