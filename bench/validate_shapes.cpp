// bench_validate_shapes: the envelope validator's cost on the worst record shapes we know,
// each built up to --max-record-bytes. Prints ms per MiB for every shape, slowest first, and
// exits 1 if any is over --budget-ms-per-mib. No broker, no sockets: one validator, one thread.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "schemas/envelope.hpp"

namespace {

using bridge::schemas::envelope;
using bridge::schemas::envelope_validator;
using bridge::schemas::reject_reason;
using bridge::schemas::to_string;

struct shape {
    std::string name;
    std::string type;                                    // envelope type: custom or a critical one
    std::function<std::string(std::size_t)> payload;  // a payload of about n bytes
};

std::string wrap(const std::string& type, const std::string& payload) {
    return R"({"type":")" + type + R"(","user_id":"u1","run_id":"r","thread_id":"t","ts":1,"payload":)" + payload + "}";
}

std::string repeat(const std::string& unit, std::size_t bytes) {
    std::string out;
    out.reserve(bytes + unit.size());
    while (out.size() + unit.size() <= bytes) out += unit;
    return out;
}

// `levels` nested arrays or objects, then as many more as fit side by side.
std::string nests(const std::string& open, const std::string& inner, const std::string& close, std::size_t levels,
                  std::size_t bytes) {
    std::string one;
    for (std::size_t i = 0; i < levels; ++i) one += open;
    one += inner;
    for (std::size_t i = 0; i < levels; ++i) one += close;
    std::string all = one;
    while (all.size() + one.size() + 1 <= bytes) all += "," + one;
    return all;
}

std::vector<shape> shapes(std::size_t depth) {
    const std::size_t allowed = depth - 3;  // inside {"payload":{"x":[...]}}
    return {
        {"deep arrays past the cap", "custom", [](std::size_t n) { return "{\"x\":" + std::string(n / 2, '[') + std::string(n / 2, ']') + "}"; }},
        {"deep objects past the cap", "custom",
         [](std::size_t n) { return "{\"x\":" + repeat("{\"a\":", n * 5 / 6) + "1" + std::string(n / 6, '}') + "}"; }},
        {"arrays at the cap, side by side", "custom",
         [allowed](std::size_t n) { return "{\"x\":[" + nests("[", "", "]", allowed, n) + "]}"; }},
        {"objects at the cap, side by side", "custom",
         [allowed](std::size_t n) { return "{\"x\":[" + nests("{\"a\":", "1", "}", allowed, n) + "]}"; }},
        {"scalars at the cap", "tool_executing",
         [allowed](std::size_t n) {
             return "{\"tool\":\"t\",\"input\":" + std::string(allowed - 1, '[') + repeat("1,", n) + "1" +
                    std::string(allowed - 1, ']') + "}";
         }},
        {"100k-key payload object", "tool_executing",
         [](std::size_t n) {
             std::string out = "{\"tool\":\"t\"";
             for (std::size_t i = 0; out.size() + 16 < n; ++i) out += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
             return out + "}";
         }},
        {"100k top-level keys", "custom", [](std::size_t) { return std::string("{}"); }},
        {"payload before its type", "tool_executing",
         [](std::size_t n) { return "{\"tool\":\"t\",\"input\":[" + repeat("{\"tool\":1},", n) + "1]}"; }},
        {"long escaped string", "agent_thinking",
         [](std::size_t n) { return "{\"text\":\"" + repeat("\\u00e9\\n\\\"\\ud83d\\ude00", n) + "\"}"; }},
        {"many short strings", "custom", [](std::size_t n) { return "{\"x\":[" + repeat("\"ab\",", n) + "\"ab\"]}"; }},
        {"many numbers", "custom", [](std::size_t n) { return "{\"x\":[" + repeat("-1.5e300,", n) + "0]}"; }},
        // AG-UI payloads whose schemas check every item of a long array.
        {"AG-UI snapshot of tiny messages", "MESSAGES_SNAPSHOT",
         [](std::size_t n) {
             return "{\"type\":\"MESSAGES_SNAPSHOT\",\"messages\":[" +
                    repeat("{\"id\":\"m\",\"role\":\"user\",\"content\":\"a\"},", n) +
                    "{\"id\":\"m\",\"role\":\"user\",\"content\":\"a\"}]}";
         }},
        {"AG-UI state delta of tiny ops", "STATE_DELTA",
         [](std::size_t n) {
             return "{\"type\":\"STATE_DELTA\",\"delta\":[" + repeat("{\"op\":\"add\",\"path\":\"/a\",\"value\":1},", n) +
                    "{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]}";
         }},
    };
}

// The floor: RapidJSON with a handler that only keeps the depth cap (without one, the
// recursive parser overflows the stack on the deep shapes).
struct depth_only : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, depth_only> {
    std::size_t depth = 0, cap;
    explicit depth_only(std::size_t c) : cap(c) {}
    bool StartObject() { return ++depth <= cap; }
    bool StartArray() { return ++depth <= cap; }
    bool EndObject(rapidjson::SizeType) { return --depth, true; }
    bool EndArray(rapidjson::SizeType) { return --depth, true; }
};

// The record of a shape, close to `bytes` but never over it.
std::string build(const shape& s, std::size_t bytes) {
    if (s.name == "100k top-level keys") {
        std::string extra;
        for (std::size_t i = 0; extra.size() + 200 < bytes; ++i) extra += ",\"k" + std::to_string(i) + "\":0";
        std::string record = wrap(s.type, "{}");
        return record.insert(record.size() - 1, extra);
    }
    // Every payload schema reads the payload until the type comes, last.
    auto make = [&s](std::size_t n) {
        if (s.name != "payload before its type") return wrap(s.type, s.payload(n));
        return R"({"user_id":"u1","run_id":"r","thread_id":"t","ts":1,"payload":)" + s.payload(n) + R"(,"type":")" +
               s.type + "\"}";
    };
    std::size_t target = bytes - 200;
    std::string record = make(target);
    while (record.size() > bytes && target > 1024) record = make(target -= target / 16);
    return record;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_validate_shapes: validator cost per MiB on worst-case record shapes"};
    std::size_t max_bytes = 1 << 20;
    std::size_t depth = bridge::schemas::default_max_depth;
    double budget = 25.0;  // AG-UI arrays of tiny items: each item is checked against its schema
    int repeats = 5;
    app.add_option("--max-record-bytes", max_bytes, "Record size to build each shape up to")->capture_default_str();
    app.add_option("--max-depth", depth, "The validator's nesting cap")->capture_default_str();
    app.add_option("--budget-ms-per-mib", budget, "Exit 1 if a shape costs more")->capture_default_str();
    app.add_option("--repeats", repeats, "Runs per shape; the median is reported")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    envelope_validator validator(max_bytes, depth);
    const std::string key = "u1";
    struct row {
        std::string name;
        std::size_t bytes;
        reject_reason outcome;
        double ms_per_mib;
        double parse_floor;  // RapidJSON alone with the depth cap, same flags
    };
    auto median_ms = [repeats](const std::function<void()>& run) {
        std::vector<double> ms;
        for (int i = 0; i < repeats; ++i) {
            const auto start = std::chrono::steady_clock::now();
            run();
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(ms.begin(), ms.end());
        return ms[ms.size() / 2];
    };
    std::vector<row> rows;
    for (const auto& s : shapes(depth)) {
        const std::string record = build(s, max_bytes);
        reject_reason outcome = reject_reason::none;
        const double ms = median_ms([&] {
            envelope out;
            outcome = validator.validate(&key, record, out);
        });
        const double floor_ms = median_ms([&] {
            rapidjson::MemoryStream stream(record.data(), record.size());
            depth_only handler(depth);
            rapidjson::Reader().Parse<rapidjson::kParseValidateEncodingFlag>(stream, handler);
        });
        const double per_mib = (1 << 20) / static_cast<double>(record.size());
        rows.push_back({s.name, record.size(), outcome, ms * per_mib, floor_ms * per_mib});
    }
    std::sort(rows.begin(), rows.end(), [](const row& a, const row& b) { return a.ms_per_mib > b.ms_per_mib; });
    std::printf("%-34s %10s %-10s %8s %14s\n", "shape", "bytes", "outcome", "ms/MiB", "parse alone");
    for (const auto& r : rows) {
        const std::string outcome(r.outcome == reject_reason::none ? "valid" : to_string(r.outcome));
        std::printf("%-34s %10zu %-10s %8.2f %14.2f\n", r.name.c_str(), r.bytes, outcome.c_str(), r.ms_per_mib,
                    r.parse_floor);
    }
    std::printf("slowest: %s, %.2f ms per MiB (budget %.1f)\n", rows.front().name.c_str(), rows.front().ms_per_mib, budget);
    return rows.front().ms_per_mib <= budget ? 0 : 1;
}
