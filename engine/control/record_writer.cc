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
#include "engine/control/json_util.h"
#include "engine/control/meta_json.h"
#include "engine/flow/community_id.h"

namespace loupe {
namespace {

}  // namespace

RecordWriter::RecordWriter(const std::string& path, const NdpiModule* names)
    : names_(names), out_(path) {}

RecordWriter::~RecordWriter() = default;

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
  fmt::format_to(std::back_inserter(out), "\",\"flow_id\":{},\"event_type\":\"flow\"", r.flow_id);
  append_flow_identity(out, k, r.client, r.icmp_type, r.icmp_code);
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
  if (!out_.enabled()) return;
  buf_.clear();
  format(r, meta, buf_, names_);
  out_.write(buf_);
}

void RecordWriter::flush() { out_.flush(); }

}  // namespace loupe
