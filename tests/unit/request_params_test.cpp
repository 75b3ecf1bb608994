#include <doctest/doctest.h>

#include "ws_gateway/request_params.hpp"

using bridge::gateway::bearer_token;
using bridge::gateway::path_of;
using bridge::gateway::query_param;

TEST_CASE("path without the query") {
    CHECK(path_of("/ws?access_token=x") == "/ws");
    CHECK(path_of("/ws") == "/ws");
    CHECK(path_of("/metrics?") == "/metrics");
}

TEST_CASE("query parameters are found by exact name and percent-decoded") {
    const std::string r = "/ws?resume=agent-events%3A3%3A1042%3A17&since=5&access_token=a.b.c&x=a+b";
    CHECK(query_param(r, "resume") == "agent-events:3:1042:17");
    CHECK(query_param(r, "since") == "5");
    CHECK(query_param(r, "access_token") == "a.b.c");
    CHECK(query_param(r, "x") == "a b");
    CHECK(query_param(r, "token") == "");       // a prefix of another name is not it
    CHECK(query_param("/ws?since=1", "sinc") == "");
    CHECK(query_param("/ws", "since") == "");
    CHECK(query_param("/ws?user_id=victim&since=2", "since") == "2");
}

TEST_CASE("bad percent escapes give nothing rather than garbage") {
    CHECK(query_param("/ws?a=%4", "a") == "");
    CHECK(query_param("/ws?a=%zz", "a") == "");
    CHECK(query_param("/ws?a=%", "a") == "");
    CHECK(query_param("/ws?a=%41%42", "a") == "AB");
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
