#include "consumers/kafka_reader.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <set>
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

struct partition_lag {
    std::string topic;
    int32_t partition;
    int64_t lag;
};

}  // namespace

struct kafka_reader::impl {
    reader_config config;
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

    // Counters read by the metrics thread.
    std::atomic<uint64_t> records_read{0};
    std::atomic<uint64_t> records_skipped{0};
    reason_counters rejected{};
    mutable std::mutex lag_mutex;
    std::vector<partition_lag> lag;

    impl(reader_config c, event_sink& s) : config(std::move(c)), sink(s), validator(config.max_record_bytes, config.max_depth) {}

    void create_consumer() {
        std::string err;
        consumer = consumers::create_consumer(config.brokers,
                                              {{"enable.partition.eof", "false"}, {"fetch.wait.max.ms", "100"}},
                                              config.kafka, events);
        for (const auto& t : config.topics) {
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
            const auto err = consumer->query_watermark_offsets(it->first, it->second, &low, &high, metadata_timeout_ms);
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
        for (const auto& t : config.topics) {
            const auto it = assigned.find(t);
            if (it == assigned.end() || it->second.empty()) return false;
        }
        return true;
    }

    // Lag from cached watermarks and our positions: no broker round trip.
    void update_lag() {
        std::vector<RdKafka::TopicPartition*> parts;
        for (const auto& [topic, ids] : assigned)
            for (int32_t id : ids) parts.push_back(RdKafka::TopicPartition::create(topic, id));
        consumer->position(parts);
        std::vector<partition_lag> now;
        for (const auto* tp : parts) {
            int64_t low = 0, high = 0;
            int64_t lag = 0;
            if (consumer->get_watermark_offsets(tp->topic(), tp->partition(), &low, &high) == RdKafka::ERR_NO_ERROR &&
                tp->offset() >= 0 && high >= tp->offset())
                lag = high - tp->offset();
            now.push_back({tp->topic(), tp->partition(), lag});
        }
        RdKafka::TopicPartition::destroy(parts);
        std::lock_guard<std::mutex> lock(lag_mutex);
        lag = std::move(now);
    }

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
        event e;
        const std::string_view value(static_cast<const char*>(m.payload()), m.len());
        const auto r = validator.validate(key, value, e.envelope, &detail);
        if (r != schemas::reject_reason::none) {
            reject(r, m, detail);
            return false;
        }
        e.topic = rd_kafka_topic_name(m.c_ptr()->rkt);
        e.partition = m.partition();
        e.offset = m.offset();
        e.timestamp_ms = m.timestamp().timestamp;
        batch.push_back(std::move(e));
        return true;
    }
};

kafka_reader::kafka_reader(reader_config config, event_sink& sink)
    : impl_(std::make_unique<impl>(std::move(config), sink)) {
    if (impl_->config.topics.empty()) throw std::invalid_argument("no topics configured");
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

namespace {

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

}  // namespace

bool kafka_reader::stalled() const {
    const int64_t at = loop_at_ms_.load(std::memory_order_relaxed);
    if (at == 0) return false;
    const int64_t age = steady_ms() - at;
    const bool stuck = reader_stalled(age, busy_.load(std::memory_order_relaxed), impl_->config.stall_ms);
    if (stuck && !stall_logged_.exchange(true))
        spdlog::error("reader stalled: no progress for {} ms; not ready until it moves", age);
    if (!stuck && stall_logged_.load(std::memory_order_relaxed) && stall_logged_.exchange(false))
        spdlog::info("reader moving again");
    return stuck;
}

// Partitions, readiness and lag, on their own thread: the broker round trips they take
// (metadata, the end of new partitions) never hold up records being handed over.
void kafka_reader::watch() {
    auto& s = *impl_;
    const auto refresh_every = std::chrono::milliseconds(s.config.metadata_refresh_ms);
    auto next_refresh = clock_type::now();
    std::unique_lock<std::mutex> lock(stop_mutex_);
    while (running_.load(std::memory_order_relaxed)) {
        if (clock_type::now() >= next_refresh) {
            lock.unlock();
            s.refresh_assignment();
            s.update_lag();
            lock.lock();
            // Partitions still waiting for their end are retried soon.
            next_refresh = clock_type::now() + (s.awaiting_end.empty() ? refresh_every : std::chrono::milliseconds(200));
        }
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
    while (running_.load(std::memory_order_relaxed)) {
        loop_at_ms_.store(steady_ms(), std::memory_order_relaxed);
        busy_.store(false, std::memory_order_relaxed);

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
                if (m->err() != RdKafka::ERR__PARTITION_EOF)
                    s.reject_log.warn(10, "kafka consume: {}", m->errstr());
                continue;
            }
            busy_.store(true, std::memory_order_relaxed);
            if (!s.take(*m, batch)) continue;
            batch_bytes += m->len();
            held.push_back(std::move(m));
        }
        if (!batch.empty()) s.sink.deliver(batch);
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
    out += reason_counters_text("bridge_records_rejected_total", "Records not delivered, by reason.", s.rejected);
    out += "# HELP bridge_kafka_ready 1 when Kafka answers and partitions are assigned.\n"
           "# TYPE bridge_kafka_ready gauge\n";
    out += std::string("bridge_kafka_ready ") + (ready() ? "1" : "0") + "\n";
    out += "# HELP bridge_reader_stalled 1 when the reader has made no progress for --reader-stall-ms while records wait.\n"
           "# TYPE bridge_reader_stalled gauge\n";
    out += std::string("bridge_reader_stalled ") + (stalled() ? "1" : "0") + "\n";
    out += "# HELP bridge_consumer_lag Records between the broker's head and this worker's position.\n"
           "# TYPE bridge_consumer_lag gauge\n";
    std::lock_guard<std::mutex> lock(s.lag_mutex);
    for (const auto& l : s.lag)
        out += "bridge_consumer_lag{topic=\"" + l.topic + "\",partition=\"" + std::to_string(l.partition) + "\"} " +
               std::to_string(l.lag) + "\n";
    return out;
}

}  // namespace bridge::consumers
