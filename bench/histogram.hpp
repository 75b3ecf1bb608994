// Log-bucketed latency histogram (HDR-style): exact below 128 ns, then 64 sub-buckets per
// power of two, so every bucket is within 1.6% of the values it holds. Counts live wherever
// the caller keeps them (shared memory across the load generator's processes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

constexpr unsigned kSubBucketBits = 6;                       // 64 sub-buckets per octave
constexpr std::uint64_t kMaxTrackedNs = (1ULL << 40) - 1;    // ~18 minutes
constexpr std::size_t kHistogramBuckets = (40 - kSubBucketBits + 1) * (1u << kSubBucketBits) + 64;

// Bucket of a value in nanoseconds (values past kMaxTrackedNs land in the last bucket).
inline std::size_t bucket_of(std::uint64_t ns) {
    if (ns > kMaxTrackedNs) ns = kMaxTrackedNs;
    unsigned msb = ns ? 63u - static_cast<unsigned>(__builtin_clzll(ns)) : 0u;
    unsigned shift = msb > kSubBucketBits ? msb - kSubBucketBits : 0u;
    return (static_cast<std::size_t>(shift) << kSubBucketBits) + static_cast<std::size_t>(ns >> shift);
}

// Middle of the values a bucket holds.
inline std::uint64_t bucket_value(std::size_t idx) {
    constexpr std::size_t sub = 1u << kSubBucketBits;
    if (idx < 2 * sub) return idx;
    std::size_t shift = idx / sub - 1;
    std::uint64_t lo = static_cast<std::uint64_t>(idx - shift * sub) << shift;
    return lo + ((1ULL << shift) >> 1);
}

// Value at quantile q (0..1) of merged counts; 0 when empty.
inline std::uint64_t quantile(const std::vector<std::uint64_t>& counts, double q) {
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    if (total == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    if (rank >= total) rank = total - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (seen > rank) return bucket_value(i);
    }
    return bucket_value(counts.size() - 1);
}

}  // namespace bench
