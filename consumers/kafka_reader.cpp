#include "consumers/kafka_reader.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <set>
#include <tuple>
#include <stdexcept>

#include <librdkafka/rdkafka.h>

#include "consumers/kafka_client.hpp"

namespace bridge::consumers {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int metadata_timeout_ms = 2000;
constexpr std::size_t max_batch_events = 1024;
constexpr std::size_t max_batch_records = 4096;
constexpr std::size_t max_batch_bytes = 1 << 20;  // a batch may overfill a socket's buffer by this much
constexpr auto max_batch_age = std::chrono::milliseconds(1);

using partition_key = std::pair<std::string, int32_t>;

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

}  // namespace

struct kafka_reader::impl {
    kafka_source source;
    reader_config config;
    unreadable_batches& unreadable;
    event_sink& sink;
    kafka_events events;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer;
    std::vector<std::unique_ptr<RdKafka::Topic>> topic_handles;
    schemas::envelope_validator validator;

    // Watcher-thread state.
    std::map<std::string, std::set<int32_t>> assigned;
    std::set<std::string> listed;  // topics whose partitions we have seen at least once
    // Partitions to start at their current end once the broker tells where that is.
    std::set<std::pair<std::string, int32_t>> awaiting_end;
    bool metadata_ok = false;
    rate_limited_log watch_log;
    rate_limited_log reject_log;  // the reading thread's

    // Shared by the reading thread and the watcher.
    mutable std::mutex progress_mutex;
    std::map<partition_key, partition_progress> progress;
    std::vector<partition_key> unreadable_wanted;                 // reading -> watcher: find the end
    std::vector<std::pair<partition_key, int64_t>> unreadable_found;  // watcher -> reading: read on from here
    std::atomic<int> stuck_partitions{0};

    // Counters read by the metrics thread.
    std::atomic<uint64_t> records_read{0};
    std::atomic<uint64_t> records_skipped{0};
    reason_counters rejected{};

    impl(kafka_source s, reader_config c, unreadable_batches& u, event_sink& k)
        : source(std::move(s)), config(c), unreadable(u), sink(k), validator(source.max_record_bytes, source.max_depth) {}

    void create_consumer() {
        std::string err;
        consumer = consumers::create_consumer(source, {{"enable.partition.eof", "false"}, {"fetch.wait.max.ms", "100"}},
                                              events);
        for (const auto& t : source.topics) {
            std::unique_ptr<RdKafka::Topic> h(RdKafka::Topic::create(consumer.get(), t, nullptr, err));
            if (!h) throw std::runtime_error("kafka topic " + t + ": " + err);
            topic_handles.push_back(std::move(h));
        }
    }

    // Assigns partitions not yet read: at the end on the first listing, from the beginning
    // for partitions that appear later (their first records would otherwise be skipped).
    void refresh_assignment() {
        bool ok = true;
        std::vector<RdKafka::TopicPartition*> fresh;
        for (const auto& handle : topic_handles) {
            RdKafka::Metadata* raw = nullptr;
            const auto err = consumer->metadata(false, handle.get(), &raw, metadata_timeout_ms);
            std::unique_ptr<RdKafka::Metadata> md(raw);
            if (err != RdKafka::ERR_NO_ERROR) {
                ok = false;
                watch_log.warn(8, "kafka metadata for {}: {}", handle->name(), RdKafka::err2str(err));
                continue;
            }
            for (const auto* tm : *md->topics()) {
                if (tm->err() != RdKafka::ERR_NO_ERROR) {
                    watch_log.warn(9, "kafka topic {}: {}", tm->topic(), RdKafka::err2str(tm->err()));
                    continue;
                }
                const bool first = listed.insert(tm->topic()).second;
                auto& known = assigned[tm->topic()];
                for (const auto* pm : *tm->partitions()) {
                    if (!known.insert(pm->id()).second) continue;
                    if (first)
                        awaiting_end.insert({tm->topic(), pm->id()});
                    else
                        fresh.push_back(RdKafka::TopicPartition::create(tm->topic(), pm->id(), RdKafka::Topic::OFFSET_BEGINNING));
                }
            }
        }
        assign_at_end(fresh);
        if (!fresh.empty()) {
            const RdKafka::Error* error = consumer->incremental_assign(fresh);
            if (error) {
                spdlog::error("kafka assign: {}", error->str());
                delete error;
                for (const auto* tp : fresh)
                    if (tp->offset() >= 0)
                        awaiting_end.insert({tp->topic(), tp->partition()});
                    else
                        assigned[tp->topic()].erase(tp->partition());
                ok = false;
            } else {
                spdlog::info("assigned {} new partitions", fresh.size());
                std::lock_guard<std::mutex> lock(progress_mutex);
                for (const auto* tp : fresh) {
                    auto& p = progress[{tp->topic(), tp->partition()}];
                    p.next = tp->offset() >= 0 ? tp->offset() : -1;
                    p.moved_at_ms = steady_ms();
                }
            }
            RdKafka::TopicPartition::destroy(fresh);
        }
        if (ok) events.all_brokers_down = false;
        metadata_ok = ok;
    }

    // Partitions of the first listing start at their current end, asked of the broker, so
    // that every record produced once the worker is ready is read. A new topic's leaders may
    // not answer yet: such a partition waits for the next refresh, and the worker is not
    // ready until it is assigned (a logical "end" resolved later would skip records).
    void assign_at_end(std::vector<RdKafka::TopicPartition*>& fresh) {
        for (auto it = awaiting_end.begin(); it != awaiting_end.end();) {
            int64_t low = 0, high = 0;
            const auto err = query_watermarks(*consumer, it->first, it->second, &low, &high, metadata_timeout_ms);
            if (err != RdKafka::ERR_NO_ERROR) {
                watch_log.warn(11, "kafka end of {}:{} not known yet: {}", it->first, it->second, RdKafka::err2str(err));
                ++it;
                continue;
            }
            fresh.push_back(RdKafka::TopicPartition::create(it->first, it->second, high));
            it = awaiting_end.erase(it);
        }
    }

    bool every_topic_assigned() const {
        if (!awaiting_end.empty()) return false;
        for (const auto& t : source.topics) {
            const auto it = assigned.find(t);
            if (it == assigned.end() || it->second.empty()) return false;
        }
        return true;
    }

    // Log ends from cached watermarks (no broker round trip), for lag and stuck partitions.
    void update_log_ends() {
        std::lock_guard<std::mutex> lock(progress_mutex);
        for (auto& [tp, p] : progress) {
            int64_t low = 0, high = 0;
            if (consumer->get_watermark_offsets(tp.first, tp.second, &low, &high) != RdKafka::ERR_NO_ERROR || high < 0)
                continue;
            p.log_end = high;
            if (p.next < 0 && low >= 0 && high == low) p.next = low;  // an empty partition: nothing to wait for
        }
    }

    // Looks for the end of the batches the reading thread stopped at (a few fetches each, on
    // this thread), and tells which partitions are stuck.
    void find_unreadable_ends() {
        std::vector<std::tuple<partition_key, int64_t, std::string>> wanted;
        {
            std::lock_guard<std::mutex> lock(progress_mutex);
            for (const auto& tp : unreadable_wanted) wanted.emplace_back(tp, progress[tp].unreadable, unreadable_errors[tp]);
        }
        for (const auto& [tp, first, error] : wanted) {
            const int64_t end = unreadable.end_of(tp.first, tp.second, first, error);
            if (end < 0) continue;  // Kafka did not answer: try again on the next round
            std::lock_guard<std::mutex> lock(progress_mutex);
            unreadable_wanted.erase(std::remove(unreadable_wanted.begin(), unreadable_wanted.end(), tp),
                                    unreadable_wanted.end());
            unreadable_found.push_back({tp, end});
        }
    }

    std::map<partition_key, std::string> unreadable_errors;  // under progress_mutex

    void judge_partitions() {
        const int64_t now = steady_ms();
        int stuck = 0;
        std::lock_guard<std::mutex> lock(progress_mutex);
        for (auto& [tp, p] : progress) {
            const bool is_stuck = partition_stuck(p, now, config.stall_ms);
            const bool was_stuck = stuck_set.count(tp) > 0;
            if (is_stuck && !was_stuck) {
                stuck_set.insert(tp);
                spdlog::error("partition {}:{} stuck at offset {} (log end {}) for over {} ms: {}", tp.first, tp.second,
                              p.unreadable >= 0 ? p.unreadable : p.next, p.log_end, config.stall_ms,
                              p.unreadable >= 0 ? "a batch it cannot read" : "no progress");
            } else if (!is_stuck && was_stuck) {
                stuck_set.erase(tp);
                spdlog::info("partition {}:{} moving again at offset {}", tp.first, tp.second, p.next);
            }
            stuck += is_stuck;
        }
        stuck_partitions.store(stuck, std::memory_order_relaxed);
    }

    std::set<partition_key> stuck_set;  // under progress_mutex

    void reject(schemas::reject_reason r, const RdKafka::Message& m, const std::string& detail) {
        rejected[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
        reject_log.warn(static_cast<std::size_t>(r), "record rejected reason={} topic={} partition={} offset={} detail={}",
                        schemas::to_string(r), m.topic_name(), m.partition(), m.offset(), detail);
    }

    // Filters by key, validates, and queues one record; returns true if it joined the batch.
    bool take(RdKafka::Message& m, std::vector<event>& batch) {
        records_read.fetch_add(1, std::memory_order_relaxed);
        const std::string* key = m.key();
        std::string detail;
        if (!key) {
            reject(schemas::reject_reason::missing_key, m, "record has no key");
            return false;
        }
        if (!sink.wants(*key)) {
            records_skipped.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        schemas::envelope envelope;
        const std::string_view value(static_cast<const char*>(m.payload()), m.len());
        const auto r = validator.validate(key, value, envelope, &detail);
        if (r != schemas::reject_reason::none) {
            reject(r, m, detail);
            return false;
        }
        batch.push_back(event_from(m, std::move(envelope)));
        return true;
    }

    // The reading thread stopped at a batch it cannot read: pause the partition (librdkafka
    // would fetch and fail it again and again) and have the watcher find where it ends.
    void stop_at_unreadable(RdKafka::Message& m) {
        const partition_key tp{rd_kafka_topic_name(m.c_ptr()->rkt), m.partition()};
        {
            std::lock_guard<std::mutex> lock(progress_mutex);
            auto& p = progress[tp];
            if (p.unreadable >= 0) return;  // already stopped there
            p.unreadable = m.offset();
            p.unreadable_since_ms = steady_ms();
            unreadable_errors[tp] = m.errstr();
            if (source.unreadable == unreadable_policy::skip) unreadable_wanted.push_back(tp);
        }
        std::unique_ptr<RdKafka::TopicPartition> part(RdKafka::TopicPartition::create(tp.first, tp.second));
        std::vector<RdKafka::TopicPartition*> one{part.get()};
        consumer->pause(one);
        if (source.unreadable == unreadable_policy::skip)
            spdlog::warn("partition {}:{}: cannot read the batch at offset {} ({}); looking for its end", tp.first,
                         tp.second, m.offset(), m.errstr());
        else
            spdlog::error("partition {}:{}: cannot read the batch at offset {} ({}); stopped there "
                          "(--unreadable-batches stop)", tp.first, tp.second, m.offset(), m.errstr());
    }

    // Reads on past the unreadable batches whose end the watcher found. Reading thread.
    void read_past_unreadable() {
        std::vector<std::pair<partition_key, int64_t>> found;
        {
            std::lock_guard<std::mutex> lock(progress_mutex);
            if (unreadable_found.empty()) return;
            found.swap(unreadable_found);
        }
        for (const auto& [tp, end] : found) {
            std::unique_ptr<RdKafka::TopicPartition> part(RdKafka::TopicPartition::create(tp.first, tp.second, end));
            std::vector<RdKafka::TopicPartition*> one{part.get()};
            consumer->resume(one);
            if (const RdKafka::Error* error = consumer->incremental_unassign(one)) {
                spdlog::error("kafka unassign {}:{}: {}", tp.first, tp.second, error->str());
                delete error;
            }
            if (const RdKafka::Error* error = consumer->incremental_assign(one)) {
                spdlog::error("kafka assign {}:{} at {}: {}", tp.first, tp.second, end, error->str());
                delete error;
            }
            for (auto& [key, next] : read_to)
                if (key.second == tp.second && tp.first == key.first) next = std::max(next, end);
            std::lock_guard<std::mutex> lock(progress_mutex);
            auto& p = progress[tp];
            p.unreadable = -1;
            p.next = end;
            p.moved_at_ms = steady_ms();
        }
    }

    // The reading thread's own record of the next offset of each partition. librdkafka was
    // seen handing over records a second time after a hung leader lost its partitions: a
    // record at or below one already read is dropped (and counted), so a socket never gets
    // it twice.
    std::map<std::pair<const char*, int32_t>, int64_t> read_to;
    std::atomic<uint64_t> records_refetched{0};

    bool first_time_read(const char* topic, int32_t partition, int64_t offset) {
        auto [it, fresh] = read_to.try_emplace({topic, partition}, offset + 1);
        if (fresh || offset >= it->second) {
            it->second = offset + 1;
            return true;
        }
        records_refetched.fetch_add(1, std::memory_order_relaxed);
        reject_log.warn(12, "kafka handed over {}:{} offset {} again (read up to {}): dropped", topic, partition, offset,
                        it->second - 1);
        return false;
    }

    // Where the reading thread has got to: the last offset read in each partition of a batch.
    void record_progress(const std::vector<std::pair<const char*, std::pair<int32_t, int64_t>>>& last) {
        if (last.empty()) return;
        const int64_t now = steady_ms();
        std::lock_guard<std::mutex> lock(progress_mutex);
        for (const auto& [topic, at] : last) {
            auto& p = progress[{topic, at.first}];
            if (p.next == at.second + 1) continue;
            p.next = at.second + 1;
            p.moved_at_ms = now;
        }
    }
};

kafka_reader::kafka_reader(kafka_source source, reader_config config, unreadable_batches& unreadable, event_sink& sink)
    : impl_(std::make_unique<impl>(std::move(source), config, unreadable, sink)) {
    if (impl_->source.topics.empty()) throw std::invalid_argument("no topics configured");
    impl_->create_consumer();
}

kafka_reader::~kafka_reader() { stop(); }

void kafka_reader::start() {
    running_ = true;
    watcher_ = std::thread([this] { watch(); });
    thread_ = std::thread([this] { run(); });
}

void kafka_reader::stop() {
    {
        std::lock_guard<std::mutex> lock(stop_mutex_);
        running_ = false;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (watcher_.joinable()) watcher_.join();
    if (impl_->consumer) {
        impl_->consumer->close();
        impl_->consumer.reset();
    }
}

bool kafka_reader::stalled() const {
    const int64_t at = loop_at_ms_.load(std::memory_order_relaxed);
    if (at == 0) return false;
    const int64_t age = steady_ms() - at;
    const bool loop_stuck = reader_stalled(age, busy_.load(std::memory_order_relaxed), impl_->config.stall_ms);
    if (loop_stuck && !stall_logged_.exchange(true))
        spdlog::error("reader stalled: no progress for {} ms; not ready until it moves", age);
    if (!loop_stuck && stall_logged_.load(std::memory_order_relaxed) && stall_logged_.exchange(false))
        spdlog::info("reader moving again");
    return loop_stuck || impl_->stuck_partitions.load(std::memory_order_relaxed) > 0;
}

// Partitions, readiness, lag and unreadable batches, on their own thread: the broker round
// trips they take (metadata, the end of new partitions, the end of an unreadable batch) never
// hold up records being handed over.
void kafka_reader::watch() {
    auto& s = *impl_;
    const auto refresh_every = std::chrono::milliseconds(s.config.metadata_refresh_ms);
    auto next_refresh = clock_type::now();
    std::unique_lock<std::mutex> lock(stop_mutex_);
    while (running_.load(std::memory_order_relaxed)) {
        lock.unlock();
        if (clock_type::now() >= next_refresh) {
            s.refresh_assignment();
            s.update_log_ends();
            // Partitions still waiting for their end are retried soon.
            next_refresh = clock_type::now() + (s.awaiting_end.empty() ? refresh_every : std::chrono::milliseconds(200));
        }
        s.find_unreadable_ends();
        s.judge_partitions();
        lock.lock();
        // A broker that goes away shows within a tenth of a second.
        ready_.store(s.metadata_ok && !s.events.all_brokers_down && s.every_topic_assigned(),
                     std::memory_order_relaxed);
        stop_cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
}

void kafka_reader::run() {
    auto& s = *impl_;
    std::vector<std::unique_ptr<RdKafka::Message>> held;  // keeps the batch's bytes alive
    std::vector<event> batch;
    std::vector<std::pair<const char*, std::pair<int32_t, int64_t>>> last;  // per partition, this round
    while (running_.load(std::memory_order_relaxed)) {
        loop_at_ms_.store(steady_ms(), std::memory_order_relaxed);
        busy_.store(false, std::memory_order_relaxed);
        s.read_past_unreadable();

        // Wait for one record, then drain what is already fetched into one batch.
        // A batch is handed over once nothing more is fetched, once it is full, or once its
        // first record has waited max_batch_age: under steady load the queue never empties.
        int timeout_ms = 100;
        std::size_t batch_bytes = 0;
        clock_type::time_point deadline = clock_type::time_point::max();
        while (batch.size() < max_batch_events && held.size() < max_batch_records && batch_bytes < max_batch_bytes &&
               clock_type::now() < deadline) {
            std::unique_ptr<RdKafka::Message> m(s.consumer->consume(timeout_ms));
            if (timeout_ms) deadline = clock_type::now() + max_batch_age;
            timeout_ms = 0;
            if (!m || m->err() == RdKafka::ERR__TIMED_OUT) break;
            if (m->err() != RdKafka::ERR_NO_ERROR) {
                if (is_unreadable(m->err()) && m->c_ptr()->rkt && m->offset() >= 0)
                    s.stop_at_unreadable(*m);
                else if (m->err() != RdKafka::ERR__PARTITION_EOF)
                    s.reject_log.warn(10, "kafka consume: {}", m->errstr());
                continue;
            }
            busy_.store(true, std::memory_order_relaxed);
            const char* topic = rd_kafka_topic_name(m->c_ptr()->rkt);
            if (!s.first_time_read(topic, m->partition(), m->offset())) continue;
            if (last.empty() || last.back().first != topic || last.back().second.first != m->partition()) {
                auto it = std::find_if(last.begin(), last.end(), [&](const auto& l) {
                    return l.first == topic && l.second.first == m->partition();
                });
                if (it == last.end()) it = last.insert(last.end(), {topic, {m->partition(), m->offset()}});
                it->second.second = m->offset();
            } else {
                last.back().second.second = m->offset();
            }
            if (!s.take(*m, batch)) continue;
            batch_bytes += m->len();
            held.push_back(std::move(m));
        }
        if (!batch.empty()) s.sink.deliver(batch);
        s.record_progress(last);
        last.clear();
        batch.clear();
        held.clear();
    }
}

std::string kafka_reader::metrics_text() const {
    const auto& s = *impl_;
    std::string out;
    out += "# HELP bridge_records_read_total Kafka records read.\n# TYPE bridge_records_read_total counter\n";
    out += "bridge_records_read_total " + std::to_string(s.records_read.load()) + "\n";
    out += "# HELP bridge_records_skipped_total Records for users with no socket on this worker.\n"
           "# TYPE bridge_records_skipped_total counter\n";
    out += "bridge_records_skipped_total " + std::to_string(s.records_skipped.load()) + "\n";
    out += "# HELP bridge_records_refetched_total Records Kafka handed over again after they were read, dropped.\n"
           "# TYPE bridge_records_refetched_total counter\n";
    out += "bridge_records_refetched_total " + std::to_string(s.records_refetched.load()) + "\n";
    out += reason_counters_text("bridge_records_rejected_total", "Records not delivered, by reason.", s.rejected);
    out += "# HELP bridge_kafka_ready 1 when Kafka answers and partitions are assigned.\n"
           "# TYPE bridge_kafka_ready gauge\n";
    out += std::string("bridge_kafka_ready ") + (ready() ? "1" : "0") + "\n";
    out += "# HELP bridge_reader_stalled 1 when the reader has made no progress for --reader-stall-ms while records "
           "wait, or a partition is stuck.\n"
           "# TYPE bridge_reader_stalled gauge\n";
    out += std::string("bridge_reader_stalled ") + (stalled() ? "1" : "0") + "\n";
    std::string lag = "# HELP bridge_consumer_lag Records between the broker's head and this worker's position.\n"
                      "# TYPE bridge_consumer_lag gauge\n";
    std::string stuck = "# HELP bridge_partition_stuck 1 while a partition cannot be read: stopped at a batch it "
                        "cannot read, or not moving while records wait, for --reader-stall-ms.\n"
                        "# TYPE bridge_partition_stuck gauge\n";
    std::lock_guard<std::mutex> lock(s.progress_mutex);
    for (const auto& [tp, p] : s.progress) {
        const std::string labels = "{topic=\"" + tp.first + "\",partition=\"" + std::to_string(tp.second) + "\"} ";
        const int64_t behind = p.log_end >= 0 && p.next >= 0 && p.log_end > p.next ? p.log_end - p.next : 0;
        lag += "bridge_consumer_lag" + labels + std::to_string(behind) + "\n";
        stuck += "bridge_partition_stuck" + labels + (s.stuck_set.count(tp) ? "1" : "0") + "\n";
    }
    return out + lag + stuck + s.unreadable.metrics_text();
}

}  // namespace bridge::consumers
