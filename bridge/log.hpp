#pragma once
#include <string>

namespace bridge {

// Sends spdlog's output to stderr as JSON lines: {"ts","level","msg"}, time in UTC.
// Messages never carry tokens or payloads; callers keep it so.
void setup_json_logging(const std::string& level);

}  // namespace bridge
