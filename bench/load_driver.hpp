// The load generator's parent process: forks the socket processes, waits for their
// handshakes, produces (fixed rate or closed loop), drains, samples the bridges' CPU and
// RSS, and writes the results as one JSON object.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace bench {

struct load_options {
    std::vector<std::string> urls;
    std::string brokers = "127.0.0.1:9092";
    std::string topic = "agent-events";
    std::string jwt_secret;
    std::size_t users = 100;
    std::size_t sockets = 1000;
    double rate = 0;               // events/s; 0 = closed loop, as fast as delivered
    double duration_s = 10;
    double warmup_s = 1;
    double drain_s = 10;
    std::size_t payload_bytes = 256;
    std::size_t max_inflight = 20000;  // closed loop: deliveries outstanding
    int linger_ms = 1;
    std::vector<int> pids;
    bool idle = false;
    bool kafka_floor = false;      // no bridge: a plain consumer reads the events back
    double settle_s = 3;
    unsigned source_addrs = 4;
    unsigned procs = 0;            // 0: as many as the descriptor limit needs
    std::size_t connect_concurrency = 256;
    double connect_timeout_s = 300;
    std::string user_prefix = "bench-u-";
    std::string label;
};

// Returns 0 once the run completed (losses and failed sockets are in the output, for the
// caller to judge); throws on setup errors.
int run_load(const load_options& opts, std::ostream& out);

}  // namespace bench
