// Fuzzes the envelope validator and the event frame built from what it accepts.
// Input: one byte of key length (0xFF: the record has no key), the key, then the value.
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_checks.hpp"
#include "schemas/envelope.hpp"
#include "ws_gateway/frame.hpp"

namespace {

using bridge::schemas::envelope;
using bridge::schemas::reject_reason;
using fuzz::require;

constexpr unsigned parse_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
const std::vector<std::string> frame_keys = {"type", "payload", "run_id", "thread_id", "ts", "id"};

// One SAX pass over a frame: every decoded key and string must be strict UTF-8 (RapidJSON
// decodes a lone "\udc00" into bytes that are not); notes the top-level keys, their string
// values, and where the payload object's text lies.
class frame_scanner : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, frame_scanner> {
public:
    explicit frame_scanner(const rapidjson::MemoryStream& s) : stream_(s) {}

    std::vector<std::string> keys;
    std::vector<std::string> strings;  // top-level string values, by key index; empty otherwise
    std::size_t payload_begin = 0, payload_end = 0;

    bool Default() { return true; }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        require(fuzz::valid_utf8({s, n}), "frame: a decoded string is not UTF-8 (lone surrogate?)");
        if (depth_ == 1 && !keys.empty()) strings.back().assign(s, n);
        return true;
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        require(fuzz::valid_utf8({s, n}), "frame: a decoded key is not UTF-8 (lone surrogate?)");
        if (depth_ == 1) {
            keys.emplace_back(s, n);
            strings.emplace_back();
        }
        return true;
    }
    // With kParseIterativeFlag the handler runs before the brace is taken: Tell() is at it.
    bool StartObject() {
        if (depth_ == 1 && in_payload()) payload_begin = stream_.Tell();
        ++depth_;
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        --depth_;
        if (depth_ == 1 && in_payload()) payload_end = stream_.Tell() + 1;
        return true;
    }
    bool StartArray() {
        ++depth_;
        return true;
    }
    bool EndArray(rapidjson::SizeType) {
        --depth_;
        return true;
    }

private:
    bool in_payload() const { return !keys.empty() && keys.back() == "payload"; }

    const rapidjson::MemoryStream& stream_;
    int depth_ = 0;
};

// The frame of an accepted record: UTF-8 JSON, exactly the frame's keys, the envelope's
// values, the payload wrapped and byte for byte as produced.
void check_frame(const envelope& env) {
    const std::string id = "agent-events:3:1042:1763800000000";
    const std::string frame = bridge::gateway::encode_event_frame(env, id);
    require(fuzz::valid_utf8(frame), "frame is not UTF-8");

    rapidjson::MemoryStream stream(frame.data(), frame.size());
    frame_scanner scanner(stream);
    rapidjson::Reader reader;
    require(!reader.Parse<parse_flags>(stream, scanner).IsError(), "frame is not JSON");
    require(scanner.keys == frame_keys, "frame keys differ from type,payload,run_id,thread_id,ts,id");
    require(scanner.payload_end > scanner.payload_begin, "frame payload is not an object");
    const std::string_view payload(frame.data() + scanner.payload_begin, scanner.payload_end - scanner.payload_begin);
    require(payload == env.payload_json, "frame payload text differs from the record's");
    require(scanner.strings[0] == env.type, "frame type differs from the envelope's");
    require(scanner.strings[2] == env.run_id, "frame run_id differs from the envelope's");
    require(scanner.strings[3] == env.thread_id, "frame thread_id differs from the envelope's");
    require(scanner.strings[5] == id, "frame id differs from the cursor");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static bridge::schemas::envelope_validator validator(1 << 20);
    if (size == 0) return 0;
    const bool has_key = data[0] != 0xFF;
    const std::size_t key_size = has_key ? std::min<std::size_t>(data[0], size - 1) : 0;
    const std::string key(reinterpret_cast<const char*>(data) + 1, key_size);
    const std::string value(reinterpret_cast<const char*>(data) + 1 + key_size, size - 1 - key_size);

    envelope env;
    std::string detail;
    const reject_reason r = validator.validate(has_key ? &key : nullptr, value, env, &detail);
    require(bridge::schemas::to_string(r) != "unknown", "reject reason without a name");

    // The same record gets the same answer: nothing of the previous record stays behind.
    envelope again;
    require(validator.validate(has_key ? &key : nullptr, value, again) == r, "same record, another answer");

    if (r != reject_reason::none) {
        require(!detail.empty(), "rejection without detail");
        require(fuzz::valid_utf8(detail), "rejection detail is not UTF-8");
        return 0;
    }
    require(has_key && key == env.user_id, "accepted record whose key is not its user_id");
    check_frame(env);
    return 0;
}
