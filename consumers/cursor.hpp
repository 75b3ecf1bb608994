#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bridge::consumers {

// A resume cursor names one record: where it is and when it was written. The record's
// timestamp is the topic's identity check: if the record found at (topic, partition,
// offset) has another timestamp or key, the topic was recreated and the cursor is void.
// Clients see it as the frame's opaque `id`: "topic:partition:offset:timestamp".
struct cursor {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp_ms = 0;
};

std::string format_cursor(std::string_view topic, int32_t partition, int64_t offset, int64_t timestamp_ms);

// Nullopt for anything that is not a well-formed cursor. Never throws.
std::optional<cursor> parse_cursor(std::string_view text);

}  // namespace bridge::consumers
