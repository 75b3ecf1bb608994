#include "consumers/unreadable_batches.hpp"

#include <chrono>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

namespace bridge::consumers {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int broker_timeout_ms = 5000;
constexpr std::size_t max_known = 4096;

}  // namespace

bool is_unreadable(RdKafka::ErrorCode err) {
    // Not ERR__BAD_MSG: a response cut short by a broker going away reads as one, and passes.
    return err == RdKafka::ERR__BAD_COMPRESSION || err == RdKafka::ERR__NOT_IMPLEMENTED;
}

unreadable_batches::unreadable_batches(kafka_source source) : source_(std::move(source)) {}

unreadable_batches::~unreadable_batches() {
    if (consumer_) consumer_->close();
}

// Fetches from `from` and waits for the partition's first answer: an error at the batch's
// first offset (still inside it), or a record, another batch's error or the log's end (past it).
probe_outcome unreadable_batches::probe(const std::string& topic, int32_t partition, int64_t first, int64_t from) {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, partition, from));
    std::vector<RdKafka::TopicPartition*> one{tp.get()};
    if (consumer_->assign(one) != RdKafka::ERR_NO_ERROR) return probe_outcome::no_answer;
    probe_outcome outcome = probe_outcome::no_answer;
    const auto deadline = clock_type::now() + std::chrono::milliseconds(broker_timeout_ms);
    while (outcome == probe_outcome::no_answer && clock_type::now() < deadline) {
        std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
        if (m->err() == RdKafka::ERR__TIMED_OUT || m->partition() != partition || !m->c_ptr()->rkt ||
            topic != rd_kafka_topic_name(m->c_ptr()->rkt))
            continue;
        if (m->err() == RdKafka::ERR_NO_ERROR || m->err() == RdKafka::ERR__PARTITION_EOF)
            outcome = probe_outcome::past;
        else if (is_unreadable(m->err()))
            outcome = m->offset() == first ? probe_outcome::inside : probe_outcome::past;
    }
    consumer_->unassign();
    return outcome;
}

int64_t unreadable_batches::end_of(const std::string& topic, int32_t partition, int64_t first, const std::string& error) {
    const key k{topic, partition, first};
    std::lock_guard<std::mutex> search(search_mutex_);
    {
        std::lock_guard<std::mutex> lock(known_mutex_);
        if (const auto it = known_.find(k); it != known_.end()) return it->second;
    }
    if (!consumer_)
        consumer_ = create_consumer(source_,
                                    {{"enable.partition.eof", "true"}, {"fetch.wait.max.ms", "50"},
                                     {"queued.max.messages.kbytes", "1024"}, {"client.id", "agent-event-bridge-probe"}},
                                    events_);
    int64_t low = 0, high = 0;
    if (query_watermarks(*consumer_, topic, partition, &low, &high, broker_timeout_ms) != RdKafka::ERR_NO_ERROR)
        return -1;
    const auto started = clock_type::now();
    const int64_t end = bisect_batch_end(first, high, [&](int64_t from) { return probe(topic, partition, first, from); });
    if (end < 0) return -1;
    std::lock_guard<std::mutex> lock(known_mutex_);
    known_[k] = end;
    known_order_.push_back(k);
    if (known_order_.size() > max_known) {
        known_.erase(known_order_.front());
        known_order_.pop_front();
    }
    if (end > first) {
        auto& counts = skipped_[topic];
        counts.first += 1;
        counts.second += static_cast<uint64_t>(end - first);
        spdlog::error("unreadable batch: topic={} partition={} offsets {}..{} skipped (found in {} ms): {}", topic,
                      partition, first, end - 1,
                      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started).count(), error);
    }
    return end;
}

std::string unreadable_batches::metrics_text() const {
    std::string batches =
        "# HELP bridge_unreadable_batches_total Batches that could not be decoded and were skipped.\n"
        "# TYPE bridge_unreadable_batches_total counter\n";
    std::string offsets =
        "# HELP bridge_unreadable_offsets_total Offsets skipped with unreadable batches.\n"
        "# TYPE bridge_unreadable_offsets_total counter\n";
    std::lock_guard<std::mutex> lock(known_mutex_);
    for (const auto& t : source_.topics) {
        const auto it = skipped_.find(t);
        const auto counts = it == skipped_.end() ? std::pair<uint64_t, uint64_t>{} : it->second;
        batches += "bridge_unreadable_batches_total{topic=\"" + t + "\"} " + std::to_string(counts.first) + "\n";
        offsets += "bridge_unreadable_offsets_total{topic=\"" + t + "\"} " + std::to_string(counts.second) + "\n";
    }
    return batches + offsets;
}

}  // namespace bridge::consumers
