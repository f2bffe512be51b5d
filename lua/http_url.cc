// lua/http_url.h: parsing and comparing the URLs of ArkimeHttpService.
#include "lua/http_url.h"

#include <charconv>

#include "config/net_types.h"

namespace loupe {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Whether the path (no query) holds a "." or ".." segment once
// percent-decoded: a server that decodes before resolving would otherwise
// climb out of the allowed prefix. Decoded slashes and backslashes split
// segments too, for the same reason.
bool has_dot_segment(std::string_view path) {
  std::string seg;
  auto dotty = [&] { return seg == "." || seg == ".."; };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
        hex_value(path[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      i += 2;
    }
    if (c == '/' || c == '\\') {
      if (dotty()) return true;
      seg.clear();
    } else {
      seg += c;
    }
  }
  return dotty();
}

bool host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool path_char(char c) {
  return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f && c != '#' &&
         c != '\\';
}

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view text, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<HttpUrl> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  HttpUrl u;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return fail("not a URL (scheme://host expected)");
  std::string scheme;
  for (char c : text.substr(0, sep)) scheme += lower(c);
  if (scheme == "https") {
    u.https = true;
  } else if (scheme != "http") {
    return fail("the scheme must be http or https");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('?') != std::string_view::npos) return fail("a query is not allowed");
  if (rest.find('#') != std::string_view::npos) return fail("a fragment is not allowed");
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return fail("user information is not allowed");
  }
  std::string_view host, port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail("bad characters after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
    const auto ip = parse_ip_address(host);
    if (!ip || ip->family != 6) return fail("bad IPv6 literal");
    u.host = to_string(*ip);
    u.ip_literal = true;
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail("empty port");
    }
    if (host.empty()) return fail("no host");
    for (char c : host) {
      if (!host_name_char(c)) return fail("bad character in the host name");
    }
    const auto ip = parse_ip_address(host);
    if (ip && ip->family == 4) {
      u.host = to_string(*ip);
      u.ip_literal = true;
    } else {
      for (char c : host) u.host += lower(c);
    }
  }
  if (port.empty()) {
    u.port = u.https ? 443 : 80;
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return fail("bad port");
    }
    u.port = static_cast<uint16_t>(value);
  }
  for (char c : path) {
    if (!path_char(c)) return fail("bad character in the path");
  }
  if (has_dot_segment(path)) return fail("'.' and '..' segments are not allowed in the path");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.path = path;
  return u;
}

std::string canonical_url(const HttpUrl& u) {
  std::string out = u.https ? "https://" : "http://";
  const bool v6 = u.ip_literal && u.host.find(':') != std::string::npos;
  out += v6 ? "[" + u.host + "]" : u.host;
  out += ":" + std::to_string(u.port);
  out += u.path;
  return out;
}

bool http_url_allowed_by(const HttpUrl& url, const HttpUrl& entry) {
  if (url.https != entry.https || url.port != entry.port || url.host != entry.host ||
      url.ip_literal != entry.ip_literal) {
    return false;
  }
  if (entry.path.empty()) return true;
  if (url.path.size() < entry.path.size() || url.path.compare(0, entry.path.size(), entry.path)) {
    return false;
  }
  return url.path.size() == entry.path.size() || url.path[entry.path.size()] == '/';
}

bool http_url_allowed(const HttpUrl& url, const std::vector<std::string>& allow) {
  for (const std::string& text : allow) {
    const auto entry = parse_http_url(text, nullptr);
    if (entry && http_url_allowed_by(url, *entry)) return true;
  }
  return false;
}

bool valid_http_method(std::string_view method) {
  if (method.empty() || method.size() > 16) return false;
  for (char c : method) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

bool valid_http_path(std::string_view path, std::string* why) {
  auto fail = [&](const char* reason) {
    if (why != nullptr) *why = reason;
    return false;
  };
  if (path.empty() || path[0] != '/') return fail("starts with '/'");
  for (char c : path) {
    if (!path_char(c)) return fail("is encoded (no space, control, '#', '\\' or non-ASCII byte)");
  }
  if (has_dot_segment(path.substr(0, path.find('?')))) return fail("has no '.' or '..' segment");
  return true;
}

}  // namespace loupe
