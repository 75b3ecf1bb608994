#include "event_producer.hpp"

#include "realtime_clock.hpp"

#include <stdexcept>

namespace bench {

std::string make_event(const std::string& user, std::int64_t sent_ns, std::uint64_t seq,
                       const std::string& pad) {
    std::string v;
    v.reserve(160 + user.size() + pad.size());
    v += R"({"type":"agent_thinking","user_id":")";
    v += user;
    v += R"(","run_id":"run-bench","thread_id":"thread-bench","ts":)";
    v += std::to_string(sent_ns / 1000000);
    v += R"(,"payload":{"text":")";
    v += pad;
    v += R"(","sent_ns":)";
    v += std::to_string(sent_ns);
    v += R"(,"seq":)";
    v += std::to_string(seq);
    v += "}}";
    return v;
}

static void set(RdKafka::Conf& conf, const std::string& key, const std::string& value) {
    std::string err;
    if (conf.set(key, value, err) != RdKafka::Conf::CONF_OK)
        throw std::runtime_error("producer config " + key + ": " + err);
}

event_producer::event_producer(const producer_options& opts, std::vector<std::string> users)
    : opts_(opts), users_(std::move(users)), next_seq_(users_.size(), 0),
      acked_per_user_(users_.size(), 0) {
    // Pad the text so the value is payload_bytes long for the longest user id.
    std::size_t longest = 0;
    for (auto& u : users_) longest = std::max(longest, u.size());
    std::size_t envelope = make_event(std::string(longest, 'u'), realtime_ns(), 1000000, "").size();
    pad_.assign(opts_.payload_bytes > envelope ? opts_.payload_bytes - envelope : 0, 'x');

    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    set(*conf, "bootstrap.servers", opts_.brokers);
    set(*conf, "partitioner", "murmur2_random");
    set(*conf, "enable.idempotence", "true");  // per-user order survives retries
    set(*conf, "linger.ms", std::to_string(opts_.linger_ms));
    set(*conf, "queue.buffering.max.messages", "1000000");
    set(*conf, "queue.buffering.max.kbytes", "1048576");
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) != RdKafka::Conf::CONF_OK)
        throw std::runtime_error("producer dr_cb: " + err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::runtime_error("creating the Kafka producer: " + err);
}

event_producer::~event_producer() {
    if (producer_) producer_->flush(5000);
}

bool event_producer::wait_ready(int timeout_ms) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> topic(RdKafka::Topic::create(producer_.get(), opts_.topic, nullptr, err));
    if (!topic) return false;
    RdKafka::Metadata* md = nullptr;
    auto rc = producer_->metadata(false, topic.get(), &md, timeout_ms);
    delete md;
    return rc == RdKafka::ERR_NO_ERROR;
}

bool event_producer::send(std::size_t u) {
    const std::string& user = users_[u];
    std::string value = make_event(user, realtime_ns(), next_seq_[u], pad_);
    for (;;) {
        auto rc = producer_->produce(opts_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                     value.data(), value.size(), user.data(), user.size(), 0,
                                     reinterpret_cast<void*>(u));
        if (rc == RdKafka::ERR_NO_ERROR) break;
        if (rc != RdKafka::ERR__QUEUE_FULL) {
            if (first_error_.empty()) first_error_ = RdKafka::err2str(rc);
            ++failed_;
            return false;
        }
        producer_->poll(1);
    }
    ++next_seq_[u];
    ++sent_;
    return true;
}

int event_producer::flush(int timeout_ms) {
    producer_->flush(timeout_ms);
    return producer_->outq_len();
}

void event_producer::dr_cb(RdKafka::Message& message) {
    if (message.err() != RdKafka::ERR_NO_ERROR) {
        if (first_error_.empty()) first_error_ = message.errstr();
        ++failed_;
        return;
    }
    ++acked_;
    ++acked_per_user_[reinterpret_cast<std::size_t>(message.msg_opaque())];
}

}  // namespace bench
