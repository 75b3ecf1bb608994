#pragma once
// Batches that cannot be read, and where they end.
//
// When librdkafka cannot decode a batch (a codec error, a batch refused by inflate_limit.hpp)
// it reports an error at the batch's first offset and fetches the same batch again, forever:
// the partition stops for every reader. The way past is to skip the batch, and the only way to
// learn where it ends is to ask Kafka: a fetch from inside the batch fails again at its first
// offset, a fetch from past it does not. end_of() bisects that with a consumer of its own and
// remembers the answer, so the live reader, the replayers and the dead-letter writer each skip
// a batch without asking again.
//
// Threads: end_of() is called by the reader's watcher, the replay threads and the dead-letter
// thread; one search runs at a time (the others wait, then find the answer remembered).
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include <librdkafka/rdkafkacpp.h>

#include "consumers/kafka_client.hpp"
#include "consumers/kafka_source.hpp"

namespace bridge::consumers {

// Errors that mean a batch cannot be decoded, as opposed to Kafka being away.
bool is_unreadable(RdKafka::ErrorCode err);

// How one fetch from an offset came out, for the bisection.
enum class probe_outcome { inside, past, no_answer };

// Where the unreadable batch that starts at `first` ends, given a probe that fetches from an
// offset: the first offset in (first, log_end] whose probe is not `inside`. Returns `first`
// when `first` itself reads (the error was not the batch's), -1 when a probe had no answer.
template <typename Probe>
int64_t bisect_batch_end(int64_t first, int64_t log_end, Probe&& probe) {
    const auto at_first = probe(first);
    if (at_first == probe_outcome::no_answer) return -1;
    if (at_first == probe_outcome::past) return first;
    int64_t inside = first, past = std::max(log_end, first + 1);
    while (past - inside > 1) {
        const int64_t mid = inside + (past - inside) / 2;
        const auto outcome = probe(mid);
        if (outcome == probe_outcome::no_answer) return -1;
        (outcome == probe_outcome::inside ? inside : past) = mid;
    }
    return past;
}

class unreadable_batches {
public:
    explicit unreadable_batches(kafka_source source);
    ~unreadable_batches();

    // The first offset past the unreadable batch that starts at `first` (the offset its error
    // names); `first` when that offset reads after all; -1 when Kafka did not answer (try again
    // later). Logs and counts each batch once. Blocks for a few fetches the first time.
    int64_t end_of(const std::string& topic, int32_t partition, int64_t first, const std::string& error);

    // Prometheus text: batches skipped and the offsets they held, by topic. Thread-safe.
    std::string metrics_text() const;

private:
    probe_outcome probe(const std::string& topic, int32_t partition, int64_t first, int64_t from);

    using key = std::tuple<std::string, int32_t, int64_t>;
    kafka_source source_;
    kafka_events events_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;  // created on first use
    std::mutex search_mutex_;                           // one search at a time; guards consumer_
    mutable std::mutex known_mutex_;
    std::map<key, int64_t> known_;  // batch start -> first offset past it
    std::deque<key> known_order_;   // oldest first, to bound known_
    std::map<std::string, std::pair<uint64_t, uint64_t>> skipped_;  // topic -> batches, offsets
};

}  // namespace bridge::consumers
