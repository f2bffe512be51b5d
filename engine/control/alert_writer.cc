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
namespace {

// Past this many bytes waiting, lines are written out without waiting for
// the control loop's flush: a burst of alerts stays bounded in memory.
constexpr size_t kFlushBytes = 256 * 1024;

// The part of "alert":{...} every record shares, from the severity to the
// suppressed count; details and the closing brace are the caller's.
void append_alert_body(std::string& out, const EntityAlert& a, const AlertEmission& e) {
  fmt::format_to(std::back_inserter(out),
                 ",\"alert\":{{\"action\":\"allowed\",\"severity\":{},\"severity_name\":\"{}\","
                 "\"score\":{}",
                 eve_severity(a.severity), severity_name(a.severity), a.score);
  if (a.score_clamped) fmt::format_to(std::back_inserter(out), ",\"score_raw\":{}", a.score_raw);
  if (e.id != 0) fmt::format_to(std::back_inserter(out), ",\"id\":{}", e.id);
  out += ",\"script\":";
  append_json_string(out, a.script);
  fmt::format_to(std::back_inserter(out),
                 ",\"entity\":\"{}\",\"entity_val\":", alert_entity_name(a.entity));
  append_json_string(out, a.entity_val);
  fmt::format_to(std::back_inserter(out),
                 ",\"lifecycle\":\"{}\",\"message\":", alert_lifecycle_name(e.lifecycle));
  append_json_string(out, a.message);
  if (a.message_truncated) out += ",\"message_truncated\":true";
  out += ",\"alert_type\":";
  append_json_string(out, a.alert_type.empty() ? a.script : a.alert_type);
  out += ",\"alert_subtype\":";
  append_json_string(out, a.alert_subtype);
  fmt::format_to(std::back_inserter(out), ",\"suppressed\":{}", e.suppressed);
}

}  // namespace

AlertWriter::AlertWriter(const std::string& path, const NdpiModule* names)
    : names_(names), path_(path) {
  if (path.empty()) return;
  if (path == "-") {
    file_ = stdout;
    return;
  }
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr)
    throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  // Lines are gathered in buf_: unbuffered, a failed write surfaces at once
  // and stdio keeps no half-written buffer to retry later.
  std::setvbuf(file_, nullptr, _IONBF, 0);
  owned_ = true;
}

AlertWriter::~AlertWriter() {
  flush();
  if (owned_) std::fclose(file_);
}

void AlertWriter::write(const AlertRecord& a) {
  if (file_ == nullptr) return;
  line_.clear();
  format(a, line_, names_);
  write(line_, a.severity);
}

void AlertWriter::write(std::string_view line, Severity) {
  if (file_ == nullptr) return;
  buf_.append(line);
  buf_ += '\n';
  pending_lines_++;
  if (buf_.size() >= kFlushBytes) flush();
}

void AlertWriter::flush() {
  if (file_ == nullptr || buf_.empty()) return;
  const bool ok =
      std::fwrite(buf_.data(), 1, buf_.size(), file_) == buf_.size() && std::fflush(file_) == 0;
  if (ok) {
    written_ += pending_lines_;
  } else {
    failed_ += pending_lines_;
    // The error is counted; the next flush (a disk with room again) retries.
    std::clearerr(file_);
  }
  buf_.clear();
  pending_lines_ = 0;
}

bool AlertWriter::reopen() {
  if (!owned_) return true;  // stdout or nothing
  flush();
  FILE* next = std::fopen(path_.c_str(), "a");
  if (next == nullptr) return false;
  std::setvbuf(next, nullptr, _IONBF, 0);
  std::fclose(file_);
  file_ = next;
  return true;
}

void AlertWriter::format(const AlertRecord& a, const AlertEmission& e,
                         std::string_view community_id, std::string& out, const NdpiModule* names) {
  out += "{\"timestamp\":\"";
  append_time(out, e.time_ns);
  fmt::format_to(std::back_inserter(out),
                 "\",\"event_type\":\"alert\",\"ifid\":{},\"worker\":{},\"flow_id\":{},"
                 "\"community_id\":\"{}\"",
                 a.ifid, a.worker, a.flow_id, community_id);
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
  if (e.id != 0) fmt::format_to(std::back_inserter(out), ",\"id\":{}", e.id);
  out += ",\"script\":";
  append_json_string(out, a.script_key_view());
  fmt::format_to(std::back_inserter(out),
                 ",\"entity\":\"flow\",\"entity_val\":\"{}\","
                 "\"lifecycle\":\"{}\",\"message\":",
                 community_id, alert_lifecycle_name(e.lifecycle));
  append_json_string(out, a.message_view());
  if (a.flags & AlertRecord::kMessageTruncated) out += ",\"message_truncated\":true";
  out += ",\"alert_type\":";
  append_json_string(out, a.script_key_view());
  fmt::format_to(std::back_inserter(out), ",\"alert_subtype\":\"\",\"suppressed\":{}",
                 e.suppressed);
  // Details were serialised by the engine (a JSON object or array).
  if (a.details_len != 0) {
    out += ",\"details\":";
    out.append(a.details_view());
  }
  if (a.flags & AlertRecord::kDetailsTruncated) out += ",\"details_truncated\":true";
  out += "}}";
}

void AlertWriter::format(const AlertRecord& a, std::string& out, const NdpiModule* names) {
  const std::string cid = community_id_v1(a.key, a.client, a.icmp_type, a.icmp_code);
  format(a, AlertEmission{0, AlertLifecycle::kStore, 0, a.time_ns}, cid, out, names);
}

void AlertWriter::format(const EntityAlert& a, const AlertEmission& e, std::string& out) {
  out += "{\"timestamp\":\"";
  append_time(out, e.time_ns);
  fmt::format_to(std::back_inserter(out), "\",\"event_type\":\"alert\",\"ifid\":{}", a.ifid);
  if (a.entity == AlertEntity::kHost) {
    out += ",\"host\":{\"ip\":";
    append_json_string(out, a.host_ip);
    fmt::format_to(std::back_inserter(out), ",\"vlan\":{}}}", a.host_vlan);
  } else if (a.entity == AlertEntity::kNetwork) {
    out += ",\"network\":{\"cidr\":";
    append_json_string(out, a.network_cidr);
    fmt::format_to(std::back_inserter(out), ",\"id\":{}}}", a.network_id);
  }
  append_alert_body(out, a, e);
  // Details were serialised (or checked) by the binding: a JSON object or array.
  if (!a.details.empty()) {
    out += ",\"details\":";
    out += a.details;
  }
  out += "}}";
}

}  // namespace loupe
