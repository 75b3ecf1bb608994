#include "consumers/dlq_writer.hpp"

#include <chrono>
#include <stdexcept>

#include <librdkafka/rdkafka.h>

#include "consumers/kafka_client.hpp"
#include "schemas/envelope.hpp"

namespace bridge::consumers {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int flush_timeout_ms = 30000;

// Counts failed copies; librdkafka retries each one until its message timeout first.
class delivery_reports : public RdKafka::DeliveryReportCb {
public:
    std::atomic<uint64_t> failed{0};
    void dr_cb(RdKafka::Message& m) override {
        if (m.err() == RdKafka::ERR_NO_ERROR) return;
        failed.fetch_add(1, std::memory_order_relaxed);
        log_.warn(0, "dead-letter copy failed: {}", m.errstr());
    }

private:
    rate_limited_log log_;
};

}  // namespace

struct dlq_writer::impl : public RdKafka::RebalanceCb {
    kafka_source source;
    dlq_config config;
    unreadable_batches& unreadable;
    kafka_events events;
    delivery_reports reports;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer;
    std::unique_ptr<RdKafka::Producer> producer;
    schemas::envelope_validator validator;
    rate_limited_log log;
    reason_counters copied{};
    std::atomic<uint64_t> unreadable_noted{0};
    std::map<std::pair<std::string, int32_t>, int64_t> skipped_to;  // past the last batch skipped
    std::atomic<int64_t> partitions{0};

    impl(kafka_source s, dlq_config c, unreadable_batches& u)
        : source(std::move(s)), config(std::move(c)), unreadable(u), validator(source.max_record_bytes, source.max_depth) {
        consumer = create_consumer(source,
                                   {{"group.id", config.group},
                                    {"client.id", "agent-event-bridge-dlq"},
                                    {"auto.offset.reset", config.start},
                                    {"enable.auto.offset.store", "true"},
                                    {"queued.max.messages.kbytes", "4096"},
                                    {"partition.assignment.strategy", "range,roundrobin"}},
                                   events, this);
        producer = create_producer(source.brokers, source.kafka, &reports);
    }

    // Before partitions move to another worker, their copies are flushed and committed.
    void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& parts) override {
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            c->assign(parts);
            partitions.fetch_add(static_cast<int64_t>(parts.size()));
        } else {
            commit();
            c->unassign();
            partitions.store(0);
        }
    }

    // Waits for every copy so far, then commits what was read: nothing is committed that
    // was not copied.
    void commit() {
        if (producer->flush(flush_timeout_ms) != RdKafka::ERR_NO_ERROR) {
            log.warn(1, "dead-letter flush timed out; offsets not committed");
            return;
        }
        const auto err = consumer->commitSync();
        if (err != RdKafka::ERR_NO_ERROR && err != RdKafka::ERR__NO_OFFSET)
            log.warn(2, "dead-letter commit: {}", RdKafka::err2str(err));
    }

    void copy(const RdKafka::Message& m, schemas::reject_reason reason, const std::string& detail) {
        const std::string topic = m.topic_name();
        RdKafka::Headers* headers = RdKafka::Headers::create();
        headers->add("bridge.reason", std::string(schemas::to_string(reason)));
        headers->add("bridge.detail", detail);
        headers->add("bridge.topic", topic);
        headers->add("bridge.partition", std::to_string(m.partition()));
        headers->add("bridge.offset", std::to_string(m.offset()));
        const std::string* key = m.key();
        const auto err = producer->produce(topic + ".dlq", RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                           const_cast<void*>(m.payload()), m.len(), key ? key->data() : nullptr,
                                           key ? key->size() : 0, m.timestamp().timestamp, headers, nullptr);
        if (err != RdKafka::ERR_NO_ERROR) {
            delete headers;  // owned by the message only when produce succeeds
            reports.failed.fetch_add(1);
            log.warn(3, "dead-letter produce to {}.dlq: {}", topic, RdKafka::err2str(err));
            return;
        }
        copied[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    }

    // A batch that cannot be read: find where it ends, note it once in the dead-letter topic,
    // and read on past it. Blocks this thread for a few fetches.
    void skip_unreadable(RdKafka::Message& m) {
        const std::string topic = m.topic_name();
        auto& past = skipped_to[{topic, m.partition()}];
        if (m.offset() < past) return;  // fetched before the seek past it
        if (source.unreadable == unreadable_policy::stop) {  // stays stopped, as the readers do
            std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, m.partition()));
            std::vector<RdKafka::TopicPartition*> one{tp.get()};
            consumer->pause(one);
            return;
        }
        const int64_t end = unreadable.end_of(topic, m.partition(), m.offset(), m.errstr());
        if (end <= m.offset()) return;  // Kafka did not answer, or it reads after all: fetched again
        RdKafka::Headers* headers = RdKafka::Headers::create();
        headers->add("bridge.reason", "unreadable_batch");
        headers->add("bridge.detail", m.errstr());
        headers->add("bridge.topic", topic);
        headers->add("bridge.partition", std::to_string(m.partition()));
        headers->add("bridge.offset", std::to_string(m.offset()));
        headers->add("bridge.last_offset", std::to_string(end - 1));
        const auto err = producer->produce(topic + ".dlq", RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                           nullptr, 0, nullptr, 0, 0, headers, nullptr);
        if (err != RdKafka::ERR_NO_ERROR) {
            delete headers;
            reports.failed.fetch_add(1);
            log.warn(5, "dead-letter produce to {}.dlq: {}", topic, RdKafka::err2str(err));
            return;  // not skipped: the batch comes again and is noted then
        }
        unreadable_noted.fetch_add(1, std::memory_order_relaxed);
        past = end;
        std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, m.partition(), end));
        std::vector<RdKafka::TopicPartition*> one{tp.get()};
        if (consumer->seek(*tp, 5000) != RdKafka::ERR_NO_ERROR) log.warn(6, "dead-letter seek {}:{}", topic, end);
        consumer->offsets_store(one);
    }
};

dlq_writer::dlq_writer(kafka_source source, dlq_config config, unreadable_batches& unreadable)
    : impl_(std::make_unique<impl>(std::move(source), std::move(config), unreadable)) {}

dlq_writer::~dlq_writer() { stop(); }

void dlq_writer::start() {
    running_ = true;
    thread_ = std::thread([this] { run(); });
}

void dlq_writer::stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
}

void dlq_writer::run() {
    auto& s = *impl_;
    const auto err = s.consumer->subscribe(s.source.topics);
    if (err != RdKafka::ERR_NO_ERROR) spdlog::error("dead-letter subscribe: {}", RdKafka::err2str(err));
    auto next_commit = clock_type::now() + std::chrono::seconds(1);
    while (running_.load(std::memory_order_relaxed)) {
        std::unique_ptr<RdKafka::Message> m(s.consumer->consume(100));
        s.producer->poll(0);
        if (m->err() == RdKafka::ERR_NO_ERROR) {
            const std::string* key = m->key();
            schemas::envelope e;
            std::string detail;
            const auto reason = s.validator.validate(
                key, std::string_view(static_cast<const char*>(m->payload()), m->len()), e, &detail);
            if (reason != schemas::reject_reason::none) s.copy(*m, reason, detail);
        } else if (is_unreadable(m->err()) && m->c_ptr()->rkt && m->offset() >= 0) {
            s.skip_unreadable(*m);
        } else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF) {
            s.log.warn(4, "dead-letter consume: {}", m->errstr());
        }
        if (clock_type::now() >= next_commit) {
            s.commit();
            next_commit = clock_type::now() + std::chrono::seconds(1);
        }
    }
    // Leave the group cleanly: the last copies are flushed and committed first.
    s.commit();
    s.consumer->close();
}

std::string dlq_writer::metrics_text() const {
    std::string out = reason_counters_text("bridge_dlq_records_total",
                                           "Rejected records copied to the dead-letter topic, by reason.", impl_->copied);
    out += "# HELP bridge_dlq_errors_total Dead-letter copies that failed.\n# TYPE bridge_dlq_errors_total counter\n";
    out += "bridge_dlq_errors_total " + std::to_string(impl_->reports.failed.load()) + "\n";
    out += "# HELP bridge_dlq_unreadable_batches_total Unreadable batches noted in the dead-letter topic.\n"
           "# TYPE bridge_dlq_unreadable_batches_total counter\n";
    out += "bridge_dlq_unreadable_batches_total " + std::to_string(impl_->unreadable_noted.load()) + "\n";
    out += "# HELP bridge_dlq_partitions Partitions this worker validates for the dead-letter topic.\n"
           "# TYPE bridge_dlq_partitions gauge\n";
    out += "bridge_dlq_partitions " + std::to_string(impl_->partitions.load()) + "\n";
    return out;
}

}  // namespace bridge::consumers
