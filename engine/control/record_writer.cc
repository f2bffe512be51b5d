#include "engine/control/record_writer.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <stdexcept>

#include "engine/classify/ndpi_detector.h"
#include "engine/control/meta_json.h"
#include "engine/flow/community_id.h"

namespace loupe {
namespace {

void append_time(std::string& out, uint64_t ns) {
  const time_t sec = static_cast<time_t>(ns / 1'000'000'000ULL);
  tm t{};
  gmtime_r(&sec, &t);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                 (ns % 1'000'000'000ULL) / 1000);
}

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

RecordWriter::RecordWriter(const std::string& path, const NdpiModule* names) : names_(names) {
  if (path.empty()) return;
  if (path == "-") {
    file_ = stdout;
    return;
  }
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr)
    throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  owned_ = true;
  buf_.reserve(1024);
}

RecordWriter::~RecordWriter() {
  if (file_ != nullptr) std::fflush(file_);
  if (owned_) std::fclose(file_);
}

namespace {

// app_proto, the protocol objects nDPI's metadata belongs to, and ndpi{}.
void append_l7(std::string& out, const FlowRecord& r, const NdpiModule& names) {
  if (r.l7_status == kL7Pending) return;
  const L7Result& l7 = r.l7;
  out += ",\"app_proto\":";
  append_json_string(out, names.name(l7.master, l7.app).c_str());
  out += ",\"ndpi\":{\"risks\":[";
  bool first = true;
  for (const std::string& risk : NdpiModule::risks(l7.risk)) {
    if (!first) out += ",";
    first = false;
    append_json_string(out, risk.c_str());
  }
  fmt::format_to(std::back_inserter(out), "],\"risk_score\":{},\"category\":",
                 NdpiModule::risk_score(l7.risk));
  append_json_string(out, names.category(l7.category).c_str());
  out += ",\"confidence\":";
  append_json_string(out, NdpiModule::confidence(l7.confidence));
  if (l7.guessed) out += ",\"guessed\":true";
  if (r.l7_status == kL7Running) out += ",\"detection\":\"running\"";
  out += "}";
}

}  // namespace

void RecordWriter::format(const FlowRecord& r, MetaView meta, std::string& out,
                          const NdpiModule* names) {
  const FlowKey& k = r.key;
  const int c = r.client;
  const int s = c ^ 1;
  out += "{\"timestamp\":\"";
  append_time(out, r.last_ns);
  fmt::format_to(std::back_inserter(out), "\",\"flow_id\":{},\"event_type\":\"flow\",\"src_ip\":\"",
                 r.flow_id);
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
    fmt::format_to(std::back_inserter(out), ",\"icmp_type\":{},\"icmp_code\":{}", r.icmp_type,
                   r.icmp_code);
  if (k.vlan[0] != 0 || k.vlan[1] != 0) {
    fmt::format_to(std::back_inserter(out), ",\"vlan\":[{}", k.vlan[0]);
    if (k.vlan[1] != 0) fmt::format_to(std::back_inserter(out), ",{}", k.vlan[1]);
    out += "]";
  }
  if (names != nullptr) append_l7(out, r, *names);
  append_meta_json(out, meta);
  out += ",\"community_id\":\"";
  out += community_id_v1(k, r.client, r.icmp_type, r.icmp_code);
  fmt::format_to(std::back_inserter(out),
                 "\",\"flow\":{{\"pkts_toserver\":{},\"pkts_toclient\":{},\"bytes_toserver\":{},"
                 "\"bytes_toclient\":{},\"start\":\"",
                 r.pkts[c], r.pkts[s], r.bytes[c], r.bytes[s]);
  append_time(out, r.first_ns);
  out += "\",\"end\":\"";
  append_time(out, r.last_ns);
  fmt::format_to(std::back_inserter(out), "\",\"age\":{},\"state\":\"{}\",\"reason\":\"{}\"",
                 (r.last_ns - r.first_ns) / 1'000'000'000ULL,
                 kFlowStateText[static_cast<int>(r.state)],
                 kEndReasonText[static_cast<int>(r.reason)]);
  if (r.reason == EndReason::active_timeout) out += ",\"interim\":true";
  out += "}}";
}

void RecordWriter::write(const FlowRecord& r, MetaView meta) {
  if (file_ == nullptr) return;
  buf_.clear();
  format(r, meta, buf_, names_);
  buf_ += '\n';
  std::fwrite(buf_.data(), 1, buf_.size(), file_);
  written_++;
}

void RecordWriter::flush() {
  if (file_ != nullptr) std::fflush(file_);
}

}  // namespace loupe
