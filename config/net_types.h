// Address value types that configuration keys may hold (an IP address, a CIDR
// prefix), with strict parsing and canonical formatting. Plain data: module
// config structs embed them, so this header stays free of the loader.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loupe {

// Network byte order; IPv4 in the first 4 bytes, rest zero (as in Decoded).
struct IpAddress {
  uint8_t family = 0;  // 4 or 6; 0 means "not set"
  std::array<uint8_t, 16> bytes{};

  bool operator==(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress address;  // host bits are always zero
  uint8_t prefix = 0;

  bool operator==(const Cidr&) const = default;
};

// inet_pton rules: dotted quad or RFC 4291 text, no zone, no surrounding space.
std::optional<IpAddress> parse_ip_address(std::string_view text);

// "address/length". On failure returns nullopt and sets *why (no key path, no
// position: the caller adds those).
std::optional<Cidr> parse_cidr(std::string_view text, std::string* why);

// Canonical text (inet_ntop); "" for an address that is not set.
std::string to_string(const IpAddress& address);
std::string to_string(const Cidr& cidr);

// Whether the address lies in the prefix; never across families.
bool contains(const Cidr& cidr, const IpAddress& address);

}  // namespace loupe
