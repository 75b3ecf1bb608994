#include <doctest/doctest.h>

#include <string>

#include "ws_gateway/client_message.hpp"

using bridge::gateway::client_message;
using bridge::gateway::parse_client_message;

// Failed checks print the kind's name instead of its number (found by ADL; local to this file).
namespace bridge::gateway {
static doctest::String toString(client_message::kind k) {
    switch (k) {
        case client_message::kind::subscribe: return "subscribe";
        case client_message::kind::unsubscribe: return "unsubscribe";
        case client_message::kind::resume: return "resume";
        case client_message::kind::auth: return "auth";
        case client_message::kind::invalid: return "invalid";
    }
    return "?";
}
}  // namespace bridge::gateway

TEST_CASE("subscribe with a thread_id") {
    const client_message m = parse_client_message(R"({"action":"subscribe","thread_id":"t-1"})");
    CHECK(m.what == client_message::kind::subscribe);
    CHECK(m.thread_id == "t-1");
    CHECK(m.error.empty());
}

TEST_CASE("subscribe decodes escapes and ignores other fields") {
    const client_message m = parse_client_message(R"( {"thread_id":"t\u002d\"2\"","extra":[1],"action":"subscribe"} )");
    CHECK(m.what == client_message::kind::subscribe);
    CHECK(m.thread_id == "t-\"2\"");
}

TEST_CASE("subscribe accepts a thread_id of exactly 256 bytes") {
    const std::string id(256, 't');
    const client_message m = parse_client_message(R"({"action":"subscribe","thread_id":")" + id + "\"}");
    CHECK(m.what == client_message::kind::subscribe);
    CHECK(m.thread_id == id);
}

TEST_CASE("unsubscribe") {
    const client_message m = parse_client_message(R"({"action":"unsubscribe"})");
    CHECK(m.what == client_message::kind::unsubscribe);
    CHECK(m.thread_id.empty());
    CHECK(m.error.empty());

    // A thread_id on unsubscribe is ignored.
    const client_message n = parse_client_message(R"({"action":"unsubscribe","thread_id":"t-1"})");
    CHECK(n.what == client_message::kind::unsubscribe);
    CHECK(n.thread_id.empty());
}

TEST_CASE("invalid client messages") {
    const char* text = nullptr;
    std::string long_id;
    SUBCASE("not JSON") { text = "subscribe t-1"; }
    SUBCASE("empty") { text = ""; }
    SUBCASE("truncated JSON") { text = R"({"action":"subscribe","thread_id":"t-1")"; }
    SUBCASE("invalid UTF-8") { text = "{\"action\":\"subscribe\",\"thread_id\":\"\xff\"}"; }
    SUBCASE("an array") { text = R"([{"action":"unsubscribe"}])"; }
    SUBCASE("a string") { text = R"("unsubscribe")"; }
    SUBCASE("missing action") { text = R"({"thread_id":"t-1"})"; }
    SUBCASE("non-string action") { text = R"({"action":1,"thread_id":"t-1"})"; }
    SUBCASE("null action") { text = R"({"action":null})"; }
    SUBCASE("unknown action") { text = R"({"action":"publish","thread_id":"t-1"})"; }
    SUBCASE("action in another case") { text = R"({"action":"Subscribe","thread_id":"t-1"})"; }
    SUBCASE("subscribe without thread_id") { text = R"({"action":"subscribe"})"; }
    SUBCASE("subscribe with an empty thread_id") { text = R"({"action":"subscribe","thread_id":""})"; }
    SUBCASE("subscribe with a numeric thread_id") { text = R"({"action":"subscribe","thread_id":42})"; }
    SUBCASE("subscribe with an object thread_id") { text = R"({"action":"subscribe","thread_id":{"id":"t-1"}})"; }
    SUBCASE("subscribe with a thread_id over 256 bytes") {
        long_id = R"({"action":"subscribe","thread_id":")" + std::string(257, 't') + "\"}";
        text = long_id.c_str();
    }
    REQUIRE(text != nullptr);
    CAPTURE(text);
    const client_message m = parse_client_message(text);
    CHECK(m.what == client_message::kind::invalid);
    CHECK_FALSE(m.error.empty());
    CHECK(m.thread_id.empty());
}

TEST_CASE("error texts say what was wrong") {
    CHECK(parse_client_message("[]").error == "message is not a JSON object");
    CHECK(parse_client_message("{}").error == "missing string field \"action\"");
    CHECK(parse_client_message(R"({"action":"publish"})").error == "unknown action");
    CHECK(parse_client_message(R"({"action":"subscribe"})").error == "subscribe needs a non-empty string \"thread_id\"");
    CHECK(parse_client_message(R"({"action":"subscribe","thread_id":")" + std::string(300, 'x') + "\"}").error ==
          "thread_id longer than 256 bytes");
}

TEST_CASE("resume with an id") {
    const client_message m = parse_client_message(R"({"action":"resume","id":"agent-events:3:1042:1763800000000"})");
    CHECK(m.what == client_message::kind::resume);
    CHECK(m.id == "agent-events:3:1042:1763800000000");
}

TEST_CASE("resume without a usable id is invalid") {
    for (const char* text : {R"({"action":"resume"})", R"({"action":"resume","id":""})", R"({"action":"resume","id":5})"}) {
        CAPTURE(text);
        const client_message m = parse_client_message(text);
        CHECK(m.what == client_message::kind::invalid);
        CHECK(m.error == "resume needs a non-empty string \"id\"");
    }
    const client_message long_id = parse_client_message(R"({"action":"resume","id":")" + std::string(513, 'x') + "\"}");
    CHECK(long_id.what == client_message::kind::invalid);
}

TEST_CASE("a lone surrogate escape is refused: the ack could not be sent as UTF-8") {
    auto m = parse_client_message(R"({"action":"subscribe","thread_id":"\udc00"})");
    CHECK(m.what == client_message::kind::invalid);
    CHECK(m.error == "thread_id holds a lone surrogate escape");
    m = parse_client_message(R"({"action":"resume","id":"a\udfff"})");
    CHECK(m.what == client_message::kind::invalid);
    m = parse_client_message(R"({"action":"subscribe","thread_id":"\ud83d\ude00"})");
    REQUIRE(m.what == client_message::kind::subscribe);
    CHECK(m.thread_id == "\xf0\x9f\x98\x80");
}

TEST_CASE("auth: a token, and optionally where to resume or join from") {
    auto m = parse_client_message(R"({"action":"auth","token":"a.b.c"})");
    REQUIRE(m.what == client_message::kind::auth);
    CHECK(m.token == "a.b.c");
    CHECK(m.id.empty());
    CHECK(m.since_ms == -1);
    m = parse_client_message(R"({"action":"auth","token":"a.b.c","resume":"t:0:5:9"})");
    REQUIRE(m.what == client_message::kind::auth);
    CHECK(m.id == "t:0:5:9");
    m = parse_client_message(R"({"action":"auth","token":"a.b.c","since":1764000000000,"run_id":"r-1"})");
    REQUIRE(m.what == client_message::kind::auth);
    CHECK(m.since_ms == 1764000000000);
    CHECK(m.run_id == "r-1");
}

TEST_CASE("auth: every malformed field is refused with a reason") {
    for (const char* text : {R"({"action":"auth"})", R"({"action":"auth","token":""})", R"({"action":"auth","token":5})",
                             R"({"action":"auth","token":"x","since":-1})", R"({"action":"auth","token":"x","since":1.5})",
                             R"({"action":"auth","token":"x","since":"5"})", R"({"action":"auth","token":"x","resume":7})",
                             R"({"action":"auth","token":"x","resume":"a","since":5})",
                             R"({"action":"auth","token":"x","run_id":"\udc00"})"}) {
        CAPTURE(text);
        const auto m = parse_client_message(text);
        CHECK(m.what == client_message::kind::invalid);
        CHECK_FALSE(m.error.empty());
    }
    CHECK(parse_client_message(R"({"action":"auth","token":")" + std::string(16385, 'x') + "\"}").what ==
          client_message::kind::invalid);
}
