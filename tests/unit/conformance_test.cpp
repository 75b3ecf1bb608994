// Runs every case of the conformance set (schemas/conformance/cases.json) through the validator.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <rapidjson/document.h>

#include "schemas/embedded_schemas.hpp"
#include "schemas/envelope.hpp"

#ifndef CONFORMANCE_DIR
#error "CONFORMANCE_DIR must name the schemas/conformance folder"
#endif

using bridge::schemas::envelope;
using bridge::schemas::envelope_validator;
using bridge::schemas::reject_reason;

namespace {

namespace fs = std::filesystem;

const fs::path conformance_dir{CONFORMANCE_DIR};

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open ", p.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

rapidjson::Document load_manifest() {
    rapidjson::Document manifest;
    const std::string text = read_bytes(conformance_dir / "cases.json");
    manifest.Parse(text.data(), text.size());
    REQUIRE_MESSAGE(!manifest.HasParseError(), "cases.json is not valid JSON");
    REQUIRE(manifest.IsObject());
    REQUIRE(manifest.HasMember("cases"));
    REQUIRE(manifest["cases"].IsArray());
    REQUIRE(manifest.HasMember("max_record_bytes"));
    return manifest;
}

// "valid" for an accepted record, else the reason's metric label.
std::string outcome(reject_reason r) { return r == reject_reason::none ? "valid" : std::string(to_string(r)); }

}  // namespace

TEST_CASE("conformance: every case gets its expected outcome") {
    const rapidjson::Document manifest = load_manifest();
    envelope_validator validator(manifest["max_record_bytes"].GetUint64(), manifest["max_depth"].GetUint64());
    std::set<std::string> expects;
    std::set<std::string> valid_types;
    for (const auto& c : manifest["cases"].GetArray()) {
        const std::string file = c["file"].GetString();
        const std::string expect = c["expect"].GetString();
        const std::string why = c["why"].GetString();
        const std::string value = read_bytes(conformance_dir / file);
        const std::string key = c["key"].IsNull() ? std::string() : c["key"].GetString();

        envelope out;
        std::string detail;
        const reject_reason got = validator.validate(c["key"].IsNull() ? nullptr : &key, value, out, &detail);
        INFO("case ", file, " (", why, "): ", detail);
        CHECK(outcome(got) == expect);
        if (got == reject_reason::none) CHECK(out.user_id == key);
        if (expect == "valid" && got == reject_reason::none) valid_types.insert(out.type);
        expects.insert(expect);
    }
    // The set covers acceptance and every reason a single record can be rejected for by content.
    CHECK(expects == std::set<std::string>{"valid", "missing_key", "not_json", "schema", "key_mismatch", "too_deep"});
    // Every payload schema (critical and AG-UI types) has at least one accepted example.
    for (const auto& s : bridge::schemas::embedded_schemas())
        if (s.name != "envelope") CHECK_MESSAGE(valid_types.count(std::string(s.name)) == 1, "no valid case of type ", s.name);
}

TEST_CASE("conformance: an AG-UI payload schema pins the payload's own type to its file's name") {
    std::size_t ag_ui = 0;
    for (const auto& s : bridge::schemas::embedded_schemas()) {
        rapidjson::Document schema;
        schema.Parse(s.json.data(), s.json.size());
        REQUIRE(!schema.HasParseError());
        // AG-UI payloads carry a `type` of their own; the critical types' payloads do not.
        if (s.name == "envelope" || !schema.HasMember("properties") || !schema["properties"].HasMember("type")) continue;
        ++ag_ui;
        const auto& type = schema["properties"]["type"];
        INFO("schema ", s.name);
        REQUIRE(type.HasMember("enum"));
        REQUIRE(type["enum"].Size() == 1);
        CHECK(std::string(type["enum"][0].GetString()) == s.name);
        REQUIRE(schema["required"].IsArray());
        bool required = false;
        for (const auto& r : schema["required"].GetArray()) required = required || std::string(r.GetString()) == "type";
        CHECK(required);
    }
    CHECK(ag_ui == 31);  // every AG-UI 1.0 event type
}

TEST_CASE("conformance: every file in the folder is a listed case") {
    const rapidjson::Document manifest = load_manifest();
    std::set<std::string> listed;
    for (const auto& c : manifest["cases"].GetArray()) {
        const std::string file = c["file"].GetString();
        CHECK_MESSAGE(listed.insert(file).second, "listed twice: ", file);
        CHECK_MESSAGE(fs::is_regular_file(conformance_dir / file), "listed but missing: ", file);
    }
    for (const auto& entry : fs::recursive_directory_iterator(conformance_dir)) {
        if (!entry.is_regular_file()) continue;
        const std::string rel = entry.path().lexically_relative(conformance_dir).generic_string();
        if (rel == "cases.json" || rel == "README.md") continue;
        CHECK_MESSAGE(listed.count(rel) == 1, "not listed in cases.json: ", rel);
    }
}
