// Counts one received event into a block of the shared counters: reads sent_ns and seq
// cheaply (no JSON parse), drops duplicates, notes gaps, and records the latency of events
// sent inside the measurement window. Used by the socket processes and the Kafka-floor reader.
#pragma once

#include "shared_stats.hpp"

#include <cstring>
#include <string>

namespace bench {

// Reads the unsigned integer that follows key in [data, data+len), from position from;
// returns the position after it, or npos if absent.
inline std::size_t read_number(const char* data, std::size_t len, const char* key, std::size_t key_len,
                               std::size_t from, std::uint64_t& out) {
    if (from >= len) return std::string::npos;
    auto* hit = static_cast<const char*>(memmem(data + from, len - from, key, key_len));
    if (!hit) return std::string::npos;
    std::size_t i = static_cast<std::size_t>(hit - data) + key_len, start = i;
    std::uint64_t v = 0;
    while (i < len && data[i] >= '0' && data[i] <= '9') v = v * 10 + static_cast<unsigned>(data[i++] - '0');
    if (i == start) return std::string::npos;
    out = v;
    return i;
}

// last_seq is the receiver's (socket's or user's) last sequence number, -1 at first.
inline void count_event(socket_proc_stats& mine, const shared_control& control, const char* data, std::size_t len,
                        std::int64_t& last_seq, std::int64_t now_ns) {
    static const char kSent[] = "\"sent_ns\":";
    static const char kSeq[] = "\"seq\":";
    bump(mine.bytes, len);
    std::uint64_t sent_ns = 0, seq = 0;
    std::size_t at = read_number(data, len, kSent, sizeof kSent - 1, 0, sent_ns);
    if (at == std::string::npos || read_number(data, len, kSeq, sizeof kSeq - 1, at, seq) == std::string::npos) {
        bump(mine.other_frames);
        return;
    }
    auto sq = static_cast<std::int64_t>(seq);
    if (sq <= last_seq) { bump(mine.duplicates); return; }
    if (sq > last_seq + 1) bump(mine.gaps, static_cast<std::uint64_t>(sq - last_seq - 1));
    last_seq = sq;
    bump(mine.frames);
    std::int64_t start = control.window_start_ns.load(std::memory_order_relaxed);
    if (now_ns >= start && now_ns < control.window_end_ns.load(std::memory_order_relaxed)) bump(mine.window_frames);
    if (static_cast<std::int64_t>(sent_ns) >= start) {
        std::int64_t lat = now_ns - static_cast<std::int64_t>(sent_ns);
        bump(mine.latency[bucket_of(lat > 0 ? static_cast<std::uint64_t>(lat) : 0)]);
    }
}

}  // namespace bench
