#pragma once
#include <string>

namespace bridge {

// Prometheus text: bridge_build_info{version,commit} and the standard process metrics
// (process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds), read from /proc.
std::string process_metrics_text();

}  // namespace bridge
