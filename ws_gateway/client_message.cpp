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

// An optional string member: absent, or a string of at most `limit` bytes without a lone
// surrogate; false (with `error` set) otherwise.
bool optional_string(const rapidjson::Value& doc, const char* name, std::size_t limit, std::string& out,
                     std::string& error) {
    const auto it = doc.FindMember(name);
    if (it == doc.MemberEnd()) return true;
    const std::string field(name);
    if (!it->value.IsString()) return error = "\"" + field + "\" must be a string", false;
    const std::string_view text(it->value.GetString(), it->value.GetStringLength());
    if (text.size() > limit) return error = field + " longer than " + std::to_string(limit) + " bytes", false;
    if (schemas::has_lone_surrogate(text)) return error = field + " holds a lone surrogate escape", false;
    out.assign(text);
    return true;
}

client_message parse_auth(const rapidjson::Document& doc) {
    client_message m;
    if (!optional_string(doc, "token", 16384, m.token, m.error) || m.token.empty())
        return invalid(m.error.empty() ? "auth needs a non-empty string \"token\"" : m.error);
    if (!optional_string(doc, "resume", 512, m.id, m.error) || !optional_string(doc, "run_id", 256, m.run_id, m.error))
        return invalid(m.error);
    const auto since = doc.FindMember("since");
    if (since != doc.MemberEnd()) {
        if (!since->value.IsInt64() || since->value.GetInt64() < 0)
            return invalid("\"since\" must be milliseconds since the epoch, a non-negative integer");
        m.since_ms = since->value.GetInt64();
    }
    if (!m.id.empty() && m.since_ms >= 0) return invalid("give \"resume\" or \"since\", not both");
    m.what = client_message::kind::auth;
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
    if (name == "auth") return parse_auth(doc);
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
