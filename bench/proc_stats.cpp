#include "proc_stats.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace bench {

static bool read_cpu(pid_t pid, double& cpu_s) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return false;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    auto close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    return true;
}

static bool read_memory(pid_t pid, long& rss_kb, long& hwm_kb) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    bool found = false;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) { rss_kb = std::stol(line.substr(6)); found = true; }
        if (line.rfind("VmHWM:", 0) == 0) hwm_kb = std::stol(line.substr(6));
    }
    return found;
}

std::optional<proc_sample> sample_process(pid_t pid) {
    proc_sample s;
    if (!read_cpu(pid, s.cpu_s) || !read_memory(pid, s.rss_kb, s.hwm_kb)) return std::nullopt;
    return s;
}

}  // namespace bench
