// What one load generator run gathered, for the output.
#pragma once

#include "proc_stats.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace bench {

// What one bridge process used: samples before connecting, at the window's ends, at the end.
struct worker_samples {
    pid_t pid;
    std::optional<proc_sample> before, connected, start, end;
};

// Everything the output reports, gathered from the run.
struct run_record {
    std::size_t procs = 0, fd_limit = 0;
    double connect_s = 0, window_s = 0, drain_s = 0, production_s = 0;
    std::uint64_t sent = 0, acked = 0, produce_failed = 0, expected = 0;
    std::string produce_error;
    std::vector<worker_samples> workers;
    double producer_cpu_window_s = 0;   // this process: the producer
    double sockets_cpu_window_s = 0;    // the socket processes
};

}  // namespace bench
