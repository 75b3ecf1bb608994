#include "schemas/envelope.hpp"

#include <cstring>
#include <map>
#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include "schemas/embedded_schemas.hpp"

namespace bridge::schemas {

namespace {

constexpr unsigned parse_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

enum class field { other, type, user_id, run_id, thread_id, ts, payload };

field field_of(std::string_view key) {
    if (key == "type") return field::type;
    if (key == "user_id") return field::user_id;
    if (key == "run_id") return field::run_id;
    if (key == "thread_id") return field::thread_id;
    if (key == "ts") return field::ts;
    if (key == "payload") return field::payload;
    return field::other;
}

// Strips the whitespace and ':' that sit between a key and its value.
std::string_view trim_value(std::string_view s) {
    while (!s.empty() && (s.front() == ':' || s.front() == ' ' || s.front() == '\t' ||
                          s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    return s;
}

// SAX handler: forwards every event to the envelope's schema validator and records where
// each top-level field's JSON text lies in the value, so the frame can reuse it unchanged.
class envelope_scanner {
public:
    envelope_scanner(rapidjson::SchemaValidator& v, const rapidjson::MemoryStream& s, std::string_view text,
                     envelope& out)
        : validator_(v), stream_(s), text_(text), out_(out) {}

    bool duplicate() const { return duplicate_; }

    bool Null() { return scalar() && validator_.Null(); }
    bool Bool(bool b) { return scalar() && validator_.Bool(b); }
    bool Int(int i) { return scalar() && validator_.Int(i); }
    bool Uint(unsigned u) { return scalar() && validator_.Uint(u); }
    bool Int64(int64_t i) { return scalar() && validator_.Int64(i); }
    bool Uint64(uint64_t u) { return scalar() && validator_.Uint64(u); }
    bool Double(double d) { return scalar() && validator_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
        return scalar() && validator_.RawNumber(s, n, copy);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        if (depth_ == 1) {
            if (current_ == field::type) out_.type.assign(s, n);
            if (current_ == field::user_id) out_.user_id.assign(s, n);
            if (current_ == field::run_id) out_.run_id.assign(s, n);
            if (current_ == field::thread_id) out_.thread_id.assign(s, n);
        }
        return scalar() && validator_.String(s, n, copy);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        if (depth_ == 1) {
            current_ = field_of(std::string_view(s, n));
            // A repeated known field could be read differently by other consumers: refuse it.
            const unsigned bit = 1u << static_cast<unsigned>(current_);
            if (current_ != field::other && (seen_ & bit)) duplicate_ = true;
            seen_ |= bit;
            value_start_ = stream_.Tell();
        }
        return !duplicate_ && validator_.Key(s, n, copy);
    }
    bool StartObject() {
        if (depth_ == 1 && current_ == field::payload) payload_start_ = stream_.Tell();
        ++depth_;
        return validator_.StartObject();
    }
    bool EndObject(rapidjson::SizeType members) {
        --depth_;
        if (depth_ == 1 && current_ == field::payload)
            out_.payload_json = text_.substr(payload_start_, stream_.Tell() + 1 - payload_start_);
        return validator_.EndObject(members);
    }
    bool StartArray() {
        ++depth_;
        return validator_.StartArray();
    }
    bool EndArray(rapidjson::SizeType elements) {
        --depth_;
        return validator_.EndArray(elements);
    }

private:
    // Records the text of a top-level scalar; always continues.
    bool scalar() {
        if (depth_ != 1) return true;
        const std::string_view raw = trim_value(text_.substr(value_start_, stream_.Tell() - value_start_));
        switch (current_) {
            case field::type: out_.type_json = raw; break;
            case field::run_id: out_.run_id_json = raw; break;
            case field::thread_id: out_.thread_id_json = raw; break;
            case field::ts: out_.ts_json = raw; break;
            default: break;
        }
        return true;
    }

    rapidjson::SchemaValidator& validator_;
    const rapidjson::MemoryStream& stream_;
    std::string_view text_;
    envelope& out_;
    int depth_ = 0;
    field current_ = field::other;
    unsigned seen_ = 0;
    bool duplicate_ = false;
    std::size_t value_start_ = 0;
    std::size_t payload_start_ = 0;
};

// Names the failing keyword and where, e.g. "required at #/payload"; never values.
std::string describe(const rapidjson::SchemaValidator& v) {
    rapidjson::StringBuffer where;
    v.GetInvalidDocumentPointer().StringifyUriFragment(where);
    return std::string(v.GetInvalidSchemaKeyword()) + " at " + where.GetString();
}

}  // namespace

std::string_view to_string(reject_reason r) {
    switch (r) {
        case reject_reason::none: return "none";
        case reject_reason::too_large: return "too_large";
        case reject_reason::missing_key: return "missing_key";
        case reject_reason::not_json: return "not_json";
        case reject_reason::schema: return "schema";
        case reject_reason::key_mismatch: return "key_mismatch";
    }
    return "unknown";
}

struct envelope_validator::impl {
    // A loaded schema and the one validator this thread reuses for it.
    struct checker {
        rapidjson::Document source;
        std::unique_ptr<rapidjson::SchemaDocument> schema;
        std::unique_ptr<rapidjson::SchemaValidator> validator;
    };

    std::size_t max_record_bytes;
    checker envelope_checker;
    std::map<std::string, checker, std::less<>> payload_checkers;

    static void load(checker& c, const embedded_schema& s) {
        c.source.Parse(s.json.data(), s.json.size());
        if (c.source.HasParseError())
            throw std::runtime_error("schema " + std::string(s.name) + " is not valid JSON");
        c.schema = std::make_unique<rapidjson::SchemaDocument>(c.source);
        c.validator = std::make_unique<rapidjson::SchemaValidator>(*c.schema);
    }

    explicit impl(std::size_t max_bytes) : max_record_bytes(max_bytes) {
        for (const auto& s : embedded_schemas()) {
            if (s.name == "envelope")
                load(envelope_checker, s);
            else
                load(payload_checkers[std::string(s.name)], s);
        }
        if (!envelope_checker.validator) throw std::runtime_error("envelope schema missing");
    }
};

envelope_validator::envelope_validator(std::size_t max_record_bytes)
    : impl_(std::make_unique<impl>(max_record_bytes)) {}
envelope_validator::~envelope_validator() = default;
envelope_validator::envelope_validator(envelope_validator&&) noexcept = default;
envelope_validator& envelope_validator::operator=(envelope_validator&&) noexcept = default;

reject_reason envelope_validator::validate(const std::string* key, std::string_view value, envelope& out,
                                           std::string* detail) {
    auto fail = [detail](reject_reason r, std::string why) {
        if (detail) *detail = std::move(why);
        return r;
    };
    // Cheap checks first: size, key, bytes a JSON text cannot hold.
    if (value.size() > impl_->max_record_bytes)
        return fail(reject_reason::too_large, std::to_string(value.size()) + " bytes");
    if (!key) return fail(reject_reason::missing_key, "record has no key");
    if (std::memchr(value.data(), '\0', value.size()))
        return fail(reject_reason::not_json, "NUL byte in value");

    // Envelope: one SAX pass validates the schema and locates the fields.
    out = envelope{};
    auto& v = *impl_->envelope_checker.validator;
    v.Reset();
    rapidjson::MemoryStream stream(value.data(), value.size());
    envelope_scanner scanner(v, stream, value, out);
    rapidjson::Reader reader;
    const rapidjson::ParseResult parsed = reader.Parse<parse_flags>(stream, scanner);
    if (scanner.duplicate()) return fail(reject_reason::schema, "repeated top-level field");
    if (!v.IsValid()) return fail(reject_reason::schema, describe(v));
    if (parsed.IsError())
        return fail(reject_reason::not_json, "parse error at byte " + std::to_string(parsed.Offset()));

    // The key names the user; the envelope must agree.
    if (*key != out.user_id) return fail(reject_reason::key_mismatch, "key differs from user_id");

    // Payload of a critical type: a second pass over its own text only.
    const auto it = impl_->payload_checkers.find(out.type);
    if (it != impl_->payload_checkers.end()) {
        auto& pv = *it->second.validator;
        pv.Reset();
        rapidjson::MemoryStream ps(out.payload_json.data(), out.payload_json.size());
        rapidjson::Reader payload_reader;
        // These bytes passed the UTF-8 check in the first pass.
        payload_reader.Parse<rapidjson::kParseIterativeFlag>(ps, pv);
        if (!pv.IsValid()) return fail(reject_reason::schema, out.type + " payload: " + describe(pv));
    }
    return reject_reason::none;
}

}  // namespace bridge::schemas
