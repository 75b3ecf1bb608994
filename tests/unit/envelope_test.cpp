#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/envelope.hpp"

using bridge::schemas::envelope;
using bridge::schemas::envelope_validator;
using bridge::schemas::reject_reason;

// Failed checks print the reason's name instead of its number (found by ADL; local to this file).
namespace bridge::schemas {
static doctest::String toString(reject_reason r) { return std::string(to_string(r)).c_str(); }
}  // namespace bridge::schemas

namespace {

using field_list = std::vector<std::pair<std::string, std::string>>;

// The six required fields as JSON text, in the order the protocol shows them.
field_list fields(const std::string& type, const std::string& payload) {
    return {{"type", "\"" + type + "\""},
            {"user_id", "\"u1\""},
            {"run_id", "\"r-1\""},
            {"thread_id", "\"t-1\""},
            {"ts", "\"2026-11-22T10:00:00.000Z\""},
            {"payload", payload}};
}

std::string object_of(const field_list& f) {
    std::string out = "{";
    for (const auto& [name, json] : f) {
        if (out.size() > 1) out += ",";
        out += "\"" + name + "\":" + json;
    }
    return out + "}";
}

std::string record(const std::string& type, const std::string& payload) { return object_of(fields(type, payload)); }

struct validator_fixture {
    envelope_validator validator{4096};
    const std::string key = "u1";
    envelope out;
    std::string detail;

    std::string value;  // the record last checked: `out` points into it

    reject_reason check(std::string record, const std::string* k) {
        value = std::move(record);
        return validator.validate(k, value, out, &detail);
    }
    reject_reason check(std::string record) { return check(std::move(record), &key); }
};

const char* const critical_types[] = {"agent_started", "agent_thinking", "tool_executing", "tool_completed",
                                      "agent_completed"};

}  // namespace

TEST_CASE("to_string gives the metric label of every reason") {
    CHECK(bridge::schemas::to_string(reject_reason::none) == "none");
    CHECK(bridge::schemas::to_string(reject_reason::too_large) == "too_large");
    CHECK(bridge::schemas::to_string(reject_reason::missing_key) == "missing_key");
    CHECK(bridge::schemas::to_string(reject_reason::not_json) == "not_json");
    CHECK(bridge::schemas::to_string(reject_reason::schema) == "schema");
    CHECK(bridge::schemas::to_string(reject_reason::key_mismatch) == "key_mismatch");
}

TEST_CASE_FIXTURE(validator_fixture, "too_large: a value above the configured maximum") {
    const std::string base = record("custom", "{}");
    // Pad the payload so the record is exactly at, then one byte over, the limit.
    const std::string at_limit = record("custom", "{\"pad\":\"" + std::string(4096 - base.size() - 8, 'x') + "\"}");
    REQUIRE(at_limit.size() == 4096);
    CHECK(check(at_limit) == reject_reason::none);

    const std::string over = record("custom", "{\"pad\":\"" + std::string(4097 - base.size() - 8, 'x') + "\"}");
    REQUIRE(over.size() == 4097);
    CHECK(check(over) == reject_reason::too_large);
    CHECK(detail == "4097 bytes");
    // Size is checked before anything else, even the key.
    CHECK(check(std::string(5000, '!'), nullptr) == reject_reason::too_large);
}

TEST_CASE_FIXTURE(validator_fixture, "missing_key: a record without a key") {
    CHECK(check(record("tool_executing", R"({"tool":"search"})"), nullptr) == reject_reason::missing_key);
    CHECK(!detail.empty());
    // The key is checked before the value is parsed.
    CHECK(check("not json", nullptr) == reject_reason::missing_key);
}

TEST_CASE_FIXTURE(validator_fixture, "not_json: values that are not UTF-8 JSON") {
    SUBCASE("garbage") { CHECK(check("hello, kafka") == reject_reason::not_json); }
    SUBCASE("empty") { CHECK(check("") == reject_reason::not_json); }
    SUBCASE("truncated") {
        const std::string full = record("tool_executing", R"({"tool":"search"})");
        CHECK(check(full.substr(0, full.size() - 1)) == reject_reason::not_json);
        CHECK(check(full.substr(0, full.size() / 2)) == reject_reason::not_json);
    }
    SUBCASE("trailing garbage after the object") {
        CHECK(check(record("custom", "{}") + " x") == reject_reason::not_json);
    }
    SUBCASE("invalid UTF-8 byte in a string") {
        CHECK(check(record("agent_thinking", "{\"text\":\"caf\xff\"}")) == reject_reason::not_json);
    }
    SUBCASE("overlong UTF-8 encoding") {
        CHECK(check(record("agent_thinking", "{\"text\":\"\xc0\xaf\"}")) == reject_reason::not_json);
    }
    SUBCASE("lone surrogate escape") {
        CHECK(check(record("agent_thinking", R"({"text":"\ud800"})")) == reject_reason::not_json);
    }
    SUBCASE("embedded NUL byte inside a string") {
        std::string value = record("agent_thinking", R"({"text":"aXb"})");
        value[value.find("aXb") + 1] = '\0';
        CHECK(check(value) == reject_reason::not_json);
    }
    SUBCASE("NUL byte after a valid object") {
        std::string value = record("custom", "{}");
        value.push_back('\0');
        CHECK(check(value) == reject_reason::not_json);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "schema: each required envelope field missing") {
    for (const char* name : {"type", "user_id", "run_id", "thread_id", "ts", "payload"}) {
        CAPTURE(name);
        field_list f = fields("tool_executing", R"({"tool":"search"})");
        f.erase(std::remove_if(f.begin(), f.end(), [&](const auto& p) { return p.first == name; }), f.end());
        REQUIRE(f.size() == 5);
        CHECK(check(object_of(f)) == reject_reason::schema);
        CHECK(detail.find("required") != std::string::npos);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "schema: envelope fields of the wrong kind") {
    SUBCASE("payload an array") { CHECK(check(record("custom", "[]")) == reject_reason::schema); }
    SUBCASE("payload a string") { CHECK(check(record("custom", "\"text\"")) == reject_reason::schema); }
    SUBCASE("payload null") { CHECK(check(record("custom", "null")) == reject_reason::schema); }
    SUBCASE("value an array, not an object") { CHECK(check("[1,2]") == reject_reason::schema); }
    SUBCASE("empty type") { CHECK(check(record("", "{}")) == reject_reason::schema); }
    SUBCASE("ts a boolean") {
        field_list f = fields("custom", "{}");
        f[4].second = "true";
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
    SUBCASE("ts negative") {
        field_list f = fields("custom", "{}");
        f[4].second = "-1";
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
    SUBCASE("user_id a number") {
        field_list f = fields("custom", "{}");
        f[1].second = "1";
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "schema: a top-level field repeated") {
    SUBCASE("user_id twice") {
        field_list f = fields("custom", "{}");
        f.emplace_back("user_id", "\"u2\"");
        CHECK(check(object_of(f)) == reject_reason::schema);
        CHECK(detail == "repeated top-level field");
    }
    SUBCASE("user_id twice with the same value") {
        field_list f = fields("custom", "{}");
        f.emplace_back("user_id", "\"u1\"");
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
    SUBCASE("user_id twice, once spelled with an escape") {
        field_list f = fields("custom", "{}");
        f.emplace_back("user\\u005fid", "\"u2\"");
        CHECK(check(object_of(f)) == reject_reason::schema);
        CHECK(detail == "repeated top-level field");
    }
    SUBCASE("payload twice") {
        field_list f = fields("agent_completed", R"({"status":"maybe"})");
        f.emplace_back("payload", R"({"status":"ok"})");
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
    SUBCASE("type twice") {
        field_list f = fields("custom", "{}");
        f.emplace_back("type", "\"agent_completed\"");
        CHECK(check(object_of(f)) == reject_reason::schema);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "schema: each critical type with a bad payload") {
    const std::pair<const char*, const char*> bad[] = {
        {"agent_started", R"({"model":"m"})"},              // no agent
        {"agent_thinking", R"({"text":"hmm","step":0})"},    // step below 1
        {"tool_executing", R"({"tool":""})"},               // empty tool
        {"tool_completed", R"({"tool":"search"})"},         // no status
        {"agent_completed", R"({"status":"maybe"})"},       // status not in the enum
    };
    for (const auto& [t, payload] : bad) {
        const char* type = t;  // CAPTURE takes no structured binding under clang
        CAPTURE(type);
        CHECK(check(record(type, payload)) == reject_reason::schema);
        CHECK(detail.find(std::string(type) + " payload") == 0);
        CHECK(detail.find("maybe") == std::string::npos);  // no payload data in the detail
    }
}

TEST_CASE_FIXTURE(validator_fixture, "key_mismatch: key differs from user_id") {
    const std::string value = record("tool_executing", R"({"tool":"search"})");
    for (const std::string other : {"u2", "U1", "u1 ", ""}) {
        CAPTURE(other);
        CHECK(check(value, &other) == reject_reason::key_mismatch);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "valid: each critical type with a valid payload") {
    const std::pair<const char*, const char*> good[] = {
        {"agent_started", R"({"agent":"planner","model":"m-1","input":{"q":"x"}})"},
        {"agent_thinking", R"({"text":"hmm","step":2})"},
        {"tool_executing", R"({"tool":"search","call_id":"c-1","input":{"q":"kafka"}})"},
        {"tool_completed", R"({"tool":"search","call_id":"c-1","status":"ok","output":[1,2],"duration_ms":12.5})"},
        {"agent_completed", R"({"status":"cancelled","duration_ms":0})"},
    };
    for (const auto& [t, payload] : good) {
        const char* type = t;
        CAPTURE(type);
        CHECK(check(record(type, payload)) == reject_reason::none);
        CHECK(out.type == type);
        CHECK(out.payload_json == payload);
    }
}

TEST_CASE_FIXTURE(validator_fixture, "valid: a custom type takes any object payload") {
    CHECK(check(record("progress_update", R"({"anything":[1,{"nested":null}],"status":"maybe"})")) ==
          reject_reason::none);
    CHECK(out.type == "progress_update");
    CHECK(check(record("progress_update", "{}")) == reject_reason::none);
    CHECK(out.payload_json == "{}");
}

TEST_CASE_FIXTURE(validator_fixture, "valid: ts as integer and as string") {
    field_list f = fields("custom", "{}");
    f[4].second = "1763805600000";
    CHECK(check(object_of(f)) == reject_reason::none);
    CHECK(out.ts_json == "1763805600000");

    CHECK(check(record("custom", "{}")) == reject_reason::none);
    CHECK(out.ts_json == "\"2026-11-22T10:00:00.000Z\"");
}

TEST_CASE_FIXTURE(validator_fixture, "valid: views are the exact input text, strings are decoded") {
    const std::string payload =
        R"({ "tool" : "search", "status":"ok", "duration_ms": 1.50, "output": {"n": 1e3, "s": "caf\u00e9 \ud83d\ude00"} , "list": [ 1 , 2 ] })";
    const std::string value = std::string("  { \"type\" : \"tool_completed\" ,\n") +
                              "  \"user_id\":\"u\\u0031\",\n" +
                              "  \"run_id\" :\t\"r\\\"1\",\n" +
                              "  \"thread_id\": \"t\\u002d1\",\n" +
                              "  \"ts\": 1763805600000,\n" +
                              "  \"extra\": {\"user_id\": \"someone-else\", \"payload\": {}},\n" +
                              "  \"payload\" : " + payload + "\n}\n";
    REQUIRE(check(value) == reject_reason::none);

    CHECK(out.type == "tool_completed");
    CHECK(out.user_id == "u1");
    CHECK(out.thread_id == "t-1");
    CHECK(out.type_json == "\"tool_completed\"");
    CHECK(out.run_id_json == R"("r\"1")");
    CHECK(out.thread_id_json == R"("t\u002d1")");
    CHECK(out.ts_json == "1763805600000");
    CHECK(out.payload_json == payload);
    // The views point into the record checked (the fixture's copy of it), not at a copy of theirs.
    CHECK(out.payload_json.data() == this->value.data() + value.find(payload));
    CHECK(out.ts_json.data() == this->value.data() + value.find("1763805600000"));
}

TEST_CASE_FIXTURE(validator_fixture, "valid: user_id fields nested in the payload are not the envelope's") {
    CHECK(check(record("custom", R"({"user_id":"u2","thread_id":"t-9","type":"x"})")) == reject_reason::none);
    CHECK(out.user_id == "u1");
    CHECK(out.thread_id == "t-1");
    CHECK(out.type == "custom");
}

TEST_CASE_FIXTURE(validator_fixture, "a validator is reusable after a rejection") {
    CHECK(check(record("agent_completed", R"({"status":"maybe"})")) == reject_reason::schema);
    CHECK(check(record("tool_completed", R"({"tool":"search")")) == reject_reason::not_json);
    CHECK(check(record("agent_completed", R"({"status":"ok"})")) == reject_reason::none);
    CHECK(out.type == "agent_completed");
    CHECK(out.payload_json == R"({"status":"ok"})");
}

namespace {

std::string nested(char open, char close, std::size_t levels, const std::string& inner = "") {
    return std::string(levels, open) + inner + std::string(levels, close);
}

}  // namespace

TEST_CASE("too_deep: nesting past the cap is refused before the schema sees it") {
    envelope_validator validator(1 << 20, 16);
    const std::string key = "u1";
    envelope out;
    std::string detail;
    // The envelope is depth 1, the payload 2: 14 more levels inside the payload are allowed.
    const std::string ok = record("custom", "{\"a\":" + nested('[', ']', 14) + "}");
    CHECK(validator.validate(&key, ok, out, &detail) == reject_reason::none);
    const std::string deep = record("custom", "{\"a\":" + nested('[', ']', 15) + "}");
    CHECK(validator.validate(&key, deep, out, &detail) == reject_reason::too_deep);
    CHECK(detail == "nested deeper than 16");
    const std::string deep_objects = record("custom", "{\"a\":" + nested('{', '}', 1) + "}");
    CHECK(validator.validate(&key, deep_objects, out) == reject_reason::none);
    std::string objects = "1";
    for (int i = 0; i < 20; ++i) objects = "{\"k\":" + objects + "}";
    CHECK(validator.validate(&key, record("tool_executing", "{\"tool\":\"t\",\"input\":" + objects + "}"), out) ==
          reject_reason::too_deep);
    // A bare deep array is found not to be an envelope at its first byte.
    CHECK(validator.validate(&key, nested('[', ']', 100000), out) == reject_reason::schema);
}

TEST_CASE("the default cap allows real payloads and refuses a 60,000-level record quickly") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    CHECK(validator.validate(&key, record("custom", "{\"a\":" + nested('[', ']', 100) + "}"), out) == reject_reason::none);
    CHECK(validator.validate(&key, record("custom", "{\"a\":" + nested('[', ']', 60000) + "}"), out) ==
          reject_reason::too_deep);
}

TEST_CASE("payload constraints still hold below the levels the schema validator is fed") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    std::string detail;
    // Deep content under a field the schema leaves open is accepted, and its bytes kept.
    const std::string input = "{\"q\":[[{\"x\":[1,{\"y\":\"z\"}]}]],\"n\":{\"m\":{\"o\":{}}}}";
    const std::string ok = record("tool_executing", "{\"tool\":\"search\",\"input\":" + input + "}");
    REQUIRE(validator.validate(&key, ok, out, &detail) == reject_reason::none);
    CHECK(out.payload_json == "{\"tool\":\"search\",\"input\":" + input + "}");
    // Constraints at the payload's own level still apply.
    CHECK(validator.validate(&key, record("tool_executing", "{\"tool\":[[[1]]]}"), out, &detail) == reject_reason::schema);
    CHECK(validator.validate(&key, record("tool_executing", "{\"input\":{\"tool\":\"x\"}}"), out, &detail) ==
          reject_reason::schema);
    CHECK(validator.validate(&key, record("agent_completed", "{\"status\":{\"ok\":[]}}"), out, &detail) ==
          reject_reason::schema);
    // The envelope's own fields are checked whatever the payload holds.
    CHECK(validator.validate(&key, object_of({{"type", "[[[\"x\"]]]"}, {"user_id", "\"u1\""}, {"run_id", "\"r\""},
                                              {"thread_id", "\"t\""}, {"ts", "1"}, {"payload", "{}"}}),
                             out) == reject_reason::schema);
}

TEST_CASE("a string that decodes to a lone surrogate is not_json, wherever it is") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    std::string detail;
    CHECK(validator.validate(&key, record("custom", "{\"a\":\"\\udc00\"}"), out, &detail) == reject_reason::not_json);
    CHECK(detail == "lone surrogate escape");
    CHECK(validator.validate(&key, record("custom", "{\"\\udfff\":1}"), out) == reject_reason::not_json);
    CHECK(validator.validate(&key, record("custom", "{\"a\":[[[{\"b\":\"x\\udc00\"}]]]}"), out) == reject_reason::not_json);
    CHECK(validator.validate(&key, record("x\\udc00", "{}"), out) == reject_reason::not_json);
    // A high surrogate without its pair is a parse error; a proper pair is a character.
    CHECK(validator.validate(&key, record("custom", "{\"a\":\"\\ud83d\"}"), out) == reject_reason::not_json);
    CHECK(validator.validate(&key, record("custom", "{\"a\":\"\\ud83d\\ude00 \xed\x9f\xbf\"}"), out) == reject_reason::none);
}

TEST_CASE("the payload is checked against its type's schema whether the type comes before or after it") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    std::string detail;
    const std::string tail = R"("user_id":"u1","run_id":"r","thread_id":"t","ts":1)";
    auto type_last = [&](const std::string& type, const std::string& payload) {
        return "{" + tail + R"(,"payload":)" + payload + R"(,"type":")" + type + "\"}";
    };
    const std::string searched = type_last("tool_executing", R"({"tool":"search"})");
    CHECK(validator.validate(&key, searched, out) == reject_reason::none);
    CHECK(out.payload_json == R"({"tool":"search"})");
    CHECK(validator.validate(&key, type_last("tool_executing", R"({"input":1})"), out, &detail) == reject_reason::schema);
    CHECK(detail.rfind("tool_executing payload:", 0) == 0);
    CHECK(validator.validate(&key, type_last("agent_completed", R"({"status":"maybe"})"), out) == reject_reason::schema);
    // A payload valid for one critical type and not another is judged by its own type.
    CHECK(validator.validate(&key, type_last("agent_completed", R"({"status":"ok"})"), out) == reject_reason::none);
    CHECK(validator.validate(&key, type_last("custom", R"({"status":"maybe"})"), out) == reject_reason::none);
}

TEST_CASE("a payload field its schema names may not come twice; unnamed ones may") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    std::string detail;
    CHECK(validator.validate(&key, record("tool_executing", R"({"tool":"a","tool":"b"})"), out, &detail) ==
          reject_reason::schema);
    CHECK(detail == "tool_executing payload: repeated field");
    CHECK(validator.validate(&key, record("tool_executing", R"({"tool":"a","x":1,"x":2})"), out) == reject_reason::none);
    // Unnamed members are not fed to the schema, but their contents are still checked.
    CHECK(validator.validate(&key, record("tool_executing", R"({"tool":"a","x":"\udc00"})"), out) ==
          reject_reason::not_json);
    CHECK(validator.validate(&key, record("custom", "{\"x\":" + nested('[', ']', 200) + "}"), out) ==
          reject_reason::too_deep);
    // Unnamed top-level members of the envelope likewise.
    CHECK(validator.validate(&key, object_of({{"type", "\"custom\""}, {"user_id", "\"u1\""}, {"run_id", "\"r\""},
                                              {"thread_id", "\"t\""}, {"ts", "1"}, {"payload", "{}"},
                                              {"extra", "{\"a\":[1,2,{\"b\":null}]}"}, {"extra", "2"}}),
                             out) == reject_reason::none);
    CHECK(validator.validate(&key, object_of({{"type", "\"custom\""}, {"user_id", "\"u1\""}, {"run_id", "\"r\""},
                                              {"thread_id", "\"t\""}, {"ts", "1"}, {"payload", "{}"},
                                              {"schema_version", "1"}, {"schema_version", "1"}}),
                             out, &detail) == reject_reason::schema);
    CHECK(detail == "repeated top-level field");
}

TEST_CASE("numbers past 2^63 where a payload schema has an enum are judged, not undefined") {
    envelope_validator validator(1 << 20);
    const std::string key = "u1";
    envelope out;
    for (const char* n : {"1e308", "-1e308", "2e19", "-1e19"}) {
        CAPTURE(n);
        CHECK(validator.validate(&key, record("agent_completed", std::string(R"({"status":)") + n + "}"), out) ==
              reject_reason::schema);
        const std::string ok = record("tool_completed", std::string(R"({"tool":"t","status":"ok","duration_ms":)") + n + "}");
        CHECK(validator.validate(&key, ok, out) == (n[0] == '-' ? reject_reason::schema : reject_reason::none));
    }
}

TEST_CASE_FIXTURE(validator_fixture, "a payload before its type gets the verdict and detail it gets after it") {
    const std::pair<const char*, const char*> cases[] = {
        {"tool_executing", R"({"tool":"search","input":[{"tool":1}]})"},
        {"tool_executing", R"({"input":{"tool":"x"}})"},
        {"agent_thinking", R"({"text":"a","text":"b"})"},
        {"TEXT_MESSAGE_CONTENT", R"({"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"x"})"},
        {"TEXT_MESSAGE_CONTENT", R"({"type":"TEXT_MESSAGE_END","messageId":"m","delta":"x"})"},
        {"STATE_DELTA", R"({"type":"STATE_DELTA","delta":[{"op":"add","path":"/a","value":[[1]]}]})"},
        {"STATE_DELTA", R"({"type":"STATE_DELTA","delta":[{"op":"add","path":"/a"},{"op":"merge","path":"/b"}]})"},
        {"MESSAGES_SNAPSHOT", R"({"type":"MESSAGES_SNAPSHOT","messages":[{"id":"m","content":"x"}]})"},
        {"note", R"({"anything":[1,{"a":2}]})"},
    };
    for (const auto& [t, p] : cases) {
        const char* type = t;  // clang (the sanitized build) does not capture structured bindings
        const char* payload = p;
        CAPTURE(type);
        CAPTURE(payload);
        detail.clear();  // a valid record leaves it as it was
        const reject_reason type_first = check(record(type, payload));
        const std::string detail_first = detail;
        field_list f = fields(type, payload);
        std::rotate(f.begin(), f.end() - 1, f.end());  // payload first, type second
        REQUIRE(f.front().first == "payload");
        detail.clear();
        CHECK(check(object_of(f)) == type_first);
        CHECK(detail == detail_first);
        if (type_first == reject_reason::none) CHECK(out.payload_json == payload);
    }
    // Both verdicts occur above.
    CHECK(check(record("STATE_DELTA", R"({"type":"STATE_DELTA","delta":[]})")) == reject_reason::none);
    CHECK(check(record("STATE_DELTA", R"({"type":"STATE_DELTA","delta":[{"op":"merge","path":"/b"}]})")) ==
          reject_reason::schema);
}
