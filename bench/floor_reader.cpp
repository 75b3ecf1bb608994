#include "floor_reader.hpp"

#include "event_counter.hpp"
#include "realtime_clock.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace bench {

floor_reader::floor_reader(const std::string& brokers, const std::string& topic, shared_stats& stats)
    : stats_(stats) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    // The settings our bridge's reader uses, so the floor is comparable.
    for (auto [k, v] : {std::pair<const char*, const char*>{"bootstrap.servers", brokers.c_str()},
                        {"group.id", "bench-floor"}, {"enable.auto.commit", "false"},
                        {"socket.nagle.disable", "true"}, {"fetch.wait.max.ms", "100"}}) {
        if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(std::string("floor consumer ") + k + ": " + err);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw std::runtime_error("floor consumer: " + err);
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(consumer_.get(), topic, nullptr, err));
    RdKafka::Metadata* raw = nullptr;
    if (!t || consumer_->metadata(false, t.get(), &raw, 10000) != RdKafka::ERR_NO_ERROR)
        throw std::runtime_error("floor consumer: no metadata for " + topic);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto* tm : *md->topics())
        for (auto* pm : *tm->partitions()) {
            // A topic created a moment ago may not have its leaders yet: ask again, briefly.
            int64_t low = 0, high = 0;
            RdKafka::ErrorCode werr = RdKafka::ERR_NO_ERROR;
            for (int attempt = 0; attempt < 50; ++attempt) {
                werr = consumer_->query_watermark_offsets(topic, pm->id(), &low, &high, 10000);
                if (werr == RdKafka::ERR_NO_ERROR) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            if (werr != RdKafka::ERR_NO_ERROR)
                throw std::runtime_error("floor consumer: no watermarks for " + topic + ": " + RdKafka::err2str(werr));
            parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), high));
        }
    auto rc = consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    if (rc != RdKafka::ERR_NO_ERROR) throw std::runtime_error("floor consumer: assign failed");
    thread_ = std::thread([this] { run(); });
}

floor_reader::~floor_reader() {
    stop();
    consumer_->close();
}

void floor_reader::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void floor_reader::run() {
    auto& mine = stats_.proc(0);
    std::unordered_map<std::string, std::int64_t> last_seq;  // per user (record key)
    while (!stop_) {
        std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
        if (!m || m->err() != RdKafka::ERR_NO_ERROR || !m->key()) continue;
        auto it = last_seq.try_emplace(*m->key(), -1).first;
        count_event(mine, stats_.control(), static_cast<const char*>(m->payload()), m->len(), it->second, realtime_ns());
    }
}

}  // namespace bench
