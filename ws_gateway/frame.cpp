#include "ws_gateway/frame.hpp"

#include <cstdio>

namespace bridge::gateway {

std::string encode_event_frame(const schemas::envelope& e, std::string_view id) {
    std::string out;
    out.reserve(64 + e.type_json.size() + e.payload_json.size() + e.run_id_json.size() +
                e.thread_id_json.size() + e.ts_json.size() + id.size());
    out.append("{\"type\":").append(e.type_json);
    out.append(",\"payload\":").append(e.payload_json);
    out.append(",\"run_id\":").append(e.run_id_json);
    out.append(",\"thread_id\":").append(e.thread_id_json);
    out.append(",\"ts\":").append(e.ts_json);
    out.append(",\"id\":\"").append(id).append("\"}");
    return out;
}

std::string encode_control_frame(std::string_view type, std::string_view payload_json) {
    std::string out;
    out.append("{\"type\":").append(json_string(type)).append(",\"payload\":").append(payload_json).append("}");
    return out;
}

std::string text_frame_header(std::size_t payload_size) {
    std::string h(1, static_cast<char>(0x81));  // FIN, opcode 1 (text)
    if (payload_size < 126) {
        h += static_cast<char>(payload_size);
    } else if (payload_size <= 0xFFFF) {
        h += static_cast<char>(126);
        for (int shift = 8; shift >= 0; shift -= 8) h += static_cast<char>((payload_size >> shift) & 0xFF);
    } else {
        h += static_cast<char>(127);
        for (int shift = 56; shift >= 0; shift -= 8) h += static_cast<char>((uint64_t{payload_size} >> shift) & 0xFF);
    }
    return h;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const unsigned char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += "\"";
    return out;
}

}  // namespace bridge::gateway
