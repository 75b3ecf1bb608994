#include "ws_gateway/jwt_verifier.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <rapidjson/document.h>

#include <climits>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>

namespace bridge::gateway {
namespace {

using rapidjson::Value;

constexpr std::size_t min_hs256_secret = 32;
constexpr int min_rsa_bits = 2048;
constexpr unsigned json_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
constexpr int64_t i64_max = std::numeric_limits<int64_t>::max();
constexpr int64_t i64_min = std::numeric_limits<int64_t>::min();

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The three base64url segments of a compact JWS, plus the signed "header.payload" text.
struct token_parts {
    std::string_view header;
    std::string_view payload;
    std::string_view signature;
    std::string_view signing_input;
};

// Splits on exactly two dots; anything else is not a compact JWS.
bool split(std::string_view token, token_parts& parts) {
    const auto first = token.find('.');
    if (first == std::string_view::npos) return false;
    const auto second = token.find('.', first + 1);
    if (second == std::string_view::npos) return false;
    if (token.find('.', second + 1) != std::string_view::npos) return false;
    parts.header = token.substr(0, first);
    parts.payload = token.substr(first + 1, second - first - 1);
    parts.signature = token.substr(second + 1);
    parts.signing_input = token.substr(0, second);
    return true;
}

// Value of one base64url character, -1 outside the url alphabet ('=' included).
int b64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

// Strict unpadded base64url: url alphabet only, no '=', no impossible length, zero trailing bits.
bool b64url_decode(std::string_view in, std::string& out) {
    if (in.size() % 4 == 1) return false;
    out.clear();
    out.reserve(in.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const int v = b64url_value(c);
        if (v < 0) return false;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
        }
    }
    // Leftover bits must be zero so each byte string has one encoding only.
    return (acc & ((1u << bits) - 1u)) == 0;
}

// Parses `json` as one JSON object; false on any syntax or encoding error.
bool parse_object(const std::string& json, rapidjson::Document& doc) {
    // JSON text never holds a raw NUL, and RapidJSON would take one as the end of input.
    if (json.find('\0') != std::string::npos) return false;
    doc.Parse<json_flags>(json.data(), json.size());
    return !doc.HasParseError() && doc.IsObject();
}

std::string_view view(const Value& s) { return {s.GetString(), s.GetStringLength()}; }

// Member `name` of `obj`, null when absent; sets `dup` when it appears twice (RFC 7519 4: refuse).
const Value* member(const Value& obj, std::string_view name, bool& dup) {
    const Value* found = nullptr;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        if (view(it->name) != name) continue;
        if (found) dup = true;
        found = &it->value;
    }
    return found;
}

// Header: `alg` exactly the pinned one; `crit` names extensions we do not implement.
auth_error check_header(const Value& header, const std::string& pinned_alg) {
    bool dup = false;
    const Value* alg = member(header, "alg", dup);
    const Value* crit = member(header, "crit", dup);
    if (dup || crit) return auth_error::malformed;
    if (!alg || !alg->IsString() || view(*alg) != pinned_alg) return auth_error::alg;
    return auth_error::none;
}

// A NumericDate (integer or double) as whole seconds, rounded the strict way and clamped to int64.
bool to_seconds(const Value& v, bool round_up, int64_t& out) {
    if (v.IsInt64()) {
        out = v.GetInt64();
        return true;
    }
    if (v.IsUint64()) {
        out = i64_max;
        return true;
    }
    if (!v.IsNumber()) return false;
    const double d = round_up ? std::ceil(v.GetDouble()) : std::floor(v.GetDouble());
    if (!std::isfinite(d)) return false;
    if (d >= 9223372036854775808.0) {
        out = i64_max;
    } else if (d < -9223372036854775808.0) {
        out = i64_min;
    } else {
        out = static_cast<int64_t>(d);
    }
    return true;
}

// now + leeway and now - leeway without overflow (leeway is never negative).
int64_t add_sat(int64_t a, int64_t b) { return a > i64_max - b ? i64_max : a + b; }
int64_t sub_sat(int64_t a, int64_t b) { return a < i64_min + b ? i64_min : a - b; }

// `aud` is the wanted string, or an array holding it.
bool audience_ok(const Value& aud, const std::string& wanted) {
    if (aud.IsString()) return view(aud) == wanted;
    if (!aud.IsArray()) return false;
    for (const auto& v : aud.GetArray()) {
        if (v.IsString() && view(v) == wanted) return true;
    }
    return false;
}

// Registered claims, read only once the signature holds; fills `out` on success only.
auth_error check_claims(const Value& claims, const jwt_config& cfg, int64_t now_s, verified_token& out) {
    bool dup = false;
    const Value* exp = member(claims, "exp", dup);
    const Value* nbf = member(claims, "nbf", dup);
    const Value* iss = member(claims, "iss", dup);
    const Value* aud = member(claims, "aud", dup);
    const Value* sub = member(claims, "sub", dup);
    if (dup) return auth_error::malformed;
    // Times: exp required, nbf optional, both numbers.
    int64_t exp_s = 0;
    int64_t nbf_s = 0;
    if (!exp || !to_seconds(*exp, false, exp_s)) return auth_error::malformed;
    if (nbf && !to_seconds(*nbf, true, nbf_s)) return auth_error::malformed;
    if (exp_s <= sub_sat(now_s, cfg.leeway_s)) return auth_error::expired;
    if (nbf && nbf_s > add_sat(now_s, cfg.leeway_s)) return auth_error::not_yet_valid;
    // Who issued it and for whom, when configured.
    if (!cfg.issuer.empty() && !(iss && iss->IsString() && view(*iss) == cfg.issuer)) return auth_error::issuer;
    if (!cfg.audience.empty() && !(aud && audience_ok(*aud, cfg.audience))) return auth_error::audience;
    // The user.
    if (!sub || !sub->IsString() || sub->GetStringLength() == 0) return auth_error::subject;
    out.subject.assign(sub->GetString(), sub->GetStringLength());
    out.expires_at = exp_s;
    return auth_error::none;
}

// HMAC-SHA256 over the input, compared in constant time.
bool hs256_ok(const std::string& secret, std::string_view input, const std::string& sig) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len)) {
        ERR_clear_error();
        return false;
    }
    return sig.size() == mac_len && CRYPTO_memcmp(sig.data(), mac, mac_len) == 0;
}

// RSASSA-PKCS1-v1_5 with SHA-256; the signature must be exactly the modulus size.
bool rs256_ok(EVP_PKEY* key, std::string_view input, const std::string& sig) {
    if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
    md_ctx_ptr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) == 1 &&
                    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
                    EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    // A failed verify leaves errors on this thread's queue: drop them.
    ERR_clear_error();
    return ok;
}

// Never prompts: a public key PEM has no pass phrase.
int no_password(char*, int, int, void*) { return 0; }

// Loads an RSA public key (PEM "PUBLIC KEY") of at least 2048 bits, or throws.
pkey_ptr load_rsa_key(const std::string& pem) {
    if (pem.empty()) throw std::invalid_argument("jwt: RS256 needs public_key_pem (PEM text)");
    if (pem.size() > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("jwt: RS256 public key PEM too large");
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    pkey_ptr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, &no_password, nullptr) : nullptr, &EVP_PKEY_free);
    ERR_clear_error();
    if (!key) {
        throw std::invalid_argument("jwt: unreadable RS256 public key (expected PEM text \"-----BEGIN PUBLIC KEY-----\")");
    }
    if (!EVP_PKEY_is_a(key.get(), "RSA")) throw std::invalid_argument("jwt: RS256 public key is not an RSA key");
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < min_rsa_bits) {
        throw std::invalid_argument("jwt: RS256 public key has " + std::to_string(bits) + " bits, at least " +
                                    std::to_string(min_rsa_bits) + " needed");
    }
    return key;
}

// Refuses an HS256 secret that is empty or too short to resist guessing.
void check_secret(const std::string& secret) {
    if (secret.empty()) throw std::invalid_argument("jwt: HS256 needs a secret");
    if (secret.size() < min_hs256_secret) {
        throw std::invalid_argument("jwt: HS256 secret must be at least " + std::to_string(min_hs256_secret) +
                                    " bytes, got " + std::to_string(secret.size()));
    }
    if (secret.size() > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("jwt: HS256 secret too large");
}

}  // namespace

std::string_view to_string(auth_error e) {
    switch (e) {
        case auth_error::none: return "none";
        case auth_error::missing: return "missing";
        case auth_error::malformed: return "malformed";
        case auth_error::alg: return "alg";
        case auth_error::signature: return "signature";
        case auth_error::expired: return "expired";
        case auth_error::not_yet_valid: return "not_yet_valid";
        case auth_error::issuer: return "issuer";
        case auth_error::audience: return "audience";
        case auth_error::subject: return "subject";
    }
    return "unknown";
}

jwt_verifier::jwt_verifier(jwt_config config) : config_(std::move(config)) {
    try {
        if (config_.leeway_s < 0) throw std::invalid_argument("jwt: leeway_s must not be negative");
        if (config_.alg == "HS256") {
            check_secret(config_.secret);
        } else if (config_.alg == "RS256") {
            key_ = load_rsa_key(config_.public_key_pem).release();
        } else {
            throw std::invalid_argument("jwt: unknown alg \"" + config_.alg + "\" (expected HS256 or RS256)");
        }
    } catch (...) {
        // The destructor will not run: wipe the secret here.
        release();
        throw;
    }
}

jwt_verifier::~jwt_verifier() { release(); }

jwt_verifier::jwt_verifier(jwt_verifier&& other) noexcept
    : config_(std::move(other.config_)), key_(std::exchange(other.key_, nullptr)) {
    // A moved-from verifier refuses every token.
    other.config_ = jwt_config{};
}

jwt_verifier& jwt_verifier::operator=(jwt_verifier&& other) noexcept {
    if (this != &other) {
        release();
        config_ = std::move(other.config_);
        key_ = std::exchange(other.key_, nullptr);
        other.config_ = jwt_config{};
    }
    return *this;
}

void jwt_verifier::release() noexcept {
    EVP_PKEY_free(key_);
    key_ = nullptr;
    if (!config_.secret.empty()) OPENSSL_cleanse(config_.secret.data(), config_.secret.size());
}

bool jwt_verifier::signature_ok(std::string_view signing_input, const std::string& signature) const {
    if (config_.alg == "RS256" && key_) return rs256_ok(key_, signing_input, signature);
    if (config_.alg == "HS256" && !config_.secret.empty()) return hs256_ok(config_.secret, signing_input, signature);
    return false;
}

auth_error jwt_verifier::verify(std::string_view token, int64_t now_s, verified_token& out) const {
    try {
        // Cheap shape checks before any parsing or crypto.
        if (token.empty()) return auth_error::missing;
        if (token.size() > max_token_bytes) return auth_error::malformed;
        token_parts parts;
        if (!split(token, parts)) return auth_error::malformed;
        std::string header_json, payload_json, signature;
        if (!b64url_decode(parts.header, header_json) || !b64url_decode(parts.payload, payload_json) ||
            !b64url_decode(parts.signature, signature)) {
            return auth_error::malformed;
        }
        // Header: a JSON object naming the pinned alg.
        rapidjson::Document header;
        if (!parse_object(header_json, header)) return auth_error::malformed;
        if (const auth_error e = check_header(header, config_.alg); e != auth_error::none) return e;
        // Signature with the configured key, before any claim is read.
        if (!signature_ok(parts.signing_input, signature)) return auth_error::signature;
        // Claims.
        rapidjson::Document payload;
        if (!parse_object(payload_json, payload)) return auth_error::malformed;
        return check_claims(payload, config_, now_s, out);
    } catch (...) {
        // Only allocation can throw here: refuse the token rather than let it escape.
        return auth_error::malformed;
    }
}

}  // namespace bridge::gateway
