#include <doctest/doctest.h>

#include "ws_gateway/request_params.hpp"

using bridge::gateway::bearer_token;
using bridge::gateway::path_of;
using bridge::gateway::param_status;
using bridge::gateway::query_param;

TEST_CASE("path without the query") {
    CHECK(path_of("/ws?access_token=x") == "/ws");
    CHECK(path_of("/ws") == "/ws");
    CHECK(path_of("/metrics?") == "/metrics");
}

namespace {

// The decoded value, "<absent>" or "<malformed>".
std::string param(std::string_view resource, std::string_view name) {
    std::string value;
    switch (query_param(resource, name, value)) {
        case param_status::absent: return "<absent>";
        case param_status::malformed: return "<malformed>";
        case param_status::ok: return value;
    }
    return "<unknown>";
}

}  // namespace

TEST_CASE("query parameters are found by exact name and percent-decoded") {
    const std::string r = "/ws?resume=agent-events%3A3%3A1042%3A17&since=5&access_token=a.b.c&x=a+b&e=";
    CHECK(param(r, "resume") == "agent-events:3:1042:17");
    CHECK(param(r, "since") == "5");
    CHECK(param(r, "access_token") == "a.b.c");
    CHECK(param(r, "x") == "a b");
    CHECK(param(r, "e") == "");
    CHECK(param(r, "token") == "<absent>");  // a prefix of another name is not it
    CHECK(param("/ws?since=1", "sinc") == "<absent>");
    CHECK(param("/ws", "since") == "<absent>");
    CHECK(param("/ws?user_id=victim&since=2", "since") == "2");
}

TEST_CASE("bad percent escapes and repeated names are malformed, not absent") {
    CHECK(param("/ws?a=%4", "a") == "<malformed>");
    CHECK(param("/ws?a=%zz", "a") == "<malformed>");
    CHECK(param("/ws?a=%ZZ", "a") == "<malformed>");
    CHECK(param("/ws?a=%", "a") == "<malformed>");
    CHECK(param("/ws?a=x%4", "a") == "<malformed>");
    CHECK(param("/ws?a=%41%42", "a") == "AB");
    CHECK(param("/ws?a=%41%42&b=%zz", "a") == "AB");  // only the parameter asked for is decoded
    CHECK(param("/ws?a=1&a=2", "a") == "<malformed>");
    CHECK(param("/ws?a=1&a=1", "a") == "<malformed>");
}

TEST_CASE("bearer tokens") {
    CHECK(bearer_token("Bearer abc.def.ghi") == "abc.def.ghi");
    CHECK(bearer_token("Bearer ") == "");
    CHECK(bearer_token("Basic dXNlcjpwYXNz") == "");
    CHECK(bearer_token("") == "");
    CHECK(bearer_token("bearer abc") == "abc");
    CHECK(bearer_token("BEARER abc") == "abc");
    CHECK(bearer_token("Bearerabc") == "");
}
