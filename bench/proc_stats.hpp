// CPU time and memory of another process, read from /proc.
#pragma once

#include <optional>
#include <sys/types.h>

namespace bench {

struct proc_sample {
    double cpu_s = 0;          // utime + stime
    long rss_kb = 0;           // VmRSS
    long hwm_kb = 0;           // VmHWM (peak RSS)
};

// Empty when the process is gone or /proc cannot be read.
std::optional<proc_sample> sample_process(pid_t pid);

}  // namespace bench
