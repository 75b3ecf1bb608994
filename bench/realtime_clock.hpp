// Wall-clock nanoseconds: the producer stamps events with it, the clients compare against it.
#pragma once

#include <time.h>

#include <cstdint>

namespace bench {

inline std::int64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace bench
