#pragma once
// Feeding SAX events to RapidJSON's schema validator at a cost that does not grow with a
// record's nesting or width. Private to schemas/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/schema.h>

namespace bridge::schemas {

// What a feed needs to know of its schema, worked out once when the schema loads.
struct schema_shape {
    // Container levels below the value that the schema constrains: 0 when it checks only
    // scalars or a container's type; properties, items and their kin look one level down.
    std::size_t levels = 0;
    // Members the root object's schema names (properties and required).
    std::vector<std::string> root_keys;
    // The root schema says nothing of members it does not name: they need not be fed.
    bool skip_unknown_root_keys = false;

    // `unlimited` stands for what the walk cannot bound ($ref, an enum of containers):
    // such a schema is fed whole.
    static schema_shape of(const rapidjson::Value& schema, std::size_t unlimited);
};

// Forwards to a schema validator only what its schema can judge. RapidJSON's validator
// walks every open level on each event, and a validator sees each member of an object, so
// a feed passes it: the levels the schema constrains (containers one level deeper arrive
// empty: their schemas check only their type), and of the root object only the members
// the schema names. A root member named twice stops the feed (`repeated()`): consumers
// could read either one.
class schema_feed {
public:
    schema_feed(rapidjson::SchemaValidator& validator, const schema_shape& shape);

    // Ready for a new document.
    void reset();

    // Depth (counted from this feed's root, 1) below which no event concerns it.
    std::size_t reach() const { return shape_.levels + 1; }
    bool repeated() const { return repeated_; }
    bool valid() const { return !repeated_ && validator_.IsValid(); }
    const rapidjson::SchemaValidator& validator() const { return validator_; }

    bool Null() { return !passes_scalar() || validator_.Null(); }
    bool Bool(bool b) { return !passes_scalar() || validator_.Bool(b); }
    bool Int(int i) { return !passes_scalar() || validator_.Int(i); }
    bool Uint(unsigned u) { return !passes_scalar() || validator_.Uint(u); }
    bool Int64(int64_t i) { return !passes_scalar() || validator_.Int64(i); }
    bool Uint64(uint64_t u) { return !passes_scalar() || validator_.Uint64(u); }
    bool Double(double d) { return !passes_scalar() || validator_.Double(hashable(d)); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
        return !passes_scalar() || validator_.RawNumber(s, n, copy);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        return !passes_scalar() || validator_.String(s, n, copy);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy);
    bool StartObject() { return !passes_open() || validator_.StartObject(); }
    bool EndObject(rapidjson::SizeType members) {
        const bool ok = !passes_close() || validator_.EndObject(depth_ <= shape_.levels ? members : 0);
        close();
        return ok;
    }
    bool StartArray() { return !passes_open() || validator_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        const bool ok = !passes_close() || validator_.EndArray(depth_ <= shape_.levels ? elements : 0);
        close();
        return ok;
    }

private:
    // RapidJSON 1.1.0's hasher (behind `enum`) casts a double to a 64-bit integer unchecked:
    // undefined past 2^63. Such a number reaches the schema clamped, still a non-integer
    // number of its sign, past every bound our schemas set; the frame keeps the record's bytes.
    static double hashable(double d) {
        constexpr double limit = 9.0e18;
        return d > limit ? limit : d < -limit ? -limit : d;
    }

    bool muted() const { return mute_from_ != 0 && depth_ >= mute_from_; }
    // A scalar (or a key's value) inside the open containers; consumes a pending skip.
    bool passes_scalar() {
        if (skip_next_) return skip_next_ = false;
        return !muted() && depth_ <= shape_.levels;
    }
    // Opening a container (depth counted after it opens); closing one (before it closes).
    bool passes_open() {
        ++depth_;
        if (skip_next_) {
            skip_next_ = false;
            mute_from_ = depth_;
        }
        return !muted() && depth_ <= shape_.levels + 1;
    }
    bool passes_close() const { return !muted() && depth_ <= shape_.levels + 1; }
    void close() {
        if (mute_from_ == depth_) mute_from_ = 0;
        --depth_;
    }

    rapidjson::SchemaValidator& validator_;
    const schema_shape& shape_;
    std::size_t depth_ = 0;
    std::size_t mute_from_ = 0;   // depth from which nothing is fed; 0: none
    bool skip_next_ = false;      // the value of a root member the schema does not name
    uint64_t root_seen_ = 0;      // which named root members came (one bit each)
    bool repeated_ = false;
};

}  // namespace bridge::schemas
