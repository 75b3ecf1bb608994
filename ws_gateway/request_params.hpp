#pragma once
#include <string>
#include <string_view>

namespace bridge::gateway {

// The path of a request target, without its query.
std::string_view path_of(std::string_view resource);

enum class param_status { absent, ok, malformed };

// One query parameter, percent-decoded into `value`. `malformed` for a bad percent escape
// or a name given twice: the request should be refused, not read as if it were absent.
param_status query_param(std::string_view resource, std::string_view name, std::string& value);

// The token of an "Authorization: Bearer <token>" header value; empty for any other scheme.
std::string bearer_token(std::string_view authorization);

}  // namespace bridge::gateway
