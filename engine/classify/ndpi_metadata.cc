// What loupe copies out of an nDPI flow state when detection ends. nDPI
// keeps protocol metadata in a union whose member depends on the protocol
// that dissected the flow, and frees it the same way (ndpi_free_flow_data),
// so each member is read only for the protocols nDPI itself reads it for.
#include "engine/classify/ndpi_metadata.h"

#include <cstring>

extern "C" {
#include <ndpi_api.h>
}

namespace loupe {
namespace {

bool is_proto(const ndpi_flow_struct* f, uint16_t id) {
  return f->detected_protocol_stack[0] == id || f->detected_protocol_stack[1] == id;
}

void add_str(MetaBuilder& out, MetaField field, const char* s) {
  if (s != nullptr) out.add_cstr(field, s, kMetaMaxValue);
}

// nDPI 4.2 stores the URL as the raw Host line followed by the request
// target (origin form), or the target alone when it is already absolute
// ("http://...", a proxy request) or a CONNECT authority. The record keeps
// the target as sent, like Suricata's http.url.
const char* request_target(const char* url) {
  if (url == nullptr || url[0] == '/' || std::strncmp(url, "http://", 7) == 0) return url;
  const char* slash = std::strchr(url, '/');
  return slash != nullptr ? slash : url;
}

}  // namespace

void extract_ndpi_metadata(const ndpi_flow_struct* f, bool guessed, MetaBuilder& out) {
  const char* host = f->host_server_name;
  const size_t host_cap = sizeof(f->host_server_name);
  // HTTP lives outside the union: its pointers are either nDPI's strings or null.
  const bool http = f->http.url != nullptr || f->http.method != NDPI_HTTP_METHOD_UNKNOWN ||
                    f->http.response_status_code != 0 || is_proto(f, NDPI_PROTOCOL_HTTP);
  // A guessed verdict had no dissector finish: the union may hold another
  // dissector's partial state, so only the detected protocols read it.
  const bool dns = !guessed && is_proto(f, NDPI_PROTOCOL_DNS);
  const bool tls = !guessed && (is_proto(f, NDPI_PROTOCOL_TLS) || is_proto(f, NDPI_PROTOCOL_DTLS) ||
                                is_proto(f, NDPI_PROTOCOL_QUIC) ||
                                is_proto(f, NDPI_PROTOCOL_MAIL_SMTPS) ||
                                is_proto(f, NDPI_PROTOCOL_MAIL_IMAPS) ||
                                is_proto(f, NDPI_PROTOCOL_MAIL_POPS));
  const bool ssh = !guessed && is_proto(f, NDPI_PROTOCOL_SSH);

  if (http) {
    if (f->http.method != NDPI_HTTP_METHOD_UNKNOWN)
      add_str(out, MetaField::http_method,
              ndpi_http_method2str(static_cast<ndpi_http_method>(f->http.method)));
    add_str(out, MetaField::http_url, request_target(f->http.url));
    out.add_cstr(MetaField::http_host, host, host_cap);
    add_str(out, MetaField::http_user_agent, f->http.user_agent);
    add_str(out, MetaField::http_content_type, f->http.content_type);
    if (f->http.response_status_code != 0)
      out.add_u16(MetaField::http_status, f->http.response_status_code);
  } else if (dns) {
    out.add_cstr(MetaField::dns_query, host, host_cap);
    if (f->protos.dns.query_type != 0) out.add_u16(MetaField::dns_qtype, f->protos.dns.query_type);
    if (!f->protos.dns.is_query || f->protos.dns.num_answers != 0)
      out.add_u16(MetaField::dns_rcode, f->protos.dns.reply_code);
  } else if (tls) {
    const auto& t = f->protos.tls_quic;
    out.add_cstr(MetaField::tls_sni, host, host_cap);
    add_str(out, MetaField::tls_alpn, t.alpn);
    if (t.ssl_version != 0) out.add_u16(MetaField::tls_version, t.ssl_version);
    out.add_cstr(MetaField::tls_ja3, t.ja3_client, sizeof(t.ja3_client));
    out.add_cstr(MetaField::tls_ja3s, t.ja3_server, sizeof(t.ja3_server));
    add_str(out, MetaField::tls_subject, t.subjectDN);
    add_str(out, MetaField::tls_issuer, t.issuerDN);
    add_str(out, MetaField::tls_san, t.server_names);
    if (t.notBefore != 0) out.add_u64(MetaField::tls_not_before, t.notBefore);
    if (t.notAfter != 0) out.add_u64(MetaField::tls_not_after, t.notAfter);
  } else if (ssh) {
    const auto& s = f->protos.ssh;
    out.add_cstr(MetaField::ssh_client, s.client_signature, sizeof(s.client_signature));
    out.add_cstr(MetaField::ssh_server, s.server_signature, sizeof(s.server_signature));
    out.add_cstr(MetaField::ssh_hassh_client, s.hassh_client, sizeof(s.hassh_client));
    out.add_cstr(MetaField::ssh_hassh_server, s.hassh_server, sizeof(s.hassh_server));
  } else {
    out.add_cstr(MetaField::server_name, host, host_cap);
  }
}

std::string tls_version_name(uint16_t version) {
  char buf[32];
  uint8_t unknown = 0;
  const char* s = ndpi_ssl_version2str(buf, sizeof(buf), version, &unknown);
  return s ? s : std::to_string(version);
}

}  // namespace loupe
