// Fuzzes what a client sends over its socket: whatever the parser hands on, and every reply
// the gateway builds from it (ws_gateway/gateway.cpp), is strict UTF-8 within its bounds.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_checks.hpp"
#include "ws_gateway/client_message.hpp"
#include "ws_gateway/frame.hpp"

namespace {

using bridge::gateway::client_message;
using bridge::gateway::encode_control_frame;
using bridge::gateway::json_string;
using fuzz::require;

// A control frame is UTF-8 JSON whose payload holds `field` with exactly `value`.
void check_reply(std::string_view type, std::string_view field, const std::string& value) {
    const std::string frame =
        encode_control_frame(type, "{\"" + std::string(field) + "\":" + json_string(value) + "}");
    require(fuzz::valid_utf8(frame), "reply frame is not UTF-8");
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(frame.data(), frame.size());
    require(!doc.HasParseError() && doc.IsObject(), "reply frame is not a JSON object");
    const auto payload = doc.FindMember("payload");
    require(payload != doc.MemberEnd() && payload->value.IsObject(), "reply frame without an object payload");
    const auto got = payload->value.FindMember(rapidjson::StringRef(field.data(), field.size()));
    require(got != payload->value.MemberEnd() && got->value.IsString() &&
                std::string_view(got->value.GetString(), got->value.GetStringLength()) == value,
            "reply frame does not carry the value back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const client_message m = bridge::gateway::parse_client_message({reinterpret_cast<const char*>(data), size});
    switch (m.what) {
        case client_message::kind::subscribe:
            require(!m.thread_id.empty() && m.thread_id.size() <= 256, "subscribe: thread_id out of bounds");
            require(fuzz::valid_utf8(m.thread_id), "subscribe: thread_id is not UTF-8 (lone surrogate?)");
            require(m.error.empty(), "subscribe with an error");
            check_reply("subscribed", "thread_id", m.thread_id);
            break;
        case client_message::kind::resume:
            require(!m.id.empty() && m.id.size() <= 512, "resume: id out of bounds");
            require(fuzz::valid_utf8(m.id), "resume: id is not UTF-8 (lone surrogate?)");
            require(m.error.empty(), "resume with an error");
            break;
        case client_message::kind::auth:
            require(!m.token.empty() && m.token.size() <= 16384, "auth: token out of bounds");
            require(m.id.size() <= 512 && m.run_id.size() <= 256, "auth: resume or run_id out of bounds");
            require(fuzz::valid_utf8(m.token) && fuzz::valid_utf8(m.id) && fuzz::valid_utf8(m.run_id),
                    "auth: a field is not UTF-8 (lone surrogate?)");
            require(m.id.empty() || m.since_ms < 0, "auth: both resume and since");
            require(m.since_ms >= -1, "auth: negative since");
            require(m.error.empty(), "auth with an error");
            break;
        case client_message::kind::unsubscribe:
            require(m.error.empty(), "unsubscribe with an error");
            break;
        case client_message::kind::invalid:
            require(!m.error.empty(), "refused without a reason");
            require(fuzz::valid_utf8(m.error), "error text is not UTF-8");
            check_reply("error", "message", m.error);
            break;
    }
    return 0;
}
