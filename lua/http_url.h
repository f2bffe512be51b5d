// URLs of ArkimeHttpService (contract §5.8): base URLs and lua.http.allow
// entries parsed into their parts, the allow-list rule, the checks on a
// request's method and path, and the canonical text the HTTP client is
// given. Engine-neutral: no Lua type, no libcurl type. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

// One parsed http or https URL without user information, query or fragment.
struct HttpUrl {
  bool https = false;
  // Lower-case name, or an IP literal in canonical form (IPv6 without
  // brackets): two spellings of one address compare equal.
  std::string host;
  bool ip_literal = false;
  uint16_t port = 0;  // the scheme's default when the URL has none
  // "" or "/..." with the trailing slash removed ("/" becomes "").
  std::string path;

  bool operator==(const HttpUrl&) const = default;
};

// Parses `text` as an http or https URL. On failure returns nullopt and
// sets *why ("user information is not allowed", ...).
std::optional<HttpUrl> parse_http_url(std::string_view text, std::string* why);

// scheme://host:port/path, the port always written: what the client joins
// a request's path to. IPv6 literals get their brackets back.
std::string canonical_url(const HttpUrl& u);

// Contract §5.8: same scheme, same host, same port, and the URL's path is
// the entry's or continues it after a '/'; an entry without a path allows
// every path.
bool http_url_allowed_by(const HttpUrl& url, const HttpUrl& entry);
// Whether some entry of `allow` admits `url`. Entries that do not parse
// admit nothing (the configuration check refuses them).
bool http_url_allowed(const HttpUrl& url, const std::vector<std::string>& allow);

// A request's method: an upper-case token (A–Z, 1 to 16 letters).
bool valid_http_method(std::string_view method);
// A request's path: starts with '/', no byte below 0x21 or above 0x7e, no
// '#' or '\', and no '.' or '..' segment before the query, plain or
// percent-encoded (a %2F or %5C inside a segment counts as a separator).
// False with *why otherwise: what the path should be ("starts with '/'").
bool valid_http_path(std::string_view path, std::string* why);

}  // namespace loupe
