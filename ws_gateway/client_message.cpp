#include "ws_gateway/client_message.hpp"

#include <rapidjson/document.h>

#include "schemas/surrogates.hpp"

namespace bridge::gateway {

namespace {

client_message invalid(std::string why) {
    client_message m;
    m.error = std::move(why);
    return m;
}

}  // namespace

client_message parse_client_message(std::string_view text) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
    if (doc.HasParseError() || !doc.IsObject()) return invalid("message is not a JSON object");
    const auto action = doc.FindMember("action");
    if (action == doc.MemberEnd() || !action->value.IsString()) return invalid("missing string field \"action\"");
    const std::string_view name(action->value.GetString(), action->value.GetStringLength());

    client_message m;
    if (name == "unsubscribe") {
        m.what = client_message::kind::unsubscribe;
        return m;
    }
    if (name == "resume") {
        const auto id = doc.FindMember("id");
        if (id == doc.MemberEnd() || !id->value.IsString() || id->value.GetStringLength() == 0)
            return invalid("resume needs a non-empty string \"id\"");
        if (id->value.GetStringLength() > 512) return invalid("id longer than 512 bytes");
        if (schemas::has_lone_surrogate({id->value.GetString(), id->value.GetStringLength()}))
            return invalid("id holds a lone surrogate escape");
        m.what = client_message::kind::resume;
        m.id.assign(id->value.GetString(), id->value.GetStringLength());
        return m;
    }
    if (name != "subscribe") return invalid("unknown action");
    const auto thread = doc.FindMember("thread_id");
    if (thread == doc.MemberEnd() || !thread->value.IsString() || thread->value.GetStringLength() == 0)
        return invalid("subscribe needs a non-empty string \"thread_id\"");
    if (thread->value.GetStringLength() > 256) return invalid("thread_id longer than 256 bytes");
    if (schemas::has_lone_surrogate({thread->value.GetString(), thread->value.GetStringLength()}))
        return invalid("thread_id holds a lone surrogate escape");
    m.what = client_message::kind::subscribe;
    m.thread_id.assign(thread->value.GetString(), thread->value.GetStringLength());
    return m;
}

}  // namespace bridge::gateway
