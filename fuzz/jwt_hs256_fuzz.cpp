// Fuzzes the HS256 verifier two ways: the input as token text, and the input as the claims
// of a token this harness signs with the verifier's secret, so the accept path runs too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_checks.hpp"
#include "fuzz/jwt_tokens.hpp"
#include "ws_gateway/jwt_verifier.hpp"

namespace {

using bridge::gateway::auth_error;
using bridge::gateway::jwt_config;
using bridge::gateway::jwt_verifier;
using bridge::gateway::verified_token;
using fuzz::require;

const std::string secret = "fuzz-hs256-secret-0123456789abcdef";
const std::string header = R"({"alg":"HS256","typ":"JWT"})";

const jwt_verifier& verifier() {
    static const jwt_verifier v([] {
        jwt_config c;
        c.alg = "HS256";
        c.secret = secret;
        c.leeway_s = 0;  // accepted means exp > now, exactly
        return c;
    }());
    return v;
}

// Whatever is accepted names a user, has not expired, and its user is the claims' "sub".
void check_accepted(const verified_token& t, std::string_view claims) {
    require(!t.subject.empty(), "accepted token with an empty subject");
    require(t.expires_at > fuzz::now_s, "accepted token that has expired");
    rapidjson::Document doc;
    require(fuzz::parse_claims(claims, doc), "accepted token whose claims are not a JSON object");
    int count = 0;
    const rapidjson::Value* sub = fuzz::only_member(doc, "sub", count);
    require(sub && sub->IsString(), "accepted token without one string \"sub\"");
    require(t.subject == std::string_view(sub->GetString(), sub->GetStringLength()),
            "accepted subject differs from the claims' \"sub\"");
}

// Claims any verifier must accept once signed: one non-empty string "sub", one integer
// "exp" in the future, no "nbf", no repeated registered claim (issuer and audience are
// not configured).
bool must_accept(std::string_view claims) {
    rapidjson::Document doc;
    if (!fuzz::parse_claims(claims, doc)) return false;
    int count = 0;
    for (const char* name : {"iss", "aud"}) {
        fuzz::only_member(doc, name, count);
        if (count > 1) return false;
    }
    fuzz::only_member(doc, "nbf", count);
    if (count != 0) return false;
    const rapidjson::Value* sub = fuzz::only_member(doc, "sub", count);
    const rapidjson::Value* exp = fuzz::only_member(doc, "exp", count);
    return sub && sub->IsString() && sub->GetStringLength() > 0 && exp && exp->IsInt64() &&
           exp->GetInt64() > fuzz::now_s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // The harness signs as the verifier checks: a fresh token is accepted.
    const std::string claims = R"({"sub":"u-1","exp":)" + std::to_string(fuzz::now_s + 60) + "}";
    const std::string input = fuzz::signing_input(header, claims);
    verified_token out;
    require(verifier().verify(fuzz::token(input, fuzz::hmac_sha256(secret, input)), fuzz::now_s, out) ==
                    auth_error::none &&
                out.subject == "u-1",
            "setup: a token signed with the secret is refused");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const jwt_verifier& v = verifier();
    verified_token out;

    // The input as a token.
    if (v.verify(text, fuzz::now_s, out) == auth_error::none) check_accepted(out, fuzz::claims_of(text));

    // The input as claims, signed with the secret.
    const std::string input = fuzz::signing_input(header, text);
    const std::string signed_token = fuzz::token(input, fuzz::hmac_sha256(secret, input));
    out = verified_token{};
    if (v.verify(signed_token, fuzz::now_s, out) == auth_error::none) {
        check_accepted(out, text);
    } else if (signed_token.size() <= 8 * 1024 && must_accept(text)) {
        fuzz::fail("a validly signed token with a subject and a future exp was refused");
    }

    // The same claims, signed with another secret or not signed at all: refused.
    const std::string forged = fuzz::token(input, fuzz::hmac_sha256(secret + "x", input));
    require(v.verify(forged, fuzz::now_s, out) != auth_error::none, "token signed with another secret accepted");
    const std::string unsigned_token = fuzz::signing_input(R"({"alg":"none"})", text) + ".";
    require(v.verify(unsigned_token, fuzz::now_s, out) != auth_error::none, "alg none token accepted");
    return 0;
}
