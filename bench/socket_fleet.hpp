// One socket process of the load generator: opens its share of the WebSockets and counts
// what they receive into shared memory until the parent says stop. Implemented in
// loadgen.cpp, the one translation unit that includes websocketpp.
#pragma once

#include "shared_stats.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace bench {

struct fleet_options {
    std::vector<std::string> urls;     // ws://host:port/path, sockets spread round robin
    std::vector<std::string> tokens;   // one per user
    std::size_t users = 0;
    std::size_t sockets = 0;           // all processes together
    std::size_t procs = 1;
    std::size_t proc_index = 0;        // this process takes sockets i with i % procs == proc_index
    unsigned source_addrs = 1;         // bind to 127.0.0.1 .. 127.0.0.N, round robin by socket
    std::size_t connect_concurrency = 128;  // handshakes in flight in this process
    int connect_attempts = 3;
};

// Runs in a forked child; returns when control().stop is set.
void run_socket_fleet(const fleet_options& opts, shared_stats& stats);

}  // namespace bench
