// Wrappers around the decompressors librdkafka calls (see inflate_limit.hpp). Each forwards to
// the library's own function, found with dlsym(RTLD_NEXT), and refuses to go past the limit.
// Threads: librdkafka's broker threads call them; each decompression runs start to end on one
// thread, so what a stream has inflated so far is kept per thread.
#include "consumers/inflate_limit.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

namespace bridge::consumers {

namespace {

std::atomic<std::size_t> limit_ratio{inflate_limits{}.ratio};
std::atomic<std::size_t> limit_floor{inflate_limits{}.floor_bytes};
std::atomic<std::size_t> limit_max{inflate_limits{}.max_bytes};
std::atomic<uint64_t> refused{0};

// The library's own definition of a function wrapped here; aborts if it is missing, as the
// dynamic linker would have.
template <typename F>
F real(const char* name) {
    void* f = dlsym(RTLD_NEXT, name);
    if (!f) std::abort();
    return reinterpret_cast<F>(f);
}

// The lz4 stream being inflated on this thread: librdkafka creates a context per batch,
// calls LZ4F_decompress until the batch is done, then frees the context.
struct lz4_stream {
    const void* dctx = nullptr;
    std::size_t compressed = 0;
    std::size_t inflated = 0;
};
thread_local lz4_stream lz4_current;

}  // namespace

void set_inflate_limits(const inflate_limits& limits) {
    limit_ratio = std::max<std::size_t>(1, limits.ratio);
    limit_floor = limits.floor_bytes;
    limit_max = std::max(limits.max_bytes, limits.floor_bytes);
}

std::size_t inflate_allowance(std::size_t compressed) {
    const std::size_t ratio = limit_ratio.load(std::memory_order_relaxed);
    const std::size_t by_ratio = compressed > limit_max.load(std::memory_order_relaxed) / ratio
                                     ? limit_max.load(std::memory_order_relaxed)
                                     : compressed * ratio;
    return std::min(std::max(by_ratio, limit_floor.load(std::memory_order_relaxed)),
                    limit_max.load(std::memory_order_relaxed));
}

uint64_t inflates_refused() { return refused.load(std::memory_order_relaxed); }

}  // namespace bridge::consumers

using bridge::consumers::inflate_allowance;
using bridge::consumers::lz4_current;
using bridge::consumers::real;
using bridge::consumers::refused;

extern "C" {

// gzip: librdkafka hands over the whole batch at once and inflates it twice, first into a
// small scratch buffer to learn its size. Stopping that first pass at the limit means the
// batch never gets its buffer.
int inflate(z_streamp strm, int flush) {
    static const auto next = real<int (*)(z_streamp, int)>("inflate");
    const int r = next(strm, flush);
    if (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) {
        const std::size_t compressed = strm->total_in + strm->avail_in;
        if (strm->total_out > inflate_allowance(compressed)) {
            refused.fetch_add(1, std::memory_order_relaxed);
            strm->msg = const_cast<char*>("inflates past the bridge's limit");
            return Z_DATA_ERROR;
        }
    }
    return r;
}

// lz4: the output buffer grows while the frame inflates; past the limit the frame fails.
size_t LZ4F_decompress(LZ4F_dctx* dctx, void* dst, size_t* dst_size, const void* src, size_t* src_size,
                       const LZ4F_decompressOptions_t* options) {
    static const auto next =
        real<size_t (*)(LZ4F_dctx*, void*, size_t*, const void*, size_t*, const LZ4F_decompressOptions_t*)>(
            "LZ4F_decompress");
    auto& s = lz4_current;
    if (s.dctx != dctx) s = {dctx, *src_size, 0};
    s.compressed = std::max(s.compressed, *src_size);
    const size_t r = next(dctx, dst, dst_size, src, src_size, options);
    if (!LZ4F_isError(r)) {
        s.inflated += *dst_size;
        if (s.inflated > inflate_allowance(s.compressed)) {
            refused.fetch_add(1, std::memory_order_relaxed);
            return static_cast<size_t>(-1);  // LZ4F_ERROR_GENERIC
        }
    }
    return r;
}

LZ4F_errorCode_t LZ4F_freeDecompressionContext(LZ4F_dctx* dctx) {
    static const auto next = real<LZ4F_errorCode_t (*)(LZ4F_dctx*)>("LZ4F_freeDecompressionContext");
    if (lz4_current.dctx == dctx) lz4_current = {};
    return next(dctx);
}

// zstd: librdkafka retries with a larger buffer while the frame does not fit. Up to the limit
// it may; a frame that does not fit within the limit fails for good. The buffer is allocated
// before the call, but pages not written here never reach the process's memory.
size_t ZSTD_decompress(void* dst, size_t capacity, const void* src, size_t compressed) {
    static const auto next = real<size_t (*)(void*, size_t, const void*, size_t)>("ZSTD_decompress");
    const std::size_t allowed = inflate_allowance(compressed);
    const size_t r = next(dst, std::min(capacity, allowed), src, compressed);
    if (capacity >= allowed && ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) {
        refused.fetch_add(1, std::memory_order_relaxed);
        return static_cast<size_t>(-static_cast<ptrdiff_t>(ZSTD_error_memory_allocation));
    }
    return r;
}

}  // extern "C"
