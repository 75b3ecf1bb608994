#include "bridge/produce.hpp"

#include <chrono>
#include <iostream>
#include <iterator>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "consumers/cursor.hpp"
#include "consumers/kafka_client.hpp"
#include "schemas/envelope.hpp"

namespace bridge {

namespace {

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The envelope from the fields; the payload is inserted as the JSON text given.
std::string build_envelope(const produce_request& p) {
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> w(out);
    w.StartObject();
    w.Key("type"), w.String(p.type);
    w.Key("user_id"), w.String(p.user);
    w.Key("run_id"), w.String(p.run_id);
    w.Key("thread_id"), w.String(p.thread_id);
    w.Key("ts"), w.Int64(now_ms());
    w.Key("payload"), w.RawValue(p.payload.data(), p.payload.size(), rapidjson::kObjectType);
    w.EndObject();
    return out.GetString();
}

// The user of a whole envelope, for the key; empty if there is none to read.
std::string user_of(const std::string& envelope) {
    rapidjson::Document d;
    d.Parse(envelope.data(), envelope.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("user_id") || !d["user_id"].IsString()) return {};
    return d["user_id"].GetString();
}

class delivery : public RdKafka::DeliveryReportCb {
public:
    RdKafka::ErrorCode err = RdKafka::ERR__IN_PROGRESS;
    std::string id;
    void dr_cb(RdKafka::Message& m) override {
        err = m.err();
        if (!err) id = consumers::format_cursor(m.topic_name(), m.partition(), m.offset(), m.timestamp().timestamp);
    }
};

}  // namespace

int run_produce(const bridge_config& config) {
    const auto& p = config.produce;
    std::string value = p.envelope;
    if (value == "-") value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (value.empty()) {
        rapidjson::Document payload;
        payload.Parse(p.payload.data(), p.payload.size());
        if (payload.HasParseError() || !payload.IsObject()) {
            std::cerr << "bridge produce: --payload is not a JSON object\n";
            return 2;
        }
        value = build_envelope(p);
    }
    const std::string key = p.user.empty() ? user_of(value) : p.user;

    // The same check a worker makes: what fails here would never reach a browser.
    schemas::envelope_validator validator(config.kafka.max_record_bytes, config.kafka.max_depth);
    schemas::envelope e;
    std::string detail;
    const auto reason = validator.validate(key.empty() ? nullptr : &key, value, e, &detail);
    if (reason != schemas::reject_reason::none) {
        std::cerr << "bridge produce: invalid event: " << schemas::to_string(reason) << " (" << detail << ")\n";
        return 2;
    }

    delivery report;
    auto props = config.kafka.kafka;
    props.emplace("message.timeout.ms", "10000");
    auto producer = consumers::create_producer(config.kafka.brokers, props, &report);
    const auto err = producer->produce(p.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                       value.data(), value.size(), key.data(), key.size(), 0, nullptr);
    if (err != RdKafka::ERR_NO_ERROR) {
        std::cerr << "bridge produce: " << RdKafka::err2str(err) << "\n";
        return 1;
    }
    producer->flush(15000);  // the message times out first, with a delivery report
    if (report.err != RdKafka::ERR_NO_ERROR) {
        std::cerr << "bridge produce: not delivered: " << RdKafka::err2str(report.err) << "\n";
        return 1;
    }
    std::cout << report.id << "\n";
    return 0;
}

}  // namespace bridge
