#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace bridge::schemas {

// Why a record is not delivered; `none` means it is valid.
enum class reject_reason { none, too_large, missing_key, not_json, schema, key_mismatch };

// reject_reason's values, none included.
constexpr std::size_t reject_reason_count = static_cast<std::size_t>(reject_reason::key_mismatch) + 1;

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
// Not thread-safe: one instance per reading thread.
class envelope_validator {
public:
    // Throws std::runtime_error if an embedded schema does not load (a build fault).
    explicit envelope_validator(std::size_t max_record_bytes);
    ~envelope_validator();
    envelope_validator(envelope_validator&&) noexcept;
    envelope_validator& operator=(envelope_validator&&) noexcept;

    // A null key means the record had none. Never throws on any input.
    // On rejection, `detail` (if given) names what failed, without payload data.
    reject_reason validate(const std::string* key, std::string_view value, envelope& out,
                           std::string* detail = nullptr);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bridge::schemas
