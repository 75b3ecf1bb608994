#pragma once
// Builds and reads compact JWS tokens for the JWT harnesses (OpenSSL signs).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_checks.hpp"

namespace fuzz {

// Seconds since the epoch every harness verifies at; tokens' exp is judged against it.
constexpr int64_t now_s = 1'800'000'000;

// Unpadded base64url.
inline std::string b64url(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (const unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(acc >> bits) & 0x3F];
        }
    }
    if (bits > 0) out += alphabet[(acc << (6 - bits)) & 0x3F];
    return out;
}

// Decodes base64url leniently (ignores characters outside the alphabet): only for tokens the
// verifier already decoded strictly.
inline std::string b64url_decode(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        if (c >= '0' && c <= '9') v = c - '0' + 52;
        if (c == '-') v = 62;
        if (c == '_') v = 63;
        if (v < 0) continue;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

inline std::string hmac_sha256(std::string_view key, std::string_view input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    require(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len) != nullptr,
            "HMAC failed");
    return std::string(reinterpret_cast<const char*>(mac), len);
}

// "header.claims", each base64url: what the signature covers.
inline std::string signing_input(std::string_view header_json, std::string_view claims_json) {
    return b64url(header_json) + "." + b64url(claims_json);
}

inline std::string token(const std::string& signing_input, std::string_view signature) {
    return signing_input + "." + b64url(signature);
}

// The claims of a compact token (its middle segment), decoded.
inline std::string claims_of(std::string_view token) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    return b64url_decode(token.substr(first + 1, second - first - 1));
}

// Parses claims as the verifier must: one JSON object, UTF-8 checked, no NUL byte.
inline bool parse_claims(std::string_view json, rapidjson::Document& doc) {
    if (json.find('\0') != std::string_view::npos) return false;
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    return !doc.HasParseError() && doc.IsObject();
}

// The one member called `name`; null when absent or repeated.
inline const rapidjson::Value* only_member(const rapidjson::Value& obj, std::string_view name, int& count) {
    const rapidjson::Value* found = nullptr;
    count = 0;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) != name) continue;
        ++count;
        found = &it->value;
    }
    return count == 1 ? found : nullptr;
}

}  // namespace fuzz
