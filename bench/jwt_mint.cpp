#include "jwt_mint.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace bench {

std::string base64url(const unsigned char* data, std::size_t len) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((len * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 2 < len; i += 3) {
        std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        out += abc[(v >> 18) & 63]; out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];  out += abc[v & 63];
    }
    if (len - i == 1) {
        std::uint32_t v = data[i] << 16;
        out += abc[(v >> 18) & 63]; out += abc[(v >> 12) & 63];
    } else if (len - i == 2) {
        std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
        out += abc[(v >> 18) & 63]; out += abc[(v >> 12) & 63]; out += abc[(v >> 6) & 63];
    }
    return out;
}

static std::string b64(const std::string& s) {
    return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

std::string mint_hs256(const std::string& secret, const std::string& sub, std::int64_t exp) {
    // The subjects are the load generator's own ids: no JSON escaping needed.
    std::string signing_input = b64(R"({"alg":"HS256","typ":"JWT"})") + "." +
                                b64(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + "}");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
              mac, &mac_len)) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return signing_input + "." + base64url(mac, mac_len);
}

}  // namespace bench
