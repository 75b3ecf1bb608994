#include "bridge/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bridge/build_version.hpp"

namespace bridge {

namespace {

void gauge(std::string& out, const char* name, const char* kind, const char* help, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + kind + "\n" + name + " " + buf + "\n";
}

// Seconds since the epoch at which the system booted, from /proc/stat's btime.
double boot_time() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    while (in >> key) {
        if (key == "btime") {
            in >> value;
            return value;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

int open_fds() {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int n = 0;
    while (readdir(dir)) ++n;
    closedir(dir);
    return n - 3;  // ".", ".." and the directory's own descriptor
}

}  // namespace

std::string process_metrics_text() {
    std::string out;
    out += "# HELP bridge_build_info The bridge's version and the commit it was built from.\n"
           "# TYPE bridge_build_info gauge\n";
    out += std::string("bridge_build_info{version=\"") + version + "\",commit=\"" + commit + "\"} 1\n";

    // /proc/self/stat: fields after the command's closing parenthesis.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) return out;
    std::istringstream fields(stat.substr(paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
    long long rss_pages = 0;
    for (int i = 3; fields >> field; ++i) {  // field 3 is the state
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
        if (i == 22) starttime = std::stoull(field);
        if (i == 23) vsize = std::stoull(field);
        if (i == 24) {
            rss_pages = std::stoll(field);
            break;
        }
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    gauge(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.",
          static_cast<double>(utime + stime) / ticks);
    gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size, bytes.",
          static_cast<double>(rss_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)));
    gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size, bytes.", static_cast<double>(vsize));
    // Fixed for the process's life: /proc/stat is read on the first scrape only.
    static const double started = boot_time() + static_cast<double>(starttime) / ticks;
    gauge(out, "process_start_time_seconds", "gauge", "Start time of the process, seconds since the epoch.", started);
    gauge(out, "process_open_fds", "gauge", "Open file descriptors.", open_fds());
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
        gauge(out, "process_max_fds", "gauge", "Most file descriptors the process may open.",
              static_cast<double>(limit.rlim_cur));
    return out;
}

}  // namespace bridge
