#include "consumers/kafka_client.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <librdkafka/rdkafka.h>

namespace bridge::consumers {

void kafka_events::event_cb(RdKafka::Event& e) {
    switch (e.type()) {
        case RdKafka::Event::EVENT_ERROR:
            if (e.err() == RdKafka::ERR__ALL_BROKERS_DOWN) all_brokers_down = true;
            log_.warn(0, "kafka error: {}", RdKafka::err2str(e.err()));
            break;
        case RdKafka::Event::EVENT_LOG:
            if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) log_.warn(1, "kafka: {} {}", e.fac(), e.str());
            break;
        default: break;
    }
}

std::unique_ptr<RdKafka::KafkaConsumer> create_consumer(const kafka_source& source,
                                                        const std::map<std::string, std::string>& own,
                                                        kafka_events& events,
                                                        RdKafka::RebalanceCb* rebalance) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::map<std::string, std::string> props = {
        {"bootstrap.servers", source.brokers},
        {"group.id", "agent-event-bridge"},  // never joined: partitions are assigned by hand
        {"client.id", "agent-event-bridge"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"socket.nagle.disable", "true"},
        // One fetch answer holds at most 512 KiB of batches (or one larger batch, up to the
        // topic's max.message.bytes): what it may inflate to is bounded by inflate_limit.hpp.
        {"fetch.max.bytes", "524288"},
        {"max.partition.fetch.bytes", "524288"},
        {"message.max.bytes", "524288"},
        {"queued.max.messages.kbytes", "16384"},
        // A broker that hangs holds a request until this runs out (60 s by default): 10 s
        // lets a fetch give up on it and find the partition's new leader sooner.
        {"socket.timeout.ms", "10000"},
    };
    for (const auto& [k, v] : own) props[k] = v;
    for (const auto& [k, v] : source.kafka) props[k] = v;
    for (const auto& [k, v] : props)
        if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::invalid_argument("kafka property " + k + ": " + err);
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&events), err) != RdKafka::Conf::CONF_OK)
        throw std::invalid_argument("kafka event callback: " + err);
    if (rebalance && conf->set("rebalance_cb", rebalance, err) != RdKafka::Conf::CONF_OK)
        throw std::invalid_argument("kafka rebalance callback: " + err);
    std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer) throw std::invalid_argument("kafka consumer: " + err);
    return consumer;
}

RdKafka::ErrorCode query_watermarks(RdKafka::KafkaConsumer& consumer, const std::string& topic, int32_t partition,
                                    int64_t* low, int64_t* high, int timeout_ms) {
    // ListOffsets by time: -2 asks for the earliest offset, -1 for the latest.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (const int64_t which : {int64_t{-2}, int64_t{-1}}) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, partition, which));
        std::vector<RdKafka::TopicPartition*> one{tp.get()};
        auto err = consumer.offsetsForTimes(one, static_cast<int>(std::max<int64_t>(1, left.count())));
        if (err == RdKafka::ERR_NO_ERROR) err = tp->err();
        if (err != RdKafka::ERR_NO_ERROR) return err;
        if (tp->offset() < 0) return RdKafka::ERR__FAIL;
        *(which == -2 ? low : high) = tp->offset();
    }
    return RdKafka::ERR_NO_ERROR;
}

event event_from(RdKafka::Message& m, schemas::envelope envelope) {
    event e;
    e.envelope = std::move(envelope);
    e.topic = rd_kafka_topic_name(m.c_ptr()->rkt);
    e.partition = m.partition();
    e.offset = m.offset();
    e.timestamp_ms = m.timestamp().timestamp;
    return e;
}

std::string reason_counters_text(std::string_view name, std::string_view help, const reason_counters& counts) {
    std::string out;
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" counter\n");
    for (std::size_t i = 1; i < counts.size(); ++i)
        out.append(name).append("{reason=\"").append(schemas::to_string(static_cast<schemas::reject_reason>(i)))
            .append("\"} ").append(std::to_string(counts[i].load())).append("\n");
    return out;
}

std::unique_ptr<RdKafka::Producer> create_producer(const std::string& brokers,
                                                   const std::map<std::string, std::string>& extra,
                                                   RdKafka::DeliveryReportCb* reports) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::map<std::string, std::string> props = {
        {"bootstrap.servers", brokers},
        {"client.id", "agent-event-bridge"},
        {"enable.idempotence", "true"},
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
    };
    for (const auto& [k, v] : extra) props[k] = v;
    for (const auto& [k, v] : props)
        if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::invalid_argument("kafka property " + k + ": " + err);
    if (reports && conf->set("dr_cb", reports, err) != RdKafka::Conf::CONF_OK)
        throw std::invalid_argument("kafka delivery callback: " + err);
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
    if (!producer) throw std::invalid_argument("kafka producer: " + err);
    return producer;
}

}  // namespace bridge::consumers
