#include "engine/control/json_util.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <stdexcept>

namespace loupe {
namespace {

void append_ip(std::string& out, const FlowKey& k, int side) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(k.ip_version == 6 ? AF_INET6 : AF_INET, k.addr[side], text, sizeof(text));
  out += text;
}

const char* proto_name(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "TCP";
    case IPPROTO_UDP: return "UDP";
    case IPPROTO_ICMP: return "ICMP";
    case IPPROTO_ICMPV6: return "IPv6-ICMP";
    case IPPROTO_SCTP: return "SCTP";
    default: return nullptr;
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      // Values come from the wire: anything not printable ASCII is escaped.
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void append_time(std::string& out, uint64_t ns) {
  const time_t sec = static_cast<time_t>(ns / 1'000'000'000ULL);
  tm t{};
  gmtime_r(&sec, &t);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                 (ns % 1'000'000'000ULL) / 1000);
}

void append_flow_identity(std::string& out, const FlowKey& k, uint8_t client, uint8_t icmp_type,
                          uint8_t icmp_code) {
  const int c = client;
  const int s = c ^ 1;
  out += ",\"src_ip\":\"";
  append_ip(out, k, c);
  const bool ports = k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP || k.proto == IPPROTO_SCTP;
  if (ports) fmt::format_to(std::back_inserter(out), "\",\"src_port\":{}", k.port[c]);
  else out += "\"";
  out += ",\"dest_ip\":\"";
  append_ip(out, k, s);
  if (ports) fmt::format_to(std::back_inserter(out), "\",\"dest_port\":{}", k.port[s]);
  else out += "\"";
  if (const char* name = proto_name(k.proto))
    fmt::format_to(std::back_inserter(out), ",\"proto\":\"{}\"", name);
  else
    fmt::format_to(std::back_inserter(out), ",\"proto\":\"{}\"", k.proto);
  if (k.proto == IPPROTO_ICMP || k.proto == IPPROTO_ICMPV6)
    fmt::format_to(std::back_inserter(out), ",\"icmp_type\":{},\"icmp_code\":{}", icmp_type,
                   icmp_code);
  if (k.vlan[0] != 0 || k.vlan[1] != 0) {
    fmt::format_to(std::back_inserter(out), ",\"vlan\":[{}", k.vlan[0]);
    if (k.vlan[1] != 0) fmt::format_to(std::back_inserter(out), ",{}", k.vlan[1]);
    out += "]";
  }
}

JsonLinesFile::JsonLinesFile(const std::string& path) : path_(path) {
  if (path.empty()) return;
  if (path == "-") {
    file_ = stdout;
    return;
  }
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr)
    throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  owned_ = true;
}

JsonLinesFile::~JsonLinesFile() {
  if (file_ != nullptr) std::fflush(file_);
  if (owned_) std::fclose(file_);
}

void JsonLinesFile::write(std::string& line) {
  if (file_ == nullptr) return;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), file_);
  written_++;
}

void JsonLinesFile::flush() {
  if (file_ != nullptr) std::fflush(file_);
}

bool JsonLinesFile::reopen() {
  if (!owned_) return true;  // stdout or nothing
  FILE* next = std::fopen(path_.c_str(), "a");
  if (next == nullptr) return false;
  std::fflush(file_);
  std::fclose(file_);
  file_ = next;
  return true;
}

}  // namespace loupe
