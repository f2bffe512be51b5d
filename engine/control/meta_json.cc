#include "engine/control/meta_json.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <ctime>
#include <iterator>

#include "engine/classify/ndpi_metadata.h"
#include "engine/control/json_util.h"

namespace loupe {
namespace {

const char* dns_type_name(uint16_t t) {
  switch (t) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 255: return "ANY";
    default: return nullptr;
  }
}

const char* dns_rcode_name(uint16_t r) {
  static constexpr const char* kNames[] = {"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED",  "YXDOMAIN", "YXRRSET",
                                           "NXRRSET", "NOTAUTH",  "NOTZONE"};
  return r < std::size(kNames) ? kNames[r] : nullptr;
}

void append_iso_time(std::string& out, uint64_t sec) {
  const time_t t = static_cast<time_t>(sec);
  tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Writes one object: `"name":{` then each entry `fn` renders, then what
// `tail` renders (a member built from several entries), then `}`; nothing
// when the object would be empty. `fn` and `tail` return false when they
// render nothing.
template <typename Fn, typename Tail>
void object(std::string& out, const char* name, MetaView meta, Fn&& fn, Tail&& tail) {
  const size_t start = out.size();
  fmt::format_to(std::back_inserter(out), ",\"{}\":{{", name);
  const size_t body = out.size();
  auto member = [&](auto&& render) {
    const size_t before = out.size();
    if (before != body) out += ',';
    if (!render()) out.resize(before);
  };
  meta.for_each([&](const MetaEntry& e) { member([&] { return fn(e); }); });
  member(tail);
  if (out.size() == body) {
    out.resize(start);
    return;
  }
  out += '}';
}

template <typename Fn>
void object(std::string& out, const char* name, MetaView meta, Fn&& fn) {
  object(out, name, meta, fn, [] { return false; });
}

void key(std::string& out, const char* k) {
  out += '"';
  out += k;
  out += "\":";
}

}  // namespace

void append_meta_json(std::string& out, MetaView meta) {
  if (meta.empty()) return;
  object(out, "http", meta, [&](const MetaEntry& e) {
    switch (e.field) {
      case MetaField::http_host: key(out, "hostname"); break;
      case MetaField::http_url: key(out, "url"); break;
      case MetaField::http_method: key(out, "http_method"); break;
      case MetaField::http_user_agent: key(out, "http_user_agent"); break;
      case MetaField::http_content_type: key(out, "http_content_type"); break;
      case MetaField::http_status:
        fmt::format_to(std::back_inserter(out), "\"status\":{}", e.u16());
        return true;
      default: return false;
    }
    append_json_string(out, e.value);
    return true;
  });

  object(out, "dns", meta, [&](const MetaEntry& e) {
    switch (e.field) {
      case MetaField::dns_query:
        key(out, "rrname");
        append_json_string(out, e.value);
        return true;
      case MetaField::dns_qtype:
        if (const char* n = dns_type_name(e.u16()))
          fmt::format_to(std::back_inserter(out), "\"rrtype\":\"{}\"", n);
        else
          fmt::format_to(std::back_inserter(out), "\"rrtype\":\"TYPE{}\"", e.u16());
        return true;
      case MetaField::dns_rcode:
        if (const char* n = dns_rcode_name(e.u16()))
          fmt::format_to(std::back_inserter(out), "\"rcode\":\"{}\"", n);
        else
          fmt::format_to(std::back_inserter(out), "\"rcode\":\"RCODE{}\"", e.u16());
        return true;
      default: return false;
    }
  }, [&] {
    // Every answer address, in response order, as one array.
    bool any = false;
    meta.for_each([&](const MetaEntry& e) {
      if (e.field != MetaField::dns_answer) return;
      char text[INET6_ADDRSTRLEN];
      inet_ntop(e.value.size() == 4 ? AF_INET : AF_INET6, e.value.data(), text, sizeof(text));
      out += any ? ",\"" : "\"answers\":[\"";
      out += text;
      out += '"';
      any = true;
    });
    if (any) out += ']';
    return any;
  });

  object(out, "tls", meta, [&](const MetaEntry& e) {
    switch (e.field) {
      case MetaField::tls_sni: key(out, "sni"); break;
      case MetaField::tls_alpn: key(out, "alpn"); break;
      case MetaField::tls_subject: key(out, "subject"); break;
      case MetaField::tls_issuer: key(out, "issuerdn"); break;
      case MetaField::tls_san: key(out, "sans"); break;
      case MetaField::tls_version:
        key(out, "version");
        append_json_string(out, tls_version_name(e.u16()));
        return true;
      case MetaField::tls_ja3:
      case MetaField::tls_ja3s:
        key(out, e.field == MetaField::tls_ja3 ? "ja3" : "ja3s");
        out += "{\"hash\":";
        append_json_string(out, e.value);
        out += '}';
        return true;
      case MetaField::tls_not_before:
      case MetaField::tls_not_after:
        key(out, e.field == MetaField::tls_not_before ? "notbefore" : "notafter");
        append_iso_time(out, e.u64());
        return true;
      default: return false;
    }
    append_json_string(out, e.value);
    return true;
  });

  object(out, "ssh", meta, [&](const MetaEntry& e) {
    switch (e.field) {
      case MetaField::ssh_client: key(out, "client_banner"); break;
      case MetaField::ssh_server: key(out, "server_banner"); break;
      case MetaField::ssh_hassh_client: key(out, "hassh_client"); break;
      case MetaField::ssh_hassh_server: key(out, "hassh_server"); break;
      default: return false;
    }
    append_json_string(out, e.value);
    return true;
  });

  object(out, "host", meta, [&](const MetaEntry& e) {
    if (e.field != MetaField::server_name) return false;
    key(out, "name");
    append_json_string(out, e.value);
    return true;
  });

  bool first = true;
  meta.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::classifier || e.value.empty()) return;
    out += first ? ",\"classifiers\":[" : ",";
    first = false;
    out += "{\"name\":";
    append_json_string(out, e.value.substr(1));
    out += e.value[0] == 2 ? ",\"side\":\"server\"}" : ",\"side\":\"client\"}";
  });
  if (!first) out += ']';

  // What scripts added: flow.setTag / session:add_tag, flow.addField /
  // session:add_string, add_int (contract §5.5).
  first = true;
  meta.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::script_tag) return;
    out += first ? ",\"tags\":[" : ",";
    first = false;
    append_json_string(out, e.value);
  });
  if (!first) out += ']';
  first = true;
  meta.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::script_protocol) return;
    out += first ? ",\"protocols\":[" : ",";
    first = false;
    append_json_string(out, e.value);
  });
  if (!first) out += ']';
  // Fields: [kind u8: 's' or 'i'][name length u8][name][value], one entry
  // per value, grouped by name in the order names first appear.
  std::vector<std::string_view> names;
  meta.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::script_field || e.value.size() < 2) return;
    const std::string_view name = e.value.substr(2, static_cast<uint8_t>(e.value[1]));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  });
  if (names.empty()) return;
  out += ",\"fields\":{";
  for (size_t i = 0; i < names.size(); i++) {
    if (i) out += ',';
    append_json_string(out, names[i]);
    out += ":[";
    bool first_value = true;
    meta.for_each([&](const MetaEntry& e) {
      if (e.field != MetaField::script_field || e.value.size() < 2) return;
      const uint8_t len = static_cast<uint8_t>(e.value[1]);
      if (e.value.substr(2, len) != names[i]) return;
      if (!first_value) out += ',';
      first_value = false;
      const std::string_view v = e.value.substr(2 + len);
      if (e.value[0] == 'i' && v.size() == 8) {
        int64_t n;
        std::memcpy(&n, v.data(), 8);
        out += std::to_string(n);
      } else {
        append_json_string(out, v);
      }
    });
    out += ']';
  }
  out += '}';
}

}  // namespace loupe
