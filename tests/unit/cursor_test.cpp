#include <doctest/doctest.h>

#include <limits>

#include "consumers/cursor.hpp"

using bridge::consumers::format_cursor;
using bridge::consumers::parse_cursor;

TEST_CASE("a cursor round-trips through its text") {
    const std::string text = format_cursor("agent-events", 3, 1042, 1763800000123);
    CHECK(text == "agent-events:3:1042:1763800000123");
    const auto c = parse_cursor(text);
    REQUIRE(c);
    CHECK(c->topic == "agent-events");
    CHECK(c->partition == 3);
    CHECK(c->offset == 1042);
    CHECK(c->timestamp_ms == 1763800000123);
}

TEST_CASE("topics with dots and dashes, and extreme numbers, parse") {
    const auto c = parse_cursor(format_cursor("a.b_c-d", 2147483647, std::numeric_limits<int64_t>::max(), 0));
    REQUIRE(c);
    CHECK(c->topic == "a.b_c-d");
    CHECK(c->partition == 2147483647);
    CHECK(c->offset == std::numeric_limits<int64_t>::max());
}

TEST_CASE("cursors differ by partition, offset, topic and timestamp") {
    CHECK(format_cursor("t", 1, 23, 5) != format_cursor("t", 12, 3, 5));
    CHECK(format_cursor("t", 1, 2, 5) != format_cursor("t", 1, 2, 6));
    CHECK(format_cursor("t", 1, 2, 5) != format_cursor("u", 1, 2, 5));
}

TEST_CASE("malformed cursors are refused") {
    for (const char* bad : {"", "t:1:2", "t:1:2:3:4x", ":1:2:3", "t:-1:2:3", "t:1:-2:3", "t:1:2:-3", "t:a:2:3",
                            "t:1:2:", "t:1::3", "t/x:1:2:3", "t:2147483648:2:3", "t:1:99999999999999999999:3",
                            "t: 1:2:3", "t:+1:2:3"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_cursor(bad));
    }
}

TEST_CASE("the id shown in docs/protocol.md is a cursor") {
    const auto c = parse_cursor("agent-events:3:1042:1763805600000");
    REQUIRE(c);
    CHECK(c->topic == "agent-events");
    CHECK(c->partition == 3);
    CHECK(c->offset == 1042);
    CHECK(c->timestamp_ms == 1763805600000);
}
