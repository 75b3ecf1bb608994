#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

#include "ws_gateway/socket_registry.hpp"

using bridge::gateway::socket_registry;

namespace {

// Stand-ins for connections: the registry only ever sees weak handles to them.
std::vector<std::shared_ptr<int>> make_sockets(int n) {
    std::vector<std::shared_ptr<int>> sockets;
    for (int i = 0; i < n; ++i) sockets.push_back(std::make_shared<int>(i));
    return sockets;
}

socket_registry::handle handle_of(const std::shared_ptr<int>& s) { return s; }

// A socket owned by io thread `io`.
socket_registry::member on(const std::shared_ptr<int>& s, std::size_t io = 0) { return {s, io}; }

// Which stand-in a handle points to (-1 once it is gone).
int id_of(const socket_registry::handle& h) {
    const auto p = std::static_pointer_cast<int>(h.lock());
    return p ? *p : -1;
}

// Which stand-ins the user's sockets on io thread `io` point to, oldest first.
std::vector<int> ids_of(const socket_registry& registry, const std::string& user, std::size_t io = 0) {
    std::vector<int> ids;
    registry.for_user(user, io, [&](const socket_registry::handle& h) { ids.push_back(id_of(h)); });
    return ids;
}

}  // namespace

TEST_CASE("join up to the limit displaces nothing") {
    socket_registry registry(3);
    const auto s = make_sockets(3);
    for (const auto& p : s) CHECK_FALSE(registry.join("u1", on(p)).has_value());
    CHECK(registry.socket_count() == 3);
    CHECK(ids_of(registry, "u1") == std::vector<int>{0, 1, 2});
}

TEST_CASE("the join past the limit returns the oldest socket, which is gone") {
    socket_registry registry(3);
    const auto s = make_sockets(5);
    for (int i = 0; i < 3; ++i) REQUIRE_FALSE(registry.join("u1", on(s[i])).has_value());

    const auto displaced = registry.join("u1", on(s[3]));
    REQUIRE(displaced.has_value());
    CHECK(id_of(displaced->socket) == 0);
    CHECK(ids_of(registry, "u1") == std::vector<int>{1, 2, 3});
    CHECK(registry.socket_count() == 3);

    const auto next = registry.join("u1", on(s[4]));
    REQUIRE(next.has_value());
    CHECK(id_of(next->socket) == 1);
    CHECK(ids_of(registry, "u1") == std::vector<int>{2, 3, 4});
    CHECK(registry.socket_count() == 3);

    // The displaced socket's own leave, when it closes, finds nothing.
    CHECK_FALSE(registry.leave("u1", displaced->socket));
    CHECK(registry.socket_count() == 3);
}

TEST_CASE("a limit of one keeps only the newest socket") {
    socket_registry registry(1);
    const auto s = make_sockets(2);
    CHECK_FALSE(registry.join("u1", on(s[0])).has_value());
    const auto displaced = registry.join("u1", on(s[1]));
    REQUIRE(displaced.has_value());
    CHECK(id_of(displaced->socket) == 0);
    CHECK(ids_of(registry, "u1") == std::vector<int>{1});
}

TEST_CASE("leave returns true once, then false") {
    socket_registry registry(3);
    const auto s = make_sockets(2);
    registry.join("u1", on(s[0]));
    registry.join("u1", on(s[1]));

    CHECK(registry.leave("u1", handle_of(s[0])));
    CHECK_FALSE(registry.leave("u1", handle_of(s[0])));
    CHECK(ids_of(registry, "u1") == std::vector<int>{1});
    CHECK(registry.socket_count() == 1);
    // Unknown user, or a socket never joined.
    CHECK_FALSE(registry.leave("nobody", handle_of(s[1])));
    const auto stranger = std::make_shared<int>(9);
    CHECK_FALSE(registry.leave("u1", handle_of(stranger)));
    CHECK(registry.socket_count() == 1);
}

TEST_CASE("leave finds a socket whose object is already gone") {
    socket_registry registry(3);
    auto s = make_sockets(2);
    registry.join("u1", on(s[0]));
    registry.join("u1", on(s[1]));
    const socket_registry::handle h = s[0];
    s[0].reset();
    REQUIRE(h.expired());
    CHECK(registry.leave("u1", h));
    CHECK(ids_of(registry, "u1") == std::vector<int>{1});
    CHECK(registry.socket_count() == 1);
}

TEST_CASE("has_user and socket_count follow joins and leaves") {
    socket_registry registry(2);
    const auto s = make_sockets(3);
    CHECK_FALSE(registry.has_user("u1"));
    CHECK(registry.socket_count() == 0);
    CHECK(ids_of(registry, "u1").empty());

    registry.join("u1", on(s[0]));
    CHECK(registry.has_user("u1"));
    CHECK_FALSE(registry.has_user("u2"));
    CHECK(registry.socket_count() == 1);

    registry.join("u2", on(s[1]));
    registry.join("u2", on(s[2]));
    CHECK(registry.has_user("u2"));
    CHECK(registry.socket_count() == 3);

    registry.leave("u2", handle_of(s[1]));
    CHECK(registry.socket_count() == 2);
    CHECK(registry.has_user("u2"));
}

TEST_CASE("users are isolated") {
    socket_registry registry(2);
    const auto s = make_sockets(5);
    registry.join("u1", on(s[0]));
    registry.join("u2", on(s[1]));
    registry.join("u1", on(s[2]));
    // u2's joins past its limit never displace u1's sockets.
    CHECK_FALSE(registry.join("u2", on(s[3])).has_value());
    const auto displaced = registry.join("u2", on(s[4]));
    REQUIRE(displaced.has_value());
    CHECK(id_of(displaced->socket) == 1);

    CHECK(ids_of(registry, "u1") == std::vector<int>{0, 2});
    CHECK(ids_of(registry, "u2") == std::vector<int>{3, 4});
    // Leaving under the wrong user does nothing.
    CHECK_FALSE(registry.leave("u2", handle_of(s[0])));
    CHECK(ids_of(registry, "u1") == std::vector<int>{0, 2});
    CHECK(registry.socket_count() == 4);
}

TEST_CASE("leaving the last socket removes the user") {
    socket_registry registry(3);
    const auto s = make_sockets(2);
    registry.join("u1", on(s[0]));
    registry.join("u1", on(s[1]));
    CHECK(registry.leave("u1", handle_of(s[1])));
    CHECK(registry.has_user("u1"));
    CHECK(registry.leave("u1", handle_of(s[0])));
    CHECK_FALSE(registry.has_user("u1"));
    CHECK(ids_of(registry, "u1").empty());
    CHECK(registry.socket_count() == 0);
}

TEST_CASE("for_each visits every socket once") {
    socket_registry registry(3);
    const auto s = make_sockets(3);
    registry.join("u1", on(s[0]));
    registry.join("u2", on(s[1]));
    registry.join("u1", on(s[2]));
    int sum = 0, count = 0;
    registry.for_each(0, [&](const socket_registry::handle& h) {
        sum += id_of(h);
        ++count;
    });
    CHECK(count == 3);
    CHECK(sum == 0 + 1 + 2);
}

TEST_CASE("the per-user cap holds across io threads, and visitors see only their thread's sockets") {
    socket_registry registry(3);
    const auto s = make_sockets(5);
    CHECK_FALSE(registry.join("u1", on(s[0], 1)).has_value());
    CHECK_FALSE(registry.join("u1", on(s[1], 0)).has_value());
    CHECK_FALSE(registry.join("u1", on(s[2], 1)).has_value());
    CHECK_FALSE(registry.join("u2", on(s[3], 1)).has_value());
    CHECK(ids_of(registry, "u1", 0) == std::vector<int>{1});
    CHECK(ids_of(registry, "u1", 1) == std::vector<int>{0, 2});

    // The fourth socket of u1 displaces the oldest, owned by another io thread: the caller
    // learns which thread must close it.
    const auto displaced = registry.join("u1", on(s[4], 0));
    REQUIRE(displaced.has_value());
    CHECK(id_of(displaced->socket) == 0);
    CHECK(displaced->io_thread == 1);
    CHECK(ids_of(registry, "u1", 0) == std::vector<int>{1, 4});
    CHECK(ids_of(registry, "u1", 1) == std::vector<int>{2});
    CHECK(registry.socket_count() == 4);

    int on_thread_1 = 0;
    registry.for_each(1, [&](const socket_registry::handle&) { ++on_thread_1; });
    CHECK(on_thread_1 == 2);  // u1's s[2] and u2's s[3]
}
