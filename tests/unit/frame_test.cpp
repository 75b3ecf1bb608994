#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "consumers/cursor.hpp"
#include "schemas/envelope.hpp"
#include "ws_gateway/frame.hpp"

using bridge::gateway::encode_control_frame;
using bridge::gateway::encode_event_frame;
using bridge::consumers::format_cursor;
using bridge::gateway::json_string;
using bridge::schemas::envelope;
using bridge::schemas::envelope_validator;
using bridge::schemas::reject_reason;

namespace {

const std::string payload_text = R"({ "tool": "search", "status": "ok", "duration_ms": 1.50, "output": {"n": 1e3, "s": "caf\u00e9"} })";
const std::string record_value = R"({"type":"tool_completed","user_id":"u1","run_id":"r-1","thread_id":"t-1",)"
                                 R"("ts":"2026-11-22T10:00:00.000Z","payload":)" +
                                 payload_text + "}";

// Validates a real record, as the reader does, so the frame is built from real views.
envelope validated(const std::string& value) {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope e;
    REQUIRE(validator.validate(&key, value, e) == reject_reason::none);
    return e;
}

std::vector<std::string> keys_of(const rapidjson::Value& object) {
    std::vector<std::string> keys;
    for (const auto& m : object.GetObject()) keys.emplace_back(m.name.GetString(), m.name.GetStringLength());
    return keys;
}

std::string string_of(const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

}  // namespace

TEST_CASE("event frame: the exact keys, in order, with the envelope's values") {
    const envelope e = validated(record_value);
    const std::string id = format_cursor("agent-events", 3, 1042, 1763800000000);
    const std::string frame = encode_event_frame(e, id);

    rapidjson::Document doc;
    doc.Parse(frame.data(), frame.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    CHECK(keys_of(doc) == std::vector<std::string>{"type", "payload", "run_id", "thread_id", "ts", "id"});
    CHECK(string_of(doc["type"]) == "tool_completed");
    CHECK(string_of(doc["run_id"]) == "r-1");
    CHECK(string_of(doc["thread_id"]) == "t-1");
    CHECK(string_of(doc["ts"]) == "2026-11-22T10:00:00.000Z");
    CHECK(string_of(doc["id"]) == "agent-events:3:1042:1763800000000");
}

TEST_CASE("event frame: the payload stays wrapped, byte for byte") {
    const envelope e = validated(record_value);
    const std::string frame = encode_event_frame(e, format_cursor("agent-events", 0, 7, 1));

    rapidjson::Document doc;
    doc.Parse(frame.data(), frame.size());
    REQUIRE_FALSE(doc.HasParseError());
    const rapidjson::Value& payload = doc["payload"];
    REQUIRE(payload.IsObject());
    CHECK(keys_of(payload) == std::vector<std::string>{"tool", "status", "duration_ms", "output"});
    CHECK(string_of(payload["tool"]) == "search");
    CHECK(string_of(payload["output"]["s"]) == "caf\xc3\xa9");
    // Never flattened: payload fields are not at the top level.
    CHECK_FALSE(doc.HasMember("tool"));
    CHECK_FALSE(doc.HasMember("status"));
    CHECK_FALSE(doc.HasMember("output"));
    // The producer's text is reused as it is: spacing, 1.50, 1e3 and the escape survive.
    CHECK(frame.find(",\"payload\":" + payload_text + ",") != std::string::npos);
}

TEST_CASE("event frame: exact text for an integer ts and escaped fields") {
    const std::string value =
        R"({"type":"custom","user_id":"u1","run_id":"r\"1","thread_id":"t\u002d1","ts":1763805600000,"payload":{"a":[1, 2]}})";
    const envelope e = validated(value);
    CHECK(encode_event_frame(e, "agent-events:1:5") ==
          R"({"type":"custom","payload":{"a":[1, 2]},"run_id":"r\"1","thread_id":"t\u002d1","ts":1763805600000,"id":"agent-events:1:5"})");

    rapidjson::Document doc;
    const std::string frame = encode_event_frame(e, "agent-events:1:5");
    doc.Parse(frame.data(), frame.size());
    REQUIRE_FALSE(doc.HasParseError());
    CHECK(doc["ts"].IsInt64());
    CHECK(doc["ts"].GetInt64() == 1763805600000);
    CHECK(string_of(doc["run_id"]) == "r\"1");
    CHECK(string_of(doc["thread_id"]) == "t-1");
}

TEST_CASE("json_string quotes and escapes") {
    CHECK(json_string("") == R"("")");
    CHECK(json_string("plain text") == R"("plain text")");
    CHECK(json_string("say \"hi\"") == R"("say \"hi\"")");
    CHECK(json_string("a\\b") == R"("a\\b")");
    CHECK(json_string("l1\nl2\r\tx") == R"("l1\nl2\r\tx")");
    CHECK(json_string(std::string_view("a\0b", 3)) == R"("a\u0000b")");
    CHECK(json_string("\x01\x1f") == R"("\u0001\u001f")");
    CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // UTF-8 passes through

    // Every byte below 0x20 round-trips through a JSON parser.
    std::string all;
    for (int c = 1; c < 0x20; ++c) all.push_back(static_cast<char>(c));
    all += "\"\\/ end";
    const std::string quoted = json_string(all);
    rapidjson::Document doc;
    doc.Parse(quoted.data(), quoted.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsString());
    CHECK(string_of(doc) == all);
}

TEST_CASE("control frames parse") {
    SUBCASE("subscribed") {
        const std::string frame = encode_control_frame("subscribed", "{\"thread_id\":" + json_string("t-1") + "}");
        CHECK(frame == R"({"type":"subscribed","payload":{"thread_id":"t-1"}})");
        rapidjson::Document doc;
        doc.Parse(frame.data(), frame.size());
        REQUIRE_FALSE(doc.HasParseError());
        CHECK(keys_of(doc) == std::vector<std::string>{"type", "payload"});
        CHECK(string_of(doc["payload"]["thread_id"]) == "t-1");
    }
    SUBCASE("unsubscribed") {
        CHECK(encode_control_frame("unsubscribed", "{}") == R"({"type":"unsubscribed","payload":{}})");
    }
    SUBCASE("error with a message needing escapes") {
        const std::string message = "bad \"action\"\n";
        const std::string frame = encode_control_frame(
            "error", "{\"code\":\"bad_request\",\"message\":" + json_string(message) + "}");
        rapidjson::Document doc;
        doc.Parse(frame.data(), frame.size());
        REQUIRE_FALSE(doc.HasParseError());
        CHECK(string_of(doc["type"]) == "error");
        CHECK(string_of(doc["payload"]["code"]) == "bad_request");
        CHECK(string_of(doc["payload"]["message"]) == message);
    }
}

TEST_CASE("text frame headers use the shortest length encoding, unmasked") {
    using bridge::gateway::text_frame_header;
    CHECK(text_frame_header(0) == std::string("\x81\x00", 2));
    CHECK(text_frame_header(125) == std::string("\x81\x7d", 2));
    CHECK(text_frame_header(126) == std::string("\x81\x7e\x00\x7e", 4));
    CHECK(text_frame_header(200) == std::string("\x81\x7e\x00\xc8", 4));
    CHECK(text_frame_header(65535) == std::string("\x81\x7e\xff\xff", 4));
    CHECK(text_frame_header(65536) == std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
    CHECK(text_frame_header(70000) == std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
}
