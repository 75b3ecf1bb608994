// Fuzzes the RS256 verifier: no fuzzed token is ever accepted (the fuzzer cannot forge an
// RSA signature), nor the input as claims under the known confusions: HS256 keyed with the
// public key, an HMAC in place of the RSA signature, alg "none", a random signature.
// The key pair is made at start; its private half never leaves this process.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstddef>
#include <cstdint>
#include <memory>
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

const std::string rs_header = R"({"alg":"RS256","typ":"JWT"})";
constexpr std::size_t signature_bytes = 256;  // 2048-bit modulus

std::string public_pem;
std::unique_ptr<jwt_verifier> verifier;

std::string pem_of(EVP_PKEY* key) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    require(bio && PEM_write_bio_PUBKEY(bio.get(), key) == 1, "setup: writing the public key failed");
    char* text = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &text);
    return std::string(text, static_cast<std::size_t>(n));
}

std::string rs256_sign(EVP_PKEY* key, const std::string& input) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::string sig(signature_bytes, '\0');
    std::size_t len = sig.size();
    require(ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1 &&
                len == signature_bytes,
            "setup: RS256 signing failed");
    return sig;
}

void refuse(const std::string& token, const char* what) {
    verified_token out;
    if (verifier->verify(token, fuzz::now_s, out) == auth_error::none) fuzz::fail(what);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    require(key != nullptr, "setup: RSA key generation failed");
    public_pem = pem_of(key.get());
    jwt_config c;
    c.alg = "RS256";
    c.public_key_pem = public_pem;
    c.leeway_s = 0;
    verifier = std::make_unique<jwt_verifier>(std::move(c));

    // The key is the one the verifier checks with: a token it signs is accepted.
    const std::string claims = R"({"sub":"u-1","exp":)" + std::to_string(fuzz::now_s + 60) + "}";
    const std::string input = fuzz::signing_input(rs_header, claims);
    verified_token out;
    require(verifier->verify(fuzz::token(input, rs256_sign(key.get(), input)), fuzz::now_s, out) ==
                    auth_error::none &&
                out.subject == "u-1",
            "setup: a token signed with the private key is refused");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    // The input as a token.
    refuse(std::string(text), "RS256: a fuzzed token was accepted");

    // The input as claims, under each confusion.
    const std::string hs_input = fuzz::signing_input(R"({"alg":"HS256","typ":"JWT"})", text);
    refuse(fuzz::token(hs_input, fuzz::hmac_sha256(public_pem, hs_input)), "RS256: HS256 keyed with the public key accepted");
    const std::string rs_input = fuzz::signing_input(rs_header, text);
    refuse(fuzz::token(rs_input, fuzz::hmac_sha256(public_pem, rs_input)), "RS256: an HMAC as signature accepted");
    refuse(fuzz::signing_input(R"({"alg":"none"})", text) + ".", "RS256: alg none accepted");
    std::string random_sig(signature_bytes, '\0');
    for (std::size_t i = 0; i < signature_bytes && size > 0; ++i) random_sig[i] = static_cast<char>(data[i % size]);
    refuse(fuzz::token(rs_input, random_sig), "RS256: a made-up signature accepted");
    return 0;
}
