#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// OpenSSL's EVP_PKEY, declared here so the header stays free of OpenSSL includes.
struct evp_pkey_st;

namespace bridge::gateway {

// Longer tokens are refused (malformed), wherever they come from.
inline constexpr std::size_t max_token_bytes = 8 * 1024;

// Why a token was refused; `none` means accepted.
enum class auth_error { none, missing, malformed, alg, signature, expired, not_yet_valid, issuer, audience, subject };

// Stable lower-case name used as a metrics label: "missing", "malformed", "alg", "signature",
// "expired", "not_yet_valid", "issuer", "audience", "subject" ("none" for none).
std::string_view to_string(auth_error e);

struct jwt_config {
    std::string alg;             // "HS256" or "RS256": pinned, a token with another alg is refused
    std::string secret;          // HS256 shared secret
    std::string public_key_pem;  // RS256 public key (PEM text, not a path)
    std::string issuer;          // checked against "iss" when not empty
    std::string audience;        // checked against "aud" (string or array) when not empty
    int64_t leeway_s = 5;        // clock skew allowed on exp and nbf
};

struct verified_token {
    std::string subject;     // "sub": the user id
    int64_t expires_at = 0;  // "exp", seconds since the epoch
};

// Verifies compact JWS tokens (header.payload.signature) with the one configured algorithm.
class jwt_verifier {
public:
    // Throws std::invalid_argument with a clear message on bad configuration
    // (unknown alg, empty HS256 secret or shorter than 32 bytes, unreadable RS256 key, RSA key < 2048 bits).
    explicit jwt_verifier(jwt_config config);
    ~jwt_verifier();
    jwt_verifier(jwt_verifier&&) noexcept;
    jwt_verifier& operator=(jwt_verifier&&) noexcept;

    // Never throws. `now_s` is seconds since the epoch (injected for tests).
    auth_error verify(std::string_view token, int64_t now_s, verified_token& out) const;

private:
    // Checks the signature over `signing_input` with the configured key.
    bool signature_ok(std::string_view signing_input, const std::string& signature) const;
    // Frees the key and wipes the secret.
    void release() noexcept;

    jwt_config config_;
    evp_pkey_st* key_ = nullptr;  // RS256 public key; null for HS256
};

}  // namespace bridge::gateway
