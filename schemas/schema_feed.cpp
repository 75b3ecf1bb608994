#include "schemas/schema_feed.hpp"

#include <algorithm>

namespace bridge::schemas {

namespace {

std::string_view name_of(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::size_t constrained_levels(const rapidjson::Value& schema, std::size_t unlimited) {
    if (!schema.IsObject()) return 0;
    std::size_t deepest = 0;
    auto same_level = [&](const rapidjson::Value& sub) { deepest = std::max(deepest, constrained_levels(sub, unlimited)); };
    auto next_level = [&](const rapidjson::Value& sub) {
        deepest = std::max(deepest, std::min(unlimited, 1 + constrained_levels(sub, unlimited)));
    };
    for (const auto& m : schema.GetObject()) {
        const std::string_view keyword = name_of(m.name);
        const auto& v = m.value;
        if (keyword == "$ref") return unlimited;
        if (keyword == "uniqueItems" && v.IsTrue()) return unlimited;  // compares whole members
        if (keyword == "enum" && v.IsArray()) {
            for (const auto& option : v.GetArray())
                if (option.IsObject() || option.IsArray()) return unlimited;
        } else if ((keyword == "properties" || keyword == "patternProperties") && v.IsObject()) {
            deepest = std::max<std::size_t>(deepest, 1);
            for (const auto& p : v.GetObject()) next_level(p.value);
        } else if (keyword == "additionalProperties" || keyword == "additionalItems" || keyword == "items") {
            deepest = std::max<std::size_t>(deepest, 1);
            if (v.IsObject()) next_level(v);
            if (v.IsArray())
                for (const auto& sub : v.GetArray()) next_level(sub);
        } else if (keyword == "required" || keyword == "minProperties" || keyword == "maxProperties" ||
                   keyword == "minItems" || keyword == "maxItems") {
            deepest = std::max<std::size_t>(deepest, 1);  // the container's members
        } else if (keyword == "dependencies" && v.IsObject()) {
            deepest = std::max<std::size_t>(deepest, 1);
            for (const auto& d : v.GetObject()) same_level(d.value);
        } else if ((keyword == "allOf" || keyword == "anyOf" || keyword == "oneOf") && v.IsArray()) {
            for (const auto& sub : v.GetArray()) same_level(sub);
        } else if (keyword == "not") {
            same_level(v);
        }
    }
    return deepest;
}

}  // namespace

schema_shape schema_shape::of(const rapidjson::Value& schema, std::size_t unlimited) {
    schema_shape shape;
    shape.levels = constrained_levels(schema, unlimited);
    if (!schema.IsObject() || shape.levels >= unlimited) return shape;
    bool other_member_rules = false;
    for (const auto& m : schema.GetObject()) {
        const std::string_view keyword = name_of(m.name);
        if (keyword == "properties" && m.value.IsObject())
            for (const auto& p : m.value.GetObject()) shape.root_keys.emplace_back(name_of(p.name));
        if (keyword == "required" && m.value.IsArray())
            for (const auto& r : m.value.GetArray())
                if (r.IsString() && std::find(shape.root_keys.begin(), shape.root_keys.end(), name_of(r)) == shape.root_keys.end())
                    shape.root_keys.emplace_back(name_of(r));
        if (keyword == "additionalProperties" || keyword == "patternProperties" || keyword == "dependencies" ||
            keyword == "minProperties" || keyword == "maxProperties" || keyword == "allOf" || keyword == "anyOf" ||
            keyword == "oneOf" || keyword == "not")
            other_member_rules = true;
    }
    shape.skip_unknown_root_keys = !other_member_rules && shape.root_keys.size() <= 64;
    return shape;
}

schema_feed::schema_feed(rapidjson::SchemaValidator& validator, const schema_shape& shape)
    : validator_(validator), shape_(shape) {}

void schema_feed::reset() {
    validator_.Reset();
    depth_ = 0;
    mute_from_ = 0;
    skip_next_ = false;
    root_seen_ = 0;
    repeated_ = false;
}

bool schema_feed::Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (muted() || depth_ > shape_.levels) return true;
    if (depth_ == 1 && shape_.skip_unknown_root_keys) {
        const std::string_view key(s, n);
        const auto it = std::find(shape_.root_keys.begin(), shape_.root_keys.end(), key);
        if (it == shape_.root_keys.end()) {
            skip_next_ = true;
            return true;
        }
        const uint64_t bit = uint64_t{1} << (it - shape_.root_keys.begin());
        if (root_seen_ & bit) {
            repeated_ = true;
            return false;
        }
        root_seen_ |= bit;
    }
    return validator_.Key(s, n, copy);
}

}  // namespace bridge::schemas
