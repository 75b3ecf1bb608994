#include "schemas/envelope.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include "schemas/embedded_schemas.hpp"
#include "schemas/surrogates.hpp"

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

// Why a SAX pass stopped early, besides a parse error.
enum class stop { none, too_deep, surrogate };

// Feeds SAX events to a schema validator, at a cost linear in the events whatever their
// nesting. RapidJSON's validator walks every open level on each event, so it only sees the
// levels its schema can constrain (`schema_depth`): containers one level deeper reach it
// empty, with their member count, and nothing below them. Nesting past `max_depth` stops
// the pass, as does a string that decodes to a lone surrogate.
class schema_feed {
public:
    schema_feed(rapidjson::SchemaValidator& v, std::size_t schema_depth, std::size_t max_depth)
        : validator_(v), schema_depth_(schema_depth), max_depth_(max_depth) {}

    std::size_t depth() const { return depth_; }
    stop stopped() const { return stopped_; }

    bool Null() { return !seen() || validator_.Null(); }
    bool Bool(bool b) { return !seen() || validator_.Bool(b); }
    bool Int(int i) { return !seen() || validator_.Int(i); }
    bool Uint(unsigned u) { return !seen() || validator_.Uint(u); }
    bool Int64(int64_t i) { return !seen() || validator_.Int64(i); }
    bool Uint64(uint64_t u) { return !seen() || validator_.Uint64(u); }
    bool Double(double d) { return !seen() || validator_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return !seen() || validator_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        if (has_lone_surrogate(std::string_view(s, n))) return halt(stop::surrogate);
        return !seen() || validator_.String(s, n, copy);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        if (has_lone_surrogate(std::string_view(s, n))) return halt(stop::surrogate);
        return !seen() || validator_.Key(s, n, copy);
    }
    bool StartObject() { return open() && (!container_seen() || validator_.StartObject()); }
    bool EndObject(rapidjson::SizeType members) {
        const bool ok = !container_seen() || validator_.EndObject(members);
        --depth_;
        return ok;
    }
    bool StartArray() { return open() && (!container_seen() || validator_.StartArray()); }
    bool EndArray(rapidjson::SizeType elements) {
        const bool ok = !container_seen() || validator_.EndArray(elements);
        --depth_;
        return ok;
    }

private:
    // Keys and scalars inside the open containers; containers (depth counted after opening).
    bool seen() const { return depth_ <= schema_depth_; }
    bool container_seen() const { return depth_ <= schema_depth_ + 1; }
    bool open() { return ++depth_ <= max_depth_ || halt(stop::too_deep); }
    bool halt(stop why) {
        stopped_ = why;
        return false;
    }

    rapidjson::SchemaValidator& validator_;
    std::size_t schema_depth_;
    std::size_t max_depth_;
    std::size_t depth_ = 0;
    stop stopped_ = stop::none;
};

// SAX handler: feeds the envelope's schema and records where each top-level field's JSON
// text lies in the value, so the frame can reuse it unchanged.
class envelope_scanner {
public:
    envelope_scanner(schema_feed& feed, const rapidjson::MemoryStream& s, std::string_view text, envelope& out)
        : feed_(feed), stream_(s), text_(text), out_(out) {}

    bool duplicate() const { return duplicate_; }

    bool Null() { return scalar() && feed_.Null(); }
    bool Bool(bool b) { return scalar() && feed_.Bool(b); }
    bool Int(int i) { return scalar() && feed_.Int(i); }
    bool Uint(unsigned u) { return scalar() && feed_.Uint(u); }
    bool Int64(int64_t i) { return scalar() && feed_.Int64(i); }
    bool Uint64(uint64_t u) { return scalar() && feed_.Uint64(u); }
    bool Double(double d) { return scalar() && feed_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return scalar() && feed_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        if (feed_.depth() == 1) {
            if (current_ == field::type) out_.type.assign(s, n);
            if (current_ == field::user_id) out_.user_id.assign(s, n);
            if (current_ == field::run_id) out_.run_id.assign(s, n);
            if (current_ == field::thread_id) out_.thread_id.assign(s, n);
        }
        return scalar() && feed_.String(s, n, copy);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        if (feed_.depth() == 1) {
            current_ = field_of(std::string_view(s, n));
            // A repeated known field could be read differently by other consumers: refuse it.
            const unsigned bit = 1u << static_cast<unsigned>(current_);
            if (current_ != field::other && (seen_ & bit)) duplicate_ = true;
            seen_ |= bit;
            value_start_ = stream_.Tell();
        }
        return !duplicate_ && feed_.Key(s, n, copy);
    }
    bool StartObject() {
        if (feed_.depth() == 1 && current_ == field::payload) payload_start_ = stream_.Tell();
        return feed_.StartObject();
    }
    bool EndObject(rapidjson::SizeType members) {
        if (feed_.depth() == 2 && current_ == field::payload)
            out_.payload_json = text_.substr(payload_start_, stream_.Tell() + 1 - payload_start_);
        return feed_.EndObject(members);
    }
    bool StartArray() { return feed_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) { return feed_.EndArray(elements); }

private:
    // Records the text of a top-level scalar; always continues.
    bool scalar() {
        if (feed_.depth() != 1) return true;
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

    schema_feed& feed_;
    const rapidjson::MemoryStream& stream_;
    std::string_view text_;
    envelope& out_;
    field current_ = field::other;
    unsigned seen_ = 0;
    bool duplicate_ = false;
    std::size_t value_start_ = 0;
    std::size_t payload_start_ = 0;
};

// How deep an instance a schema can constrain: no deeper than the schema document nests
// (each instance level needs at least one level of schema). A $ref could recurse: then
// every level is fed.
std::size_t constrained_depth(const rapidjson::Value& schema, std::size_t unlimited) {
    std::size_t deepest = 0;
    if (schema.IsObject()) {
        for (const auto& m : schema.GetObject()) {
            if (std::string_view(m.name.GetString(), m.name.GetStringLength()) == "$ref") return unlimited;
            deepest = std::max(deepest, constrained_depth(m.value, unlimited));
        }
    } else if (schema.IsArray()) {
        for (const auto& v : schema.GetArray()) deepest = std::max(deepest, constrained_depth(v, unlimited));
    } else {
        return 0;
    }
    return std::min(unlimited, deepest + 1);
}

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
        case reject_reason::too_deep: return "too_deep";
    }
    return "unknown";
}

struct envelope_validator::impl {
    // A loaded schema and the one validator this thread reuses for it.
    struct checker {
        rapidjson::Document source;
        std::unique_ptr<rapidjson::SchemaDocument> schema;
        std::unique_ptr<rapidjson::SchemaValidator> validator;
        std::size_t depth = 0;  // instance levels the schema can constrain
    };

    std::size_t max_record_bytes;
    std::size_t max_depth;
    checker envelope_checker;
    std::map<std::string, checker, std::less<>> payload_checkers;

    void load(checker& c, const embedded_schema& s) {
        c.source.Parse(s.json.data(), s.json.size());
        if (c.source.HasParseError())
            throw std::runtime_error("schema " + std::string(s.name) + " is not valid JSON");
        c.schema = std::make_unique<rapidjson::SchemaDocument>(c.source);
        c.validator = std::make_unique<rapidjson::SchemaValidator>(*c.schema);
        c.depth = constrained_depth(c.source, max_depth);
    }

    impl(std::size_t max_bytes, std::size_t depth_cap) : max_record_bytes(max_bytes), max_depth(depth_cap) {
        for (const auto& s : embedded_schemas()) {
            if (s.name == "envelope")
                load(envelope_checker, s);
            else
                load(payload_checkers[std::string(s.name)], s);
        }
        if (!envelope_checker.validator) throw std::runtime_error("envelope schema missing");
    }
};

envelope_validator::envelope_validator(std::size_t max_record_bytes, std::size_t max_depth)
    : impl_(std::make_unique<impl>(max_record_bytes, max_depth)) {}
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
    auto& checker = impl_->envelope_checker;
    checker.validator->Reset();
    schema_feed feed(*checker.validator, checker.depth, impl_->max_depth);
    rapidjson::MemoryStream stream(value.data(), value.size());
    envelope_scanner scanner(feed, stream, value, out);
    rapidjson::Reader reader;
    const rapidjson::ParseResult parsed = reader.Parse<parse_flags>(stream, scanner);
    if (feed.stopped() == stop::too_deep)
        return fail(reject_reason::too_deep, "nested deeper than " + std::to_string(impl_->max_depth));
    if (feed.stopped() == stop::surrogate) return fail(reject_reason::not_json, "lone surrogate escape");
    if (scanner.duplicate()) return fail(reject_reason::schema, "repeated top-level field");
    if (!checker.validator->IsValid()) return fail(reject_reason::schema, describe(*checker.validator));
    if (parsed.IsError())
        return fail(reject_reason::not_json, "parse error at byte " + std::to_string(parsed.Offset()));

    // The key names the user; the envelope must agree.
    if (*key != out.user_id) return fail(reject_reason::key_mismatch, "key differs from user_id");

    // Payload of a critical type: a second pass over its own text only.
    const auto it = impl_->payload_checkers.find(out.type);
    if (it != impl_->payload_checkers.end()) {
        auto& pc = it->second;
        pc.validator->Reset();
        schema_feed payload_feed(*pc.validator, pc.depth, impl_->max_depth);
        rapidjson::MemoryStream ps(out.payload_json.data(), out.payload_json.size());
        rapidjson::Reader payload_reader;
        // These bytes passed the UTF-8, depth and surrogate checks in the first pass.
        payload_reader.Parse<rapidjson::kParseIterativeFlag>(ps, payload_feed);
        if (!pc.validator->IsValid()) return fail(reject_reason::schema, out.type + " payload: " + describe(*pc.validator));
    }
    return reject_reason::none;
}

}  // namespace bridge::schemas
