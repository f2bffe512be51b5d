#include "engine/control/alert_writer.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include "engine/classify/ndpi_detector.h"
#include "engine/control/json_util.h"
#include "engine/flow/community_id.h"

namespace loupe {

AlertWriter::AlertWriter(const std::string& path, const NdpiModule* names)
    : names_(names), out_(path) {}

AlertWriter::~AlertWriter() = default;

void AlertWriter::format(const AlertRecord& a, std::string& out, const NdpiModule* names) {
  const std::string cid = community_id_v1(a.key, a.client, a.icmp_type, a.icmp_code);
  out += "{\"timestamp\":\"";
  append_time(out, a.time_ns);
  fmt::format_to(std::back_inserter(out),
                 "\",\"event_type\":\"alert\",\"ifid\":{},\"worker\":{},\"flow_id\":{},"
                 "\"community_id\":\"{}\"",
                 a.ifid, a.worker, a.flow_id, cid);
  append_flow_identity(out, a.key, a.client, a.icmp_type, a.icmp_code);
  if (names != nullptr) {
    out += ",\"app_proto\":";
    append_json_string(out, names->name(a.l7_master, a.l7_app));
  }
  fmt::format_to(std::back_inserter(out),
                 ",\"alert\":{{\"action\":\"allowed\",\"severity\":{},\"severity_name\":\"{}\","
                 "\"score\":{}",
                 a.eve_severity, severity_name(a.severity), a.score);
  if (a.flags & AlertRecord::kScoreClamped)
    fmt::format_to(std::back_inserter(out), ",\"score_raw\":{}", a.score_raw);
  out += ",\"script\":";
  append_json_string(out, a.script_key_view());
  out += ",\"entity\":\"flow\",\"entity_val\":\"" + cid + "\",\"lifecycle\":\"store\",\"message\":";
  append_json_string(out, a.message_view());
  if (a.flags & AlertRecord::kMessageTruncated) out += ",\"message_truncated\":true";
  out += ",\"alert_type\":";
  append_json_string(out, a.script_key_view());
  out += ",\"alert_subtype\":\"\",\"suppressed\":0";
  // Details were serialised by the engine (a JSON object or array).
  if (a.details_len != 0) {
    out += ",\"details\":";
    out.append(a.details_view());
  }
  if (a.flags & AlertRecord::kDetailsTruncated) out += ",\"details_truncated\":true";
  out += "}}";
}

void AlertWriter::write(const AlertRecord& a) {
  if (!out_.enabled()) return;
  buf_.clear();
  format(a, buf_, names_);
  out_.write(buf_);
}

void AlertWriter::flush() { out_.flush(); }

}  // namespace loupe
