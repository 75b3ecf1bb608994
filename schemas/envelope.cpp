#include "schemas/envelope.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include "schemas/embedded_schemas.hpp"
#include "schemas/schema_feed.hpp"
#include "schemas/surrogates.hpp"

namespace bridge::schemas {

namespace {

// Recursive parsing is safe here: a handler refuses to open a level past the depth cap, so
// the parser's own recursion is bounded by it. It is also faster than the iterative parser.
constexpr unsigned parse_flags = rapidjson::kParseValidateEncodingFlag;

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

// Why the pass stopped early, besides a parse error or a schema failure.
enum class stop { none, too_deep, surrogate };

// The record's one SAX pass. It refuses nesting past the cap and strings that decode to a
// lone surrogate, records where each top-level field's JSON text lies (the frame reuses it
// unchanged), feeds the envelope's schema, and feeds the payload to the schema of its type if
// the type came first. If it came after, the payload is fed to that schema afterwards, from
// its text (payload_replay): a second parse of the payload costs less than feeding every
// payload schema (there are dozens) on the way.
class envelope_scanner {
public:
    // `entered` and `live` are scratch space kept by the caller, so a record allocates nothing.
    envelope_scanner(schema_feed& envelope_feed, std::vector<schema_feed>& payload_feeds,
                     const std::vector<std::string_view>& payload_types, std::vector<char>& entered,
                     std::vector<schema_feed*>& live, std::size_t max_depth, const rapidjson::MemoryStream& s,
                     std::string_view text, envelope& out)
        : envelope_feed_(envelope_feed),
          payload_feeds_(payload_feeds),
          payload_types_(payload_types),
          entered_(entered),
          live_(live),
          max_depth_(max_depth),
          stream_(s),
          text_(text),
          out_(out) {}

    stop stopped() const { return stopped_; }
    // The payload came before the type: no schema has read it yet.
    bool payload_deferred() const { return payload_deferred_; }
    // The payload feed of a type with a schema, if the payload reached it; null for other types.
    const schema_feed* payload_feed_of(std::string_view type) const {
        for (std::size_t i = 0; i < payload_types_.size(); ++i)
            if (payload_types_[i] == type) return i < entered_.size() && entered_[i] ? &payload_feeds_[i] : nullptr;
        return nullptr;
    }

    bool Null() { return scalar() && each([](schema_feed& f) { return f.Null(); }); }
    bool Bool(bool b) { return scalar() && each([b](schema_feed& f) { return f.Bool(b); }); }
    bool Int(int i) { return scalar() && each([i](schema_feed& f) { return f.Int(i); }); }
    bool Uint(unsigned u) { return scalar() && each([u](schema_feed& f) { return f.Uint(u); }); }
    bool Int64(int64_t i) { return scalar() && each([i](schema_feed& f) { return f.Int64(i); }); }
    bool Uint64(uint64_t u) { return scalar() && each([u](schema_feed& f) { return f.Uint64(u); }); }
    bool Double(double d) { return scalar() && each([d](schema_feed& f) { return f.Double(d); }); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
        return scalar() && each([=](schema_feed& f) { return f.RawNumber(s, n, copy); });
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        if (has_lone_surrogate({s, n})) return halt(stop::surrogate);
        if (depth_ == 1) {
            if (current_ == field::type) out_.type.assign(s, n);
            if (current_ == field::user_id) out_.user_id.assign(s, n);
            if (current_ == field::run_id) out_.run_id.assign(s, n);
            if (current_ == field::thread_id) out_.thread_id.assign(s, n);
        }
        return scalar() && each([=](schema_feed& f) { return f.String(s, n, copy); });
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        if (has_lone_surrogate({s, n})) return halt(stop::surrogate);
        if (depth_ == 1) {
            current_ = field_of(std::string_view(s, n));
            value_start_ = stream_.Tell();
        }
        return each([=](schema_feed& f) { return f.Key(s, n, copy); });
    }
    bool StartObject() {
        if (++depth_ > max_depth_) return halt(stop::too_deep);
        // The recursive parser reports a container after taking its bracket.
        if (depth_ == 2 && current_ == field::payload) {
            payload_start_ = stream_.Tell() - 1;
            start_payload();
        }
        return each([](schema_feed& f) { return f.StartObject(); });
    }
    bool EndObject(rapidjson::SizeType members) {
        const bool ok = each([members](schema_feed& f) { return f.EndObject(members); });
        if (depth_ == 2 && in_payload_) {
            out_.payload_json = text_.substr(payload_start_, stream_.Tell() - payload_start_);
            in_payload_ = false;
        }
        --depth_;
        return ok;
    }
    bool StartArray() {
        if (++depth_ > max_depth_) return halt(stop::too_deep);
        return each([](schema_feed& f) { return f.StartArray(); });
    }
    bool EndArray(rapidjson::SizeType elements) {
        const bool ok = each([elements](schema_feed& f) { return f.EndArray(elements); });
        --depth_;
        return ok;
    }

private:
    // The payload's schema: the type's if it is known by now, else none for now.
    void start_payload() {
        in_payload_ = true;
        payload_deferred_ = out_.type_json.empty();
        live_.clear();
        payload_reach_ = 0;
        entered_.assign(payload_types_.size(), 0);
        for (std::size_t i = 0; i < payload_types_.size(); ++i) {
            entered_[i] = !payload_deferred_ && payload_types_[i] == out_.type;
            if (!entered_[i]) continue;
            payload_feeds_[i].reset();
            live_.push_back(&payload_feeds_[i]);
            payload_reach_ = std::max(payload_reach_, payload_feeds_[i].reach());
        }
    }

    // Sends an event to the envelope's feed and, inside the payload, to the payload feeds,
    // each only as deep as it reaches (a feed opens and closes the same levels, so skipping
    // both ends keeps its depth right). A payload feed that fails stops only itself; the
    // verdict is read at the end.
    template <typename Event>
    bool each(Event&& event) {
        if (depth_ <= envelope_feed_.reach() && !event(envelope_feed_)) return false;
        if (!in_payload_ || depth_ - 1 > payload_reach_) return true;
        for (std::size_t i = 0; i < live_.size();) {
            if (event(*live_[i])) {
                ++i;
                continue;
            }
            live_[i] = live_.back();
            live_.pop_back();
        }
        return true;
    }

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

    bool halt(stop why) {
        stopped_ = why;
        return false;
    }

    schema_feed& envelope_feed_;
    std::vector<schema_feed>& payload_feeds_;
    const std::vector<std::string_view>& payload_types_;
    std::vector<char>& entered_;       // per payload feed: the payload reached it
    std::vector<schema_feed*>& live_;  // payload feeds entered that have not failed
    std::size_t payload_reach_ = 0;    // the deepest any of them reaches
    std::size_t max_depth_;
    const rapidjson::MemoryStream& stream_;
    std::string_view text_;
    envelope& out_;
    std::size_t depth_ = 0;
    field current_ = field::other;
    bool in_payload_ = false;
    bool payload_deferred_ = false;
    stop stopped_ = stop::none;
    std::size_t value_start_ = 0;
    std::size_t payload_start_ = 0;
};

// Feeds one payload schema a payload's text, each event only as deep as the schema reaches
// (as envelope_scanner::each does). The first pass already bounded the depth and checked the
// strings, so the recursive parser is safe here.
class payload_replay {
public:
    explicit payload_replay(schema_feed& feed) : feed_(feed) {}

    bool Null() { return !within() || feed_.Null(); }
    bool Bool(bool b) { return !within() || feed_.Bool(b); }
    bool Int(int i) { return !within() || feed_.Int(i); }
    bool Uint(unsigned u) { return !within() || feed_.Uint(u); }
    bool Int64(int64_t i) { return !within() || feed_.Int64(i); }
    bool Uint64(uint64_t u) { return !within() || feed_.Uint64(u); }
    bool Double(double d) { return !within() || feed_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return !within() || feed_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return !within() || feed_.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return !within() || feed_.Key(s, n, copy); }
    bool StartObject() { return ++depth_, !within() || feed_.StartObject(); }
    bool EndObject(rapidjson::SizeType members) {
        const bool ok = !within() || feed_.EndObject(members);
        --depth_;
        return ok;
    }
    bool StartArray() { return ++depth_, !within() || feed_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        const bool ok = !within() || feed_.EndArray(elements);
        --depth_;
        return ok;
    }

private:
    bool within() const { return depth_ <= feed_.reach(); }

    schema_feed& feed_;
    std::size_t depth_ = 0;  // of the open containers, the payload object being 1
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
        case reject_reason::too_deep: return "too_deep";
    }
    return "unknown";
}

struct envelope_validator::impl {
    // A loaded schema, the one validator this thread reuses for it, and its feed.
    struct checker {
        std::string_view name;
        rapidjson::Document source;
        std::unique_ptr<rapidjson::SchemaDocument> schema;
        std::unique_ptr<rapidjson::SchemaValidator> validator;
        schema_shape shape;
    };

    std::size_t max_record_bytes;
    std::size_t max_depth;
    std::unique_ptr<checker> envelope_checker;
    std::vector<std::unique_ptr<checker>> payload_checkers;
    std::vector<std::string_view> payload_types;
    std::vector<schema_feed> payload_feeds;
    std::vector<char> entered;        // the scanner's scratch space, reused
    std::vector<schema_feed*> live;

    std::unique_ptr<checker> load(const embedded_schema& s) const {
        auto c = std::make_unique<checker>();
        c->name = s.name;
        c->source.Parse(s.json.data(), s.json.size());
        if (c->source.HasParseError())
            throw std::runtime_error("schema " + std::string(s.name) + " is not valid JSON");
        c->schema = std::make_unique<rapidjson::SchemaDocument>(c->source);
        c->validator = std::make_unique<rapidjson::SchemaValidator>(*c->schema);
        c->shape = schema_shape::of(c->source, max_depth);
        return c;
    }

    impl(std::size_t max_bytes, std::size_t depth_cap) : max_record_bytes(max_bytes), max_depth(depth_cap) {
        for (const auto& s : embedded_schemas()) {
            if (s.name == "envelope") {
                envelope_checker = load(s);
                continue;
            }
            payload_checkers.push_back(load(s));
            payload_types.push_back(payload_checkers.back()->name);
        }
        if (!envelope_checker) throw std::runtime_error("envelope schema missing");
        for (const auto& c : payload_checkers) payload_feeds.emplace_back(*c->validator, c->shape);
        entered.reserve(payload_feeds.size());
        live.reserve(payload_feeds.size());
    }

    // The feed of a type's payload schema after it read `payload` (the payload's JSON text);
    // null for a type without one.
    const schema_feed* replay(std::string_view type, std::string_view payload) {
        for (std::size_t i = 0; i < payload_types.size(); ++i) {
            if (payload_types[i] != type) continue;
            payload_feeds[i].reset();
            payload_replay handler(payload_feeds[i]);
            rapidjson::MemoryStream stream(payload.data(), payload.size());
            rapidjson::Reader reader;
            reader.Parse<parse_flags>(stream, handler);  // a failing schema stops it early
            return &payload_feeds[i];
        }
        return nullptr;
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

    // One SAX pass: limits, the envelope's schema, the payload's, and the fields' places.
    out = envelope{};
    auto& ec = *impl_->envelope_checker;
    schema_feed feed(*ec.validator, ec.shape);
    feed.reset();
    rapidjson::MemoryStream stream(value.data(), value.size());
    impl_->entered.clear();
    envelope_scanner scanner(feed, impl_->payload_feeds, impl_->payload_types, impl_->entered, impl_->live,
                             impl_->max_depth, stream, value, out);
    rapidjson::Reader reader;
    const rapidjson::ParseResult parsed = reader.Parse<parse_flags>(stream, scanner);
    if (scanner.stopped() == stop::too_deep)
        return fail(reject_reason::too_deep, "nested deeper than " + std::to_string(impl_->max_depth));
    if (scanner.stopped() == stop::surrogate) return fail(reject_reason::not_json, "lone surrogate escape");
    if (feed.repeated()) return fail(reject_reason::schema, "repeated top-level field");
    if (!ec.validator->IsValid()) return fail(reject_reason::schema, describe(*ec.validator));
    if (parsed.IsError())
        return fail(reject_reason::not_json, "parse error at byte " + std::to_string(parsed.Offset()));

    // The key names the user; the envelope must agree.
    if (*key != out.user_id) return fail(reject_reason::key_mismatch, "key differs from user_id");

    // The payload of a type with a schema, checked by it in the same pass or, when the type
    // came after the payload, from the payload's text now.
    const schema_feed* payload = scanner.payload_deferred() ? impl_->replay(out.type, out.payload_json)
                                                            : scanner.payload_feed_of(out.type);
    if (payload) {
        if (payload->repeated()) return fail(reject_reason::schema, out.type + " payload: repeated field");
        if (!payload->valid()) return fail(reject_reason::schema, out.type + " payload: " + describe(payload->validator()));
    }
    return reject_reason::none;
}

}  // namespace bridge::schemas
