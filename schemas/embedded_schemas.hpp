#pragma once
#include <string_view>
#include <vector>

namespace bridge::schemas {

// One schema file compiled into the binary: "envelope" or an event type's payload.
struct embedded_schema {
    std::string_view name;
    std::string_view json;
};

const std::vector<embedded_schema>& embedded_schemas();

}  // namespace bridge::schemas
