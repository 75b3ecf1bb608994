// Unreadable batches: where one ends (bisection), when a partition is stuck, and the limit on
// how far a compressed batch may inflate, on the real zlib, lz4 and zstd.
#include <doctest/doctest.h>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <map>
#include <string>
#include <vector>

#include "consumers/inflate_limit.hpp"
#include "consumers/kafka_reader.hpp"
#include "consumers/unreadable_batches.hpp"

using namespace bridge::consumers;

namespace {

// A log whose batch [first, last] cannot be read; probes from an offset answer as Kafka would.
struct fake_log {
    int64_t first, last;
    std::vector<int64_t> probed;
    probe_outcome operator()(int64_t from) {
        probed.push_back(from);
        return from >= first && from <= last ? probe_outcome::inside : probe_outcome::past;
    }
};

}  // namespace

TEST_CASE("the end of an unreadable batch is found by bisection, never past it") {
    for (int64_t last : {10, 11, 12, 500, 999}) {
        fake_log log{10, last, {}};
        CAPTURE(last);
        CHECK(bisect_batch_end(10, 1000, std::ref(log)) == last + 1);
        CHECK(log.probed.size() <= 12);  // log2 of the offsets after it, and the first probe
    }
    SUBCASE("the last batch of the log") {
        fake_log log{10, 19, {}};
        CHECK(bisect_batch_end(10, 20, std::ref(log)) == 20);
    }
    SUBCASE("an error that was not the batch's: nothing is skipped") {
        fake_log log{11, 19, {}};
        CHECK(bisect_batch_end(10, 100, std::ref(log)) == 10);
    }
    SUBCASE("Kafka does not answer: try again later") {
        int calls = 0;
        CHECK(bisect_batch_end(10, 100, [&](int64_t) {
                  return ++calls < 3 ? probe_outcome::inside : probe_outcome::no_answer;
              }) == -1);
    }
}

TEST_CASE("a partition is stuck when stopped at a batch, or not moving with records waiting, past the limit") {
    partition_progress p;
    p.next = 100;
    p.log_end = 100;
    p.moved_at_ms = 0;
    CHECK_FALSE(partition_stuck(p, 60000, 10000));  // idle: nothing waits
    p.log_end = 101;
    CHECK_FALSE(partition_stuck(p, 60000, 10000));  // one offset: a transaction's closing marker
    p.log_end = 150;
    CHECK_FALSE(partition_stuck(p, 10000, 10000));
    CHECK(partition_stuck(p, 10001, 10000));
    p.next = -1;  // from the beginning, nothing read yet
    CHECK_FALSE(partition_stuck(p, 60000, 10000));
    p.unreadable = 100;
    p.unreadable_since_ms = 5000;
    CHECK_FALSE(partition_stuck(p, 15000, 10000));
    CHECK(partition_stuck(p, 15001, 10000));
}

TEST_CASE("a compressed batch may inflate as far as the limit, no further") {
    set_inflate_limits({128, 16 << 10, 4 << 20});
    CHECK(inflate_allowance(100) == 16 << 10);
    CHECK(inflate_allowance(1000) == 128000);
    CHECK(inflate_allowance(1 << 20) == 4 << 20);
    CHECK(inflate_allowance(SIZE_MAX / 2) == 4 << 20);

    const std::string bomb(8 << 20, '\0');  // inflates from a few KB
    std::string text;
    for (int i = 0; text.size() < (1 << 20); ++i) text += "{\"seq\":" + std::to_string(i * 7919 % 10007) + "},";
    const uint64_t refused_before = inflates_refused();

    SUBCASE("gzip") {
        auto inflated = [](const std::string& plain) {
            std::vector<unsigned char> packed(compressBound(plain.size()));
            uLongf size = packed.size();
            REQUIRE(compress2(packed.data(), &size, reinterpret_cast<const Bytef*>(plain.data()), plain.size(), 6) == Z_OK);
            z_stream s{};
            REQUIRE(inflateInit(&s) == Z_OK);
            s.next_in = packed.data();
            s.avail_in = static_cast<uInt>(size);
            unsigned char out[512];  // as librdkafka's first pass does
            int r = Z_OK;
            while (r == Z_OK) {
                s.next_out = out;
                s.avail_out = sizeof(out);
                r = inflate(&s, Z_NO_FLUSH);
            }
            inflateEnd(&s);
            return r;
        };
        CHECK(inflated(text) == Z_STREAM_END);
        CHECK(inflated(bomb) == Z_DATA_ERROR);
    }
    SUBCASE("zstd") {
        auto inflated = [](const std::string& plain, std::size_t capacity) {
            std::string packed(ZSTD_compressBound(plain.size()), '\0');
            const size_t size = ZSTD_compress(packed.data(), packed.size(), plain.data(), plain.size(), 3);
            REQUIRE_FALSE(ZSTD_isError(size));
            std::string out(capacity, '\0');
            return ZSTD_decompress(out.data(), out.size(), packed.data(), size);
        };
        CHECK(inflated(text, text.size()) == text.size());
        const size_t r = inflated(bomb, bomb.size());
        CHECK(ZSTD_isError(r));
        CHECK(ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall);  // no retry with a larger buffer
    }
    SUBCASE("lz4") {
        auto inflated = [](const std::string& plain) {
            std::string packed(LZ4F_compressFrameBound(plain.size(), nullptr), '\0');
            const size_t size = LZ4F_compressFrame(packed.data(), packed.size(), plain.data(), plain.size(), nullptr);
            REQUIRE_FALSE(LZ4F_isError(size));
            LZ4F_dctx* dctx = nullptr;
            REQUIRE_FALSE(LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)));
            std::string out(64 << 10, '\0');
            size_t in_at = 0, r = 1;
            while (in_at < size && r != 0 && !LZ4F_isError(r)) {
                size_t out_size = out.size(), in_size = size - in_at;
                r = LZ4F_decompress(dctx, out.data(), &out_size, packed.data() + in_at, &in_size, nullptr);
                in_at += in_size;
            }
            LZ4F_freeDecompressionContext(dctx);
            return r;
        };
        CHECK(inflated(text) == 0);
        CHECK(LZ4F_isError(inflated(bomb)));
    }
    CHECK(inflates_refused() == refused_before + 1);
    set_inflate_limits({});
}
