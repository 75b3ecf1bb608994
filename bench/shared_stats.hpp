// Counters the load generator's socket processes share with the parent: one anonymous
// MAP_SHARED mapping made before fork. Each socket process writes only its own block
// (relaxed single-writer updates); the per-user socket counts are shared, so they use
// atomic adds. The parent only reads, and sets the control words.
#pragma once

#include "histogram.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bench {

// Close codes counted by name; others land in close_other.
constexpr std::uint16_t kCountedCloseCodes[] = {1000, 1001, 1006, 1008, 1009, 1011, 1013,
                                                4001, 4002, 4003, 4004};
constexpr std::size_t kCountedCloseCount = sizeof(kCountedCloseCodes) / sizeof(kCountedCloseCodes[0]);

struct socket_proc_stats {
    std::atomic<std::uint64_t> assigned{0};       // sockets this process opens
    std::atomic<std::uint64_t> opened{0};         // WebSocket handshakes that succeeded
    std::atomic<std::uint64_t> failed{0};         // gave up after retries
    std::atomic<std::uint64_t> http_401{0}, http_503{0};
    std::atomic<std::uint64_t> connect_done{0};   // 1 once every socket opened or failed
    std::atomic<std::uint64_t> closed_early{0};   // closed by the server before the end
    std::atomic<std::uint64_t> close_codes[kCountedCloseCount + 1];  // last: other
    std::atomic<std::uint64_t> frames{0};         // event frames, first sight on their socket
    std::atomic<std::uint64_t> window_frames{0};  // of which received inside the window
    std::atomic<std::uint64_t> duplicates{0};     // seq at or below the last one on the socket
    std::atomic<std::uint64_t> gaps{0};           // events skipped on a socket (seq jumps)
    std::atomic<std::uint64_t> other_frames{0};   // frames without sent_ns
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> latency[kHistogramBuckets];  // events sent inside the window
};

struct shared_control {
    std::atomic<std::int64_t> window_start_ns{INT64_MAX};  // CLOCK_REALTIME
    std::atomic<std::int64_t> window_end_ns{INT64_MAX};
    std::atomic<std::uint32_t> stop{0};
};

// Relaxed increment by the block's only writer: no locked instruction.
inline void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The whole mapping: control, one block per socket process, sockets per user.
class shared_stats {
public:
    shared_stats(std::size_t procs, std::size_t users);
    ~shared_stats();
    shared_stats(const shared_stats&) = delete;
    shared_stats& operator=(const shared_stats&) = delete;

    shared_control& control() { return *control_; }
    socket_proc_stats& proc(std::size_t i) { return procs_[i]; }
    std::atomic<std::uint32_t>& sockets_of_user(std::size_t u) { return users_[u]; }
    std::size_t procs() const { return nprocs_; }
    std::size_t users() const { return nusers_; }

    // Sum of one counter over every socket process.
    std::uint64_t sum(std::atomic<std::uint64_t> socket_proc_stats::*field) const;

private:
    void* base_ = nullptr;
    std::size_t bytes_ = 0;
    std::size_t nprocs_, nusers_;
    shared_control* control_ = nullptr;
    socket_proc_stats* procs_ = nullptr;
    std::atomic<std::uint32_t>* users_ = nullptr;
};

}  // namespace bench
