#pragma once
// How far one compressed Kafka batch may inflate in this process.
//
// librdkafka inflates each fetched batch whole, before the reader sees a record: gzip and lz4
// with no cap at all, zstd up to receive.message.max.bytes (100 MB by default). A producer can
// therefore make every worker allocate a gigabyte with one batch of a few hundred KB.
// inflate_limit.cpp defines zlib's inflate, LZ4F_decompress and ZSTD_decompress in the bridge
// executable, ahead of the libraries librdkafka loads them from, and refuses to inflate a
// batch past the limit: librdkafka then reports the batch as unreadable ("Decompression ...
// failed"), and the readers skip it like any other unreadable batch. Snappy is built into
// librdkafka and cannot be wrapped; its format cannot inflate past about 22 times anyway.
//
// The limit is the larger of `floor_bytes` and `ratio` times the batch's compressed size,
// and never more than `max_bytes`. Genuine agent-event batches inflate about 25-50 times
// (a token stream of near-identical records, measured with gzip, zstd and lz4).
#include <cstddef>
#include <cstdint>

namespace bridge::consumers {

struct inflate_limits {
    std::size_t ratio = 128;
    std::size_t floor_bytes = 16 << 10;
    std::size_t max_bytes = 32 << 20;
};

// Sets the limit for every decompression from now on. Thread-safe. Also links the wrappers
// into the executable: call it once at start.
void set_inflate_limits(const inflate_limits& limits);

// The most one batch of `compressed` bytes may inflate to.
std::size_t inflate_allowance(std::size_t compressed);

// Decompressions refused so far, by the limit. Thread-safe.
uint64_t inflates_refused();

}  // namespace bridge::consumers
