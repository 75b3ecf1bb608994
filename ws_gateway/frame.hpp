#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/envelope.hpp"

namespace bridge::gateway {

// The outgoing event frame {"type","payload","run_id","thread_id","ts","id"}, built from the
// envelope's own JSON text: the payload stays wrapped and byte for byte as produced.
// `id` is the record's cursor (consumers/cursor.hpp).
std::string encode_event_frame(const schemas::envelope& e, std::string_view id);

// A frame of the bridge's own ("subscribed", "error", ...) with an object payload.
std::string encode_control_frame(std::string_view type, std::string_view payload_json);

// The RFC 6455 header of a final, unmasked text frame carrying `payload_size` bytes: what a
// server puts before the payload, the same for every socket.
std::string text_frame_header(std::size_t payload_size);

// A JSON string literal (quoted, escaped) for text of the bridge's own.
std::string json_string(std::string_view text);

}  // namespace bridge::gateway
