#include "bridge/produce.hpp"

#include <chrono>
#include <iostream>
#include <iterator>

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "consumers/cursor.hpp"
#include "consumers/kafka_client.hpp"
#include "schemas/embedded_schemas.hpp"
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

// For a "required at #/..." refusal, the fields that are missing there, e.g. `, missing "status"`.
// The validator names the keyword and the place only; the schema and the value name the fields.
std::string missing_fields(const std::string& value, const std::string& type, const std::string& detail) {
    const std::string payload_prefix = type + " payload: required at #";
    const bool in_payload = detail.rfind(payload_prefix, 0) == 0;
    if (!in_payload && detail.rfind("required at #", 0) != 0) return {};
    const std::string pointer = detail.substr(detail.find('#') + 1);
    rapidjson::Document doc, schema;
    doc.Parse(value.data(), value.size());
    if (doc.HasParseError() || !doc.IsObject()) return {};
    const std::string schema_name = in_payload ? type : "envelope";
    for (const auto& s : schemas::embedded_schemas())
        if (s.name == schema_name) schema.Parse(s.json.data(), s.json.size());
    if (!schema.IsObject()) return {};
    const rapidjson::Value* at = &doc;
    if (in_payload) {
        if (!doc.HasMember("payload")) return {};
        at = &doc["payload"];
    }
    const rapidjson::Value* rule = &schema;
    // Walk the pointer in the value and the schema together (properties and items only).
    rapidjson::Pointer where(pointer.c_str());
    if (!where.IsValid()) return {};
    for (std::size_t i = 0; i < where.GetTokenCount(); ++i) {
        const std::string name(where.GetTokens()[i].name, where.GetTokens()[i].length);
        if (at->IsObject() && at->HasMember(name.c_str()) && rule->HasMember("properties") &&
            (*rule)["properties"].HasMember(name.c_str())) {
            at = &(*at)[name.c_str()];
            rule = &(*rule)["properties"][name.c_str()];
        } else if (at->IsArray() && where.GetTokens()[i].index < at->Size() && rule->HasMember("items")) {
            at = &(*at)[where.GetTokens()[i].index];
            rule = &(*rule)["items"];
        } else {
            return {};
        }
    }
    if (!at->IsObject() || !rule->HasMember("required") || !(*rule)["required"].IsArray()) return {};
    std::string missing;
    for (const auto& field : (*rule)["required"].GetArray())
        if (field.IsString() && !at->HasMember(field.GetString()))
            missing += (missing.empty() ? "\"" : ", \"") + std::string(field.GetString()) + "\"";
    return missing.empty() ? std::string{} : ", missing " + missing;
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
        detail += missing_fields(value, e.type, detail);
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
