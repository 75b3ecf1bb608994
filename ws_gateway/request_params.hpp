#pragma once
#include <string>
#include <string_view>

namespace bridge::gateway {

// The path of a request target, without its query.
std::string_view path_of(std::string_view resource);

// The value of one query parameter, percent-decoded; empty if absent or badly encoded.
std::string query_param(std::string_view resource, std::string_view name);

// The token of an "Authorization: Bearer <token>" header value; empty for any other scheme.
std::string bearer_token(std::string_view authorization);

}  // namespace bridge::gateway
