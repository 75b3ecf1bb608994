#include <doctest/doctest.h>

#include "consumers/kafka_reader.hpp"

using bridge::consumers::reader_stalled;

TEST_CASE("the reader is stalled when stuck on records past the limit, or on anything past twice it") {
    CHECK_FALSE(reader_stalled(50, true, 10000));
    CHECK_FALSE(reader_stalled(10000, true, 10000));
    CHECK(reader_stalled(10001, true, 10000));
    // Not handling records (a slow metadata refresh, a broker away): more patience.
    CHECK_FALSE(reader_stalled(15000, false, 10000));
    CHECK(reader_stalled(20001, false, 10000));
}
