// HS256 tokens for the load generator's users, minted with OpenSSL.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

// A compact JWT {"alg":"HS256","typ":"JWT"}.{"sub":sub,"exp":exp} signed with secret.
std::string mint_hs256(const std::string& secret, const std::string& sub, std::int64_t exp);

// Base64url without padding.
std::string base64url(const unsigned char* data, std::size_t len);

}  // namespace bench
