#include "consumers/kafka_client.hpp"

#include <stdexcept>

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

std::unique_ptr<RdKafka::KafkaConsumer> create_consumer(const std::string& brokers,
                                                        const std::map<std::string, std::string>& own,
                                                        const std::map<std::string, std::string>& extra,
                                                        kafka_events& events) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::map<std::string, std::string> props = {
        {"bootstrap.servers", brokers},
        {"group.id", "agent-event-bridge"},  // never joined: partitions are assigned by hand
        {"client.id", "agent-event-bridge"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"socket.nagle.disable", "true"},
    };
    for (const auto& [k, v] : own) props[k] = v;
    for (const auto& [k, v] : extra) props[k] = v;
    for (const auto& [k, v] : props)
        if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::invalid_argument("kafka property " + k + ": " + err);
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&events), err) != RdKafka::Conf::CONF_OK)
        throw std::invalid_argument("kafka event callback: " + err);
    std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer) throw std::invalid_argument("kafka consumer: " + err);
    return consumer;
}

}  // namespace bridge::consumers
