#include "config/net_types.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>

namespace loupe {

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  // inet_pton needs a NUL-terminated string; a view may not be one.
  const std::string s(text);
  IpAddress address;
  if (inet_pton(AF_INET, s.c_str(), address.bytes.data()) == 1) {
    address.family = 4;
    return address;
  }
  if (inet_pton(AF_INET6, s.c_str(), address.bytes.data()) == 1) {
    address.family = 6;
    return address;
  }
  return std::nullopt;
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string* why) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    *why = fmt::format("{:?} is not a CIDR prefix (address/length, e.g. 10.0.0.0/8)", text);
    return std::nullopt;
  }
  const auto address = parse_ip_address(text.substr(0, slash));
  if (!address) {
    *why = fmt::format("{:?} is not a CIDR prefix: {:?} is not an IP address", text,
                       text.substr(0, slash));
    return std::nullopt;
  }
  const unsigned max_prefix = address->family == 4 ? 32 : 128;
  const std::string_view digits = text.substr(slash + 1);
  unsigned prefix = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
  // from_chars alone would take "24x" or "+24"; a prefix is digits only.
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    *why = fmt::format("{:?} is not a CIDR prefix: {:?} is not a prefix length", text, digits);
    return std::nullopt;
  }
  if (prefix > max_prefix) {
    *why = fmt::format("{:?}: prefix length {} is out of range 0..{} for IPv{}", text, prefix,
                       max_prefix, address->family);
    return std::nullopt;
  }
  Cidr cidr{*address, static_cast<uint8_t>(prefix)};
  for (unsigned bit = prefix; bit < max_prefix; ++bit) {
    cidr.address.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  // A prefix with host bits set is almost always a typo for either the network
  // or a host address: refuse it rather than guess which.
  if (cidr.address != *address) {
    *why = fmt::format("{:?} has host bits set (did you mean {}?)", text, to_string(cidr));
    return std::nullopt;
  }
  return cidr;
}

std::string to_string(const IpAddress& address) {
  if (address.family == 0) return "";
  char text[INET6_ADDRSTRLEN];
  inet_ntop(address.family == 4 ? AF_INET : AF_INET6, address.bytes.data(), text, sizeof text);
  return text;
}

std::string to_string(const Cidr& cidr) {
  if (cidr.address.family == 0) return "";
  return fmt::format("{}/{}", to_string(cidr.address), cidr.prefix);
}

bool contains(const Cidr& cidr, const IpAddress& address) {
  if (cidr.address.family == 0 || cidr.address.family != address.family) return false;
  for (unsigned bit = 0; bit < cidr.prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((cidr.address.bytes[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace loupe
