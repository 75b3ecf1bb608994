#include "consumers/kafka_replayer.hpp"

#include <chrono>
#include <stdexcept>

#include <librdkafka/rdkafka.h>

#include "consumers/cursor.hpp"
#include "consumers/kafka_client.hpp"

namespace bridge::consumers {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int broker_timeout_ms = 5000;
constexpr std::size_t batch_events = 256;
constexpr std::size_t batch_bytes = 256 * 1024;

// One partition being replayed.
struct partition_state {
    std::string topic;
    int32_t partition = 0;
    int64_t start = 0;
    int64_t last_read = -1;
    bool at_end = false;
    bool verify_cursor = false;  // the first record must be the cursor's own
    int64_t cursor_timestamp_ms = 0;
    int64_t skip_to = -1;  // past an unreadable batch: what comes before this offset is stale
};

replay_result ended(replay_status status, std::string reason = {}) {
    replay_result r;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

}  // namespace

struct kafka_replayer::counters {
    std::atomic<uint64_t> started{0};
    std::atomic<uint64_t> events{0};
    std::array<std::atomic<uint64_t>, 4> finished{};
    std::atomic<int64_t> running{0};
};

// A replay thread's own consumer, reassigned for every request.
struct kafka_replayer::worker {
    kafka_events events;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer;
    std::map<std::string, std::unique_ptr<RdKafka::Topic>> topics;
    std::unique_ptr<schemas::envelope_validator> validator;
    rate_limited_log log;
    std::thread thread;

    // Partitions in the topic now, or -1 if Kafka does not answer.
    int32_t partition_count(const std::string& topic) {
        RdKafka::Metadata* raw = nullptr;
        if (consumer->metadata(false, topics.at(topic).get(), &raw, broker_timeout_ms) != RdKafka::ERR_NO_ERROR)
            return -1;
        std::unique_ptr<RdKafka::Metadata> md(raw);
        for (const auto* tm : *md->topics())
            if (tm->topic() == topic && tm->err() == RdKafka::ERR_NO_ERROR)
                return static_cast<int32_t>(tm->partitions()->size());
        return -1;
    }

    // The partitions a producer keyed by `user` may have written to.
    std::set<int32_t> user_partitions(const std::string& topic, const std::string& user, int32_t count) {
        const rd_kafka_topic_t* rkt = topics.at(topic)->c_ptr();
        return {rd_kafka_msg_partitioner_murmur2(rkt, user.data(), user.size(), count, nullptr, nullptr),
                rd_kafka_msg_partitioner_consistent(rkt, user.data(), user.size(), count, nullptr, nullptr)};
    }

    replay_result plan(const kafka_source& source, const replayer_config& config, const replay_request& job,
                       std::vector<partition_state>& parts);
    replay_result read(const kafka_source& source, const replayer_config& config, const replay_request& job,
                       std::vector<partition_state>& parts, unreadable_batches& unreadable, replay_sink& sink,
                       const std::function<bool()>& cancelled, counters& stats);
};

// Where each partition's replay starts: the cursor's own record (verified, then skipped), and
// elsewhere the first record at or after the cursor's time less the lookback, or `since`.
replay_result kafka_replayer::worker::plan(const kafka_source& source, const replayer_config& config,
                                           const replay_request& job, std::vector<partition_state>& parts) {
    std::optional<cursor> from;
    int64_t from_time = job.since_ms;
    if (!job.cursor.empty()) {
        from = parse_cursor(job.cursor);
        if (!from) return ended(replay_status::failed, "bad_cursor");
        if (!topics.count(from->topic)) return ended(replay_status::failed, "unknown_topic");
        from_time = std::max<int64_t>(0, from->timestamp_ms - config.lookback_ms);
    }
    std::vector<RdKafka::TopicPartition*> by_time;
    for (const auto& topic : source.topics) {
        const int32_t count = partition_count(topic);
        if (count <= 0) return ended(replay_status::unavailable, "metadata");
        std::set<int32_t> wanted = user_partitions(topic, job.user_id, count);
        const bool cursor_topic = from && from->topic == topic;
        if (cursor_topic) {
            if (from->partition >= count) return ended(replay_status::failed, "unknown_cursor");
            int64_t low = 0, high = 0;
            if (query_watermarks(*consumer, topic, from->partition, &low, &high, broker_timeout_ms))
                return ended(replay_status::unavailable, "watermarks");
            if (from->offset < low) return ended(replay_status::failed, "expired");
            if (from->offset >= high) return ended(replay_status::failed, "unknown_cursor");
            parts.push_back({topic, from->partition, from->offset, from->offset - 1, false, true, from->timestamp_ms});
            wanted.erase(from->partition);
        }
        for (int32_t p : wanted) by_time.push_back(RdKafka::TopicPartition::create(topic, p, from_time));
    }
    // Offsets for the time; a partition with nothing that recent starts at its end.
    const auto err = by_time.empty() ? RdKafka::ERR_NO_ERROR : consumer->offsetsForTimes(by_time, broker_timeout_ms);
    replay_result result = ended(replay_status::done);
    for (auto* tp : by_time) {
        int64_t offset = tp->offset();
        if (err == RdKafka::ERR_NO_ERROR && tp->err() == RdKafka::ERR_NO_ERROR && offset < 0) {
            int64_t low = 0;
            if (query_watermarks(*consumer, tp->topic(), tp->partition(), &low, &offset, broker_timeout_ms))
                result = ended(replay_status::unavailable, "watermarks");
        } else if (err != RdKafka::ERR_NO_ERROR || tp->err() != RdKafka::ERR_NO_ERROR) {
            result = ended(replay_status::unavailable, "offsets_for_times");
        }
        parts.push_back({tp->topic(), tp->partition(), offset, offset - 1, false, false, 0});
    }
    RdKafka::TopicPartition::destroy(by_time);
    return result;
}

// Reads every planned partition to its end, handing the user's valid records to the sink.
replay_result kafka_replayer::worker::read(const kafka_source& source, const replayer_config& config,
                                           const replay_request& job, std::vector<partition_state>& parts,
                                           unreadable_batches& unreadable, replay_sink& sink,
                                           const std::function<bool()>& cancelled, counters& stats) {
    std::vector<RdKafka::TopicPartition*> assignment;
    for (const auto& p : parts) assignment.push_back(RdKafka::TopicPartition::create(p.topic, p.partition, p.start));
    const auto assign_err = consumer->assign(assignment);
    RdKafka::TopicPartition::destroy(assignment);
    if (assign_err) return ended(replay_status::unavailable, "assign");

    std::vector<std::unique_ptr<RdKafka::Message>> held;
    std::vector<event> batch;
    std::size_t held_bytes = 0, sent_events = 0, sent_bytes = 0;
    auto flush = [&] {
        const bool more = batch.empty() || sink.replay_events(job.socket_id, batch);
        stats.events.fetch_add(batch.size(), std::memory_order_relaxed);
        batch.clear();
        held.clear();
        held_bytes = 0;
        return more;
    };
    auto state_of = [&](RdKafka::Message& m) -> partition_state* {
        if (!m.c_ptr()->rkt) return nullptr;  // an error of no partition's
        const char* topic = rd_kafka_topic_name(m.c_ptr()->rkt);
        for (auto& p : parts)
            if (p.partition == m.partition() && p.topic == topic) return &p;
        return nullptr;
    };
    const auto deadline = clock_type::now() + std::chrono::milliseconds(config.timeout_ms);
    auto all_at_end = [&] {
        for (const auto& p : parts)
            if (!p.at_end) return false;
        return true;
    };

    while (!all_at_end()) {
        if (cancelled()) return ended(replay_status::failed, "cancelled");
        if (clock_type::now() > deadline) return ended(replay_status::unavailable, "timeout");
        std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
        if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
        partition_state* st = state_of(*m);
        if (m->err() == RdKafka::ERR__PARTITION_EOF) {
            if (st) {
                st->at_end = true;
                st->last_read = std::max(st->last_read, m->offset() - 1);
            }
            continue;
        }
        if (st && m->offset() < st->skip_to) continue;  // fetched before the seek past a batch
        if (st && is_unreadable(m->err()) && m->offset() >= 0) {
            // A batch no reader can decode: skip it where the live reader does, or stop now.
            if (source.unreadable == unreadable_policy::stop) return ended(replay_status::unavailable, "unreadable_batch");
            const int64_t end = unreadable.end_of(st->topic, st->partition, m->offset(), m->errstr());
            if (end < 0) return ended(replay_status::unavailable, "unreadable_batch");
            if (end > st->start) st->verify_cursor = false;  // the cursor's record is in it: go on past it
            st->skip_to = end;
            st->last_read = std::max(st->last_read, end - 1);
            std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(st->topic, st->partition, end));
            if (consumer->seek(*tp, broker_timeout_ms) != RdKafka::ERR_NO_ERROR)
                return ended(replay_status::unavailable, "seek");
            continue;
        }
        if (m->err() != RdKafka::ERR_NO_ERROR || !st) {
            if (m->err() != RdKafka::ERR_NO_ERROR) log.warn(0, "replay consume: {}", m->errstr());
            continue;
        }
        if (m->offset() <= st->last_read) continue;  // handed over again (a leader change): sent already
        st->at_end = false;
        st->last_read = m->offset();
        const std::string* key = m->key();
        if (st->verify_cursor) {
            // The cursor's record must be where the cursor says, as it was: else the log was
            // truncated (expired) or the topic recreated (unknown_cursor).
            st->verify_cursor = false;
            if (m->offset() != st->start) return ended(replay_status::failed, "expired");
            if (!key || *key != job.user_id || m->timestamp().timestamp != st->cursor_timestamp_ms)
                return ended(replay_status::failed, "unknown_cursor");
            continue;
        }
        if (!key || *key != job.user_id) continue;
        schemas::envelope envelope;
        const std::string_view value(static_cast<const char*>(m->payload()), m->len());
        if (validator->validate(key, value, envelope) != schemas::reject_reason::none) continue;
        if (!job.run_id.empty() && envelope.run_id != job.run_id) continue;
        if (sent_events + batch.size() >= config.max_events || sent_bytes + held_bytes + m->len() > config.max_bytes) {
            flush();
            return ended(replay_status::truncated, sent_events + batch.size() >= config.max_events ? "max_events" : "max_bytes");
        }
        batch.push_back(event_from(*m, std::move(envelope)));
        held_bytes += m->len();
        held.push_back(std::move(m));
        if (batch.size() >= batch_events || held_bytes >= batch_bytes) {
            sent_events += batch.size();
            sent_bytes += held_bytes;
            if (!flush()) return ended(replay_status::failed, "cancelled");
        }
    }
    if (!flush()) return ended(replay_status::failed, "cancelled");
    replay_result result = ended(replay_status::done);
    for (const auto& p : parts) result.splice.push_back({p.topic, p.partition, p.last_read});
    return result;
}

kafka_replayer::kafka_replayer(kafka_source source, replayer_config config, unreadable_batches& unreadable,
                               replay_sink& sink)
    : source_(std::move(source)), config_(config), unreadable_(unreadable), sink_(sink),
      counters_(std::make_unique<counters>()) {
    if (config_.concurrency == 0) throw std::invalid_argument("replay concurrency must be at least 1");
    for (std::size_t i = 0; i < config_.concurrency; ++i) {
        auto w = std::make_unique<worker>();
        w->consumer = create_consumer(source_,
                                      {{"enable.partition.eof", "true"}, {"fetch.wait.max.ms", "50"},
                                       {"queued.max.messages.kbytes", "4096"}, {"client.id", "agent-event-bridge-replay"}},
                                      w->events);
        for (const auto& t : source_.topics) {
            std::string err;
            std::unique_ptr<RdKafka::Topic> h(RdKafka::Topic::create(w->consumer.get(), t, nullptr, err));
            if (!h) throw std::invalid_argument("kafka topic " + t + ": " + err);
            w->topics[t] = std::move(h);
        }
        w->validator = std::make_unique<schemas::envelope_validator>(source_.max_record_bytes, source_.max_depth);
        workers_.push_back(std::move(w));
    }
}

kafka_replayer::~kafka_replayer() { stop(); }

void kafka_replayer::start() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        running_ = true;
    }
    for (auto& w : workers_) w->thread = std::thread([this, &w] { run(*w); });
}

void kafka_replayer::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!running_) return;
        running_ = false;
    }
    wake_.notify_all();
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
        w->consumer->close();
    }
}

void kafka_replayer::request(replay_request r) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!running_ || queue_.size() >= config_.max_queued) {
        lock.unlock();
        counters_->finished[static_cast<std::size_t>(replay_status::unavailable)].fetch_add(1);
        return sink_.replay_finished(r.socket_id, ended(replay_status::unavailable, "busy"));
    }
    active_.insert(r.socket_id);
    queue_.push_back(std::move(r));
    lock.unlock();
    wake_.notify_one();
}

void kafka_replayer::cancel(uint64_t socket_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (active_.count(socket_id)) cancelled_.insert(socket_id);
}

void kafka_replayer::run(worker& w) {
    for (;;) {
        replay_request job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [this] { return !running_ || !queue_.empty(); });
            if (!running_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        auto cancelled = [this, id = job.socket_id] {
            std::lock_guard<std::mutex> lock(mutex_);
            return !running_ || cancelled_.count(id) > 0;
        };
        counters_->started.fetch_add(1);
        counters_->running.fetch_add(1);
        std::vector<partition_state> parts;
        replay_result result = cancelled() ? ended(replay_status::failed, "cancelled") : w.plan(source_, config_, job, parts);
        if (result.status == replay_status::done)
            result = w.read(source_, config_, job, parts, unreadable_, sink_, cancelled, *counters_);
        w.consumer->unassign();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            cancelled_.erase(job.socket_id);
            active_.erase(job.socket_id);
        }
        counters_->running.fetch_sub(1);
        counters_->finished[static_cast<std::size_t>(result.status)].fetch_add(1);
        sink_.replay_finished(job.socket_id, std::move(result));
    }
}

std::string kafka_replayer::metrics_text() const {
    static const char* statuses[] = {"done", "truncated", "failed", "unavailable"};
    std::string out;
    out += "# HELP bridge_replays_total Replays (resume, late join) ended, by outcome.\n"
           "# TYPE bridge_replays_total counter\n";
    for (std::size_t i = 0; i < 4; ++i)
        out += std::string("bridge_replays_total{outcome=\"") + statuses[i] + "\"} " +
               std::to_string(counters_->finished[i].load()) + "\n";
    out += "# HELP bridge_replay_events_total Events sent by replays.\n# TYPE bridge_replay_events_total counter\n";
    out += "bridge_replay_events_total " + std::to_string(counters_->events.load()) + "\n";
    std::size_t queued = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queued = queue_.size();
    }
    out += "# HELP bridge_replays_running Replays reading now.\n# TYPE bridge_replays_running gauge\n";
    out += "bridge_replays_running " + std::to_string(counters_->running.load()) + "\n";
    out += "# HELP bridge_replays_queued Replays waiting for a thread.\n# TYPE bridge_replays_queued gauge\n";
    out += "bridge_replays_queued " + std::to_string(queued) + "\n";
    return out;
}

}  // namespace bridge::consumers
