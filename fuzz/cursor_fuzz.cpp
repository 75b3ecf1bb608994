// Fuzzes resume cursors: what parse_cursor accepts formats back to a cursor that parses to
// the same fields, and formatting is stable; fields from the input survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "consumers/cursor.hpp"
#include "fuzz/fuzz_checks.hpp"

namespace {

using bridge::consumers::cursor;
using bridge::consumers::format_cursor;
using bridge::consumers::parse_cursor;
using fuzz::require;

bool same(const cursor& a, const cursor& b) {
    return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset &&
           a.timestamp_ms == b.timestamp_ms;
}

std::string format(const cursor& c) { return format_cursor(c.topic, c.partition, c.offset, c.timestamp_ms); }

// Kafka's rule for topic names, stated independently of consumers/cursor.cpp as the oracle.
bool kafka_topic(std::string_view t) {
    constexpr std::string_view legal = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    return !t.empty() && t.size() <= 249 && t.find_first_not_of(legal) == std::string_view::npos;
}

// The input as cursor text.
void check_text(std::string_view text) {
    const std::optional<cursor> c = parse_cursor(text);
    if (!c) return;
    require(kafka_topic(c->topic), "accepted a cursor whose topic Kafka would refuse");
    require(c->partition >= 0 && c->offset >= 0 && c->timestamp_ms >= 0, "accepted a negative field");
    const std::string formatted = format(*c);
    const std::optional<cursor> again = parse_cursor(formatted);
    require(again && same(*c, *again), "a formatted cursor parses to other fields");
    require(format(*again) == formatted, "formatting a cursor is not stable");
}

// The input as fields: 20 bytes of numbers, then the topic.
void check_fields(const uint8_t* data, std::size_t size) {
    if (size < 20) return;
    cursor c;
    uint32_t partition = 0;
    uint64_t offset = 0, timestamp = 0;
    std::memcpy(&partition, data, 4);
    std::memcpy(&offset, data + 4, 8);
    std::memcpy(&timestamp, data + 12, 8);
    c.partition = static_cast<int32_t>(partition & 0x7FFFFFFF);
    c.offset = static_cast<int64_t>(offset & 0x7FFFFFFFFFFFFFFF);
    c.timestamp_ms = static_cast<int64_t>(timestamp & 0x7FFFFFFFFFFFFFFF);
    c.topic.assign(reinterpret_cast<const char*>(data) + 20, size - 20);
    const std::optional<cursor> parsed = parse_cursor(format(c));
    if (kafka_topic(c.topic)) {
        require(parsed && same(c, *parsed), "a cursor of a valid topic does not survive a round trip");
    } else {
        require(!parsed, "a cursor of an invalid topic parses");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    check_text({reinterpret_cast<const char*>(data), size});
    check_fields(data, size);
    return 0;
}
