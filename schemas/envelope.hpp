#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace bridge::schemas {

// Why a record is not delivered; `none` means it is valid.
enum class reject_reason { none, too_large, missing_key, not_json, schema, key_mismatch, too_deep };

// reject_reason's values, none included.
constexpr std::size_t reject_reason_count = static_cast<std::size_t>(reject_reason::too_deep) + 1;

// Arrays and objects nested deeper than this are refused (too_deep) by default.
constexpr std::size_t default_max_depth = 128;

// Stable lower-case name used as a metrics label and in logs.
std::string_view to_string(reject_reason r);

// A valid envelope. The *_json views are the exact JSON text of each field inside the
// record value (valid only while the value lives); the strings are decoded copies.
struct envelope {
    std::string type;
    std::string user_id;
    std::string run_id;
    std::string thread_id;
    std::string_view type_json;
    std::string_view run_id_json;
    std::string_view thread_id_json;
    std::string_view ts_json;
    std::string_view payload_json;
};

// Checks a record's key and value against the embedded schemas (schemas/json/).
// Its cost is linear in the record's bytes whatever their shape: nesting is capped at
// max_depth, and the schema validator only sees the levels its schemas can constrain.
// Not thread-safe: one instance per reading thread.
class envelope_validator {
public:
    // Throws std::runtime_error if an embedded schema does not load (a build fault).
    explicit envelope_validator(std::size_t max_record_bytes, std::size_t max_depth = default_max_depth);
    ~envelope_validator();
    envelope_validator(envelope_validator&&) noexcept;
    envelope_validator& operator=(envelope_validator&&) noexcept;

    // A null key means the record had none. Never throws on any input. A string that
    // decodes to a lone UTF-16 surrogate ("\udc00") is not_json: no frame could carry it.
    // On rejection, `detail` (if given) names what failed, without payload data.
    reject_reason validate(const std::string* key, std::string_view value, envelope& out,
                           std::string* detail = nullptr);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bridge::schemas
