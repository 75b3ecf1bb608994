#include "ws_gateway/jwt_verifier.hpp"

#include <doctest/doctest.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

using bridge::gateway::auth_error;
using bridge::gateway::jwt_config;
using bridge::gateway::jwt_verifier;
using bridge::gateway::verified_token;

// Failed checks print the error's name instead of its number (found by ADL; local to this file).
namespace bridge::gateway {
static doctest::String toString(auth_error e) { return std::string(to_string(e)).c_str(); }
}  // namespace bridge::gateway

namespace {

constexpr int64_t now = 1'700'000'000;
const std::string secret = "0123456789abcdef0123456789abcdef-hs256";  // 38 bytes
const std::string hs_header = R"({"alg":"HS256","typ":"JWT"})";
const std::string rs_header = R"({"alg":"RS256","typ":"JWT"})";

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// Unpadded base64url of raw bytes.
std::string b64url(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

// HMAC-SHA256(key, data) as raw bytes.
std::string hmac(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) != nullptr);
    return std::string(reinterpret_cast<char*>(mac), len);
}

// RSASSA-PKCS1-v1_5 SHA-256 signature as raw bytes.
std::string rsa_sign(EVP_PKEY* key, std::string_view data) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    REQUIRE(ctx);
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
    std::size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(data.data());
    REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) == 1);
    sig.resize(len);
    return sig;
}

// Public key as PEM text ("-----BEGIN PUBLIC KEY-----").
std::string public_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    REQUIRE(bio);
    REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// Two RSA-2048 key pairs, generated once for the whole file.
struct rsa_keys {
    pkey_ptr main{EVP_RSA_gen(2048), &EVP_PKEY_free};
    pkey_ptr other{EVP_RSA_gen(2048), &EVP_PKEY_free};
    std::string main_pem = public_pem(main.get());
};
const rsa_keys& keys() {
    static const rsa_keys k;
    return k;
}

// "header.payload" in base64url: the signing input.
std::string signing_input(std::string_view header, std::string_view payload) {
    return b64url(header) + "." + b64url(payload);
}

std::string hs_token(std::string_view payload, std::string_view key = secret, std::string_view header = hs_header) {
    const std::string input = signing_input(header, payload);
    return input + "." + b64url(hmac(key, input));
}

std::string rs_token(std::string_view payload, EVP_PKEY* key = nullptr, std::string_view header = rs_header) {
    const std::string input = signing_input(header, payload);
    return input + "." + b64url(rsa_sign(key ? key : keys().main.get(), input));
}

// A minimal valid claim set.
std::string claims(int64_t exp = now + 60, std::string_view extra = "") {
    return R"({"sub":"alice","exp":)" + std::to_string(exp) + std::string(extra) + "}";
}

jwt_verifier hs_verifier(std::string issuer = "", std::string audience = "", int64_t leeway = 5) {
    jwt_config c;
    c.alg = "HS256";
    c.secret = secret;
    c.issuer = std::move(issuer);
    c.audience = std::move(audience);
    c.leeway_s = leeway;
    return jwt_verifier(std::move(c));
}

jwt_verifier rs_verifier() {
    jwt_config c;
    c.alg = "RS256";
    c.public_key_pem = keys().main_pem;
    return jwt_verifier(std::move(c));
}

auth_error check(const jwt_verifier& v, std::string_view token, int64_t at = now) {
    verified_token out;
    return v.verify(token, at, out);
}

// Replaces the first character of the signature segment, keeping it valid base64url.
std::string flip_signature(std::string token) {
    const auto dot = token.rfind('.');
    token[dot + 1] = token[dot + 1] == 'A' ? 'B' : 'A';
    return token;
}

}  // namespace

TEST_CASE("jwt: valid HS256 token yields subject and expiry") {
    const auto v = hs_verifier();
    verified_token out;
    CHECK(v.verify(hs_token(claims(now + 60)), now, out) == auth_error::none);
    CHECK(out.subject == "alice");
    CHECK(out.expires_at == now + 60);
}

TEST_CASE("jwt: valid RS256 token yields subject and expiry") {
    const auto v = rs_verifier();
    verified_token out;
    CHECK(v.verify(rs_token(claims(now + 3600)), now, out) == auth_error::none);
    CHECK(out.subject == "alice");
    CHECK(out.expires_at == now + 3600);
}

TEST_CASE("jwt: expiry and leeway") {
    const auto v = hs_verifier();
    CHECK(check(v, hs_token(claims(now - 60))) == auth_error::expired);
    // exp <= now - leeway is expired; one second later is still inside the leeway.
    CHECK(check(v, hs_token(claims(now - 5))) == auth_error::expired);
    CHECK(check(v, hs_token(claims(now - 4))) == auth_error::none);
    // Zero leeway: exp == now is expired.
    const auto strict = hs_verifier("", "", 0);
    CHECK(check(strict, hs_token(claims(now))) == auth_error::expired);
    CHECK(check(strict, hs_token(claims(now + 1))) == auth_error::none);
    // A refused token leaves `out` untouched.
    verified_token out;
    CHECK(v.verify(hs_token(claims(now - 60)), now, out) == auth_error::expired);
    CHECK(out.subject.empty());
    CHECK(out.expires_at == 0);
}

TEST_CASE("jwt: nbf and leeway") {
    const auto v = hs_verifier();
    CHECK(check(v, hs_token(claims(now + 600, R"(,"nbf":1700000060)"))) == auth_error::not_yet_valid);
    CHECK(check(v, hs_token(claims(now + 600, R"(,"nbf":1700000006)"))) == auth_error::not_yet_valid);
    CHECK(check(v, hs_token(claims(now + 600, R"(,"nbf":1700000005)"))) == auth_error::none);
    CHECK(check(v, hs_token(claims(now + 600, R"(,"nbf":1699999000)"))) == auth_error::none);
    CHECK(check(v, hs_token(claims(now + 600, R"(,"nbf":"soon")"))) == auth_error::malformed);
}

TEST_CASE("jwt: numeric dates may be doubles") {
    const auto v = hs_verifier();
    verified_token out;
    CHECK(v.verify(hs_token(R"({"sub":"alice","exp":1700000060.9})"), now, out) == auth_error::none);
    CHECK(out.expires_at == now + 60);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1.6e9})")) == auth_error::expired);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1699999995.0})")) == auth_error::expired);
    // exp rounds down: 1699999995.5 counts as now - leeway.
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1699999995.5})")) == auth_error::expired);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1699999996.0})")) == auth_error::none);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1700000060.0,"nbf":1.69e9})")) == auth_error::none);
    // nbf rounds up: 1700000005.5 is after now + leeway.
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":1700000060,"nbf":1700000005.5})")) ==
          auth_error::not_yet_valid);
    // Beyond int64: clamped to the far future.
    CHECK(v.verify(hs_token(R"({"sub":"alice","exp":18446744073709551615})"), now, out) == auth_error::none);
    CHECK(out.expires_at == std::numeric_limits<int64_t>::max());
}

TEST_CASE("jwt: wrong signature") {
    SUBCASE("HS256 signed with another secret") {
        const auto token = hs_token(claims(), "another-secret-another-secret-another-secret");
        CHECK(check(hs_verifier(), token) == auth_error::signature);
    }
    SUBCASE("HS256 signature altered") {
        CHECK(check(hs_verifier(), flip_signature(hs_token(claims()))) == auth_error::signature);
    }
    SUBCASE("HS256 payload swapped after signing") {
        const auto good = hs_token(claims());
        const auto forged = signing_input(hs_header, R"({"sub":"mallory","exp":1700000060})");
        CHECK(check(hs_verifier(), forged + good.substr(good.rfind('.'))) == auth_error::signature);
    }
    SUBCASE("HS256 empty signature") {
        CHECK(check(hs_verifier(), signing_input(hs_header, claims()) + ".") == auth_error::signature);
    }
    SUBCASE("RS256 signed with another key") {
        CHECK(check(rs_verifier(), rs_token(claims(), keys().other.get())) == auth_error::signature);
    }
    SUBCASE("RS256 signature altered") {
        CHECK(check(rs_verifier(), flip_signature(rs_token(claims()))) == auth_error::signature);
    }
    SUBCASE("RS256 signature not the modulus size") {
        const auto input = signing_input(rs_header, claims());
        const auto sig = rsa_sign(keys().main.get(), input);
        CHECK(check(rs_verifier(), input + "." + b64url(sig.substr(0, sig.size() - 1))) == auth_error::signature);
        CHECK(check(rs_verifier(), input + "." + b64url(std::string(1, '\0') + sig)) == auth_error::signature);
    }
    SUBCASE("RS256 signature with its leading zero byte stripped") {
        // Same integer, one byte short: OpenSSL alone would accept it, the size rule must not.
        const auto v = rs_verifier();
        std::string input, sig;
        for (int i = 0; i < 20000 && (sig.empty() || sig[0] != '\0'); ++i) {
            input = signing_input(rs_header, claims(now + 60 + i));
            sig = rsa_sign(keys().main.get(), input);
        }
        REQUIRE(sig[0] == '\0');
        REQUIRE(check(v, input + "." + b64url(sig)) == auth_error::none);
        CHECK(check(v, input + "." + b64url(sig.substr(1))) == auth_error::signature);
    }
}

TEST_CASE("jwt: alg none is refused") {
    const auto input_hs = signing_input(R"({"alg":"none","typ":"JWT"})", claims());
    CHECK(check(hs_verifier(), input_hs + ".") == auth_error::alg);
    CHECK(check(rs_verifier(), input_hs + ".") == auth_error::alg);
    const auto input_upper = signing_input(R"({"alg":"NONE"})", claims());
    CHECK(check(rs_verifier(), input_upper + ".") == auth_error::alg);
}

TEST_CASE("jwt: alg is pinned") {
    SUBCASE("HS/RS confusion: HMAC keyed with the RS256 public key PEM") {
        const auto token = hs_token(claims(), keys().main_pem, hs_header);
        CHECK(check(rs_verifier(), token) == auth_error::alg);
        // Same forgery claiming RS256 still fails: the key is only ever used for RSA.
        CHECK(check(rs_verifier(), hs_token(claims(), keys().main_pem, rs_header)) == auth_error::signature);
    }
    SUBCASE("RS256 token at an HS256 verifier") {
        CHECK(check(hs_verifier(), rs_token(claims())) == auth_error::alg);
    }
    SUBCASE("alg missing, not a string, or a different case") {
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"typ":"JWT"})")) == auth_error::alg);
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"alg":256})")) == auth_error::alg);
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"alg":"hs256"})")) == auth_error::alg);
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"alg":"HS512"})")) == auth_error::alg);
    }
    SUBCASE("duplicate alg or crit in the header") {
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"alg":"HS256","alg":"none"})")) ==
              auth_error::malformed);
        CHECK(check(hs_verifier(), hs_token(claims(), secret, R"({"alg":"HS256","crit":["exp"]})")) ==
              auth_error::malformed);
    }
}

TEST_CASE("jwt: subject") {
    const auto v = hs_verifier();
    CHECK(check(v, hs_token(R"({"exp":1700000060})")) == auth_error::subject);
    CHECK(check(v, hs_token(R"({"sub":"","exp":1700000060})")) == auth_error::subject);
    CHECK(check(v, hs_token(R"({"sub":42,"exp":1700000060})")) == auth_error::subject);
    CHECK(check(v, hs_token(R"({"sub":null,"exp":1700000060})")) == auth_error::subject);
    CHECK(check(v, hs_token(R"({"sub":"a","sub":"b","exp":1700000060})")) == auth_error::malformed);
}

TEST_CASE("jwt: exp is required and numeric") {
    const auto v = hs_verifier();
    CHECK(check(v, hs_token(R"({"sub":"alice"})")) == auth_error::malformed);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":"1700000060"})")) == auth_error::malformed);
    CHECK(check(v, hs_token(R"({"sub":"alice","exp":null})")) == auth_error::malformed);
    CHECK(check(rs_verifier(), rs_token(R"({"sub":"alice"})")) == auth_error::malformed);
}

TEST_CASE("jwt: issuer") {
    const auto v = hs_verifier("https://auth.example");
    CHECK(check(v, hs_token(claims(now + 60, R"(,"iss":"https://auth.example")"))) == auth_error::none);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"iss":"https://evil.example")"))) == auth_error::issuer);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"iss":"https://auth.example/")"))) == auth_error::issuer);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"iss":["https://auth.example"])"))) == auth_error::issuer);
    CHECK(check(v, hs_token(claims())) == auth_error::issuer);
    // Not configured: any issuer passes.
    CHECK(check(hs_verifier(), hs_token(claims(now + 60, R"(,"iss":"https://evil.example")"))) == auth_error::none);
}

TEST_CASE("jwt: audience as string and as array") {
    const auto v = hs_verifier("", "bridge");
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":"bridge")"))) == auth_error::none);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":"other")"))) == auth_error::audience);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":["other","bridge"])"))) == auth_error::none);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":["other",7])"))) == auth_error::audience);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":[])"))) == auth_error::audience);
    CHECK(check(v, hs_token(claims(now + 60, R"(,"aud":{"bridge":1})"))) == auth_error::audience);
    CHECK(check(v, hs_token(claims())) == auth_error::audience);
    // Not configured: any audience passes.
    CHECK(check(hs_verifier(), hs_token(claims(now + 60, R"(,"aud":"other")"))) == auth_error::none);
}

TEST_CASE("jwt: empty token is missing") {
    CHECK(check(hs_verifier(), "") == auth_error::missing);
    CHECK(check(rs_verifier(), "") == auth_error::missing);
}

TEST_CASE("jwt: malformed tokens") {
    const auto v = hs_verifier();
    const auto good = hs_token(claims());
    REQUIRE(check(v, good) == auth_error::none);
    const auto dot1 = good.find('.');
    const auto dot2 = good.rfind('.');

    SUBCASE("wrong number of parts") {
        CHECK(check(v, good.substr(0, dot2)) == auth_error::malformed);
        CHECK(check(v, good + ".AAAA") == auth_error::malformed);
        CHECK(check(v, "...") == auth_error::malformed);
        CHECK(check(v, "abc") == auth_error::malformed);
    }
    SUBCASE("characters outside the url alphabet") {
        auto bad = good;
        bad[dot1 + 1] = '*';
        CHECK(check(v, bad) == auth_error::malformed);
        bad[dot1 + 1] = '+';
        CHECK(check(v, bad) == auth_error::malformed);
        bad[dot1 + 1] = '/';
        CHECK(check(v, bad) == auth_error::malformed);
        CHECK(check(v, " " + good) == auth_error::malformed);
    }
    SUBCASE("padding") {
        // The 32-byte HMAC is 43 chars unpadded; its padded form ends in one '='.
        REQUIRE(good.size() - dot2 - 1 == 43);
        CHECK(check(v, good + "=") == auth_error::malformed);
        // A 16-byte header pads with "=="; sign the padded text so only the padding can fail.
        const std::string header16 = R"({"alg":"HS256" })";
        const auto input = b64url(header16) + "==." + b64url(claims());
        CHECK(check(v, input + "." + b64url(hmac(secret, input))) == auth_error::malformed);
    }
    SUBCASE("impossible length and non-zero trailing bits") {
        CHECK(check(v, good.substr(0, dot1) + "A" + good.substr(dot1)) == auth_error::malformed);
        // The last signature char carries 2 unused bits; setting one is a second encoding.
        const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        auto bad = good;
        const auto idx = alphabet.find(bad.back());
        REQUIRE(idx % 4 == 0);
        bad.back() = alphabet[idx + 1];
        CHECK(check(v, bad) == auth_error::malformed);
    }
    SUBCASE("header not a JSON object") {
        CHECK(check(v, hs_token(claims(), secret, "not json")) == auth_error::malformed);
        CHECK(check(v, hs_token(claims(), secret, R"(["HS256"])")) == auth_error::malformed);
        CHECK(check(v, hs_token(claims(), secret, R"({"alg":"HS256"} x)")) == auth_error::malformed);
        CHECK(check(v, hs_token(claims(), secret, std::string(R"({"alg":"HS256"})") + '\0' + "x")) ==
              auth_error::malformed);
        CHECK(check(v, hs_token(claims(), secret, "{\"alg\":\"HS256\",\"x\":\"\xff\"}")) == auth_error::malformed);
        CHECK(check(v, hs_token(claims(), secret, "")) == auth_error::malformed);
    }
    SUBCASE("payload not a JSON object, even when signed") {
        CHECK(check(v, hs_token("not json")) == auth_error::malformed);
        CHECK(check(v, hs_token("1700000060")) == auth_error::malformed);
        CHECK(check(v, hs_token(R"({"sub":"alice","exp":1700000060)")) == auth_error::malformed);
    }
    SUBCASE("longer than 8 KiB") {
        // Grow a filler claim until the token crosses 8192 bytes; the last one below is accepted.
        std::string below, above;
        for (std::size_t n = 6000; above.empty(); ++n) {
            const auto token = hs_token(claims(now + 60, R"(,"pad":")" + std::string(n, 'x') + "\""));
            (token.size() <= 8192 ? below : above) = token;
        }
        CHECK(below.size() >= 8190);
        CHECK(check(v, below) == auth_error::none);
        CHECK(above.size() > 8192);
        CHECK(check(v, above) == auth_error::malformed);
    }
}

TEST_CASE("jwt: constructor refuses bad configuration") {
    const auto make = [](jwt_config c) { jwt_verifier v(std::move(c)); };
    jwt_config c;
    SUBCASE("unknown alg") {
        c.secret = secret;
        c.alg = "ES256";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unknown alg"), std::invalid_argument);
        c.alg = "hs256";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unknown alg"), std::invalid_argument);
        c.alg = "none";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unknown alg"), std::invalid_argument);
        c.alg = "";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unknown alg"), std::invalid_argument);
    }
    SUBCASE("HS256 secret empty or short") {
        c.alg = "HS256";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("needs a secret"), std::invalid_argument);
        c.secret = std::string(31, 's');
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("at least 32 bytes"), std::invalid_argument);
        c.secret = std::string(32, 's');
        CHECK_NOTHROW(make(c));
    }
    SUBCASE("RS256 key unreadable, not RSA, or too small") {
        c.alg = "RS256";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("public_key_pem"), std::invalid_argument);
        c.public_key_pem = "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unreadable"), std::invalid_argument);
        c.public_key_pem = "/etc/jwt/public.pem";
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("unreadable"), std::invalid_argument);
        pkey_ptr small(EVP_RSA_gen(1024), &EVP_PKEY_free);
        REQUIRE(small);
        c.public_key_pem = public_pem(small.get());
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("1024 bits"), std::invalid_argument);
        pkey_ptr ec(EVP_EC_gen("P-256"), &EVP_PKEY_free);
        REQUIRE(ec);
        c.public_key_pem = public_pem(ec.get());
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("not an RSA key"), std::invalid_argument);
        c.public_key_pem = keys().main_pem;
        CHECK_NOTHROW(make(c));
    }
    SUBCASE("negative leeway") {
        c.alg = "HS256";
        c.secret = secret;
        c.leeway_s = -1;
        CHECK_THROWS_WITH_AS(make(c), doctest::Contains("leeway"), std::invalid_argument);
    }
}

TEST_CASE("jwt: moved verifier keeps working, moved-from one refuses") {
    auto a = rs_verifier();
    jwt_verifier b(std::move(a));
    CHECK(check(b, rs_token(claims())) == auth_error::none);
    CHECK(check(a, rs_token(claims())) == auth_error::alg);  // NOLINT(bugprone-use-after-move)
    auto c = hs_verifier();
    c = std::move(b);
    CHECK(check(c, rs_token(claims())) == auth_error::none);
    CHECK(check(c, hs_token(claims())) == auth_error::alg);
}

TEST_CASE("jwt: error names are stable metric labels") {
    using bridge::gateway::to_string;
    CHECK(to_string(auth_error::none) == "none");
    CHECK(to_string(auth_error::missing) == "missing");
    CHECK(to_string(auth_error::malformed) == "malformed");
    CHECK(to_string(auth_error::alg) == "alg");
    CHECK(to_string(auth_error::signature) == "signature");
    CHECK(to_string(auth_error::expired) == "expired");
    CHECK(to_string(auth_error::not_yet_valid) == "not_yet_valid");
    CHECK(to_string(auth_error::issuer) == "issuer");
    CHECK(to_string(auth_error::audience) == "audience");
    CHECK(to_string(auth_error::subject) == "subject");
}
