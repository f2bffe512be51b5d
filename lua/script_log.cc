// lua/script_log.h
#include "lua/script_log.h"

#include <time.h>

#include <cstdio>

namespace loupe {
namespace {

uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000u;
}

}  // namespace

void StderrLogSink::write(std::string_view line) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
}

StderrLogSink& stderr_log_sink() {
  static StderrLogSink sink;
  return sink;
}

ScriptLog::ScriptLog(std::string vm, uint32_t lines_per_minute, LogSink* sink)
    : vm_(std::move(vm)), per_minute_(lines_per_minute), sink_(sink), per_(1) {
  buf_.reserve(kMaxLine + 128);
}

void ScriptLog::set_keys(std::vector<std::string> keys) {
  keys_ = std::move(keys);
  std::vector<PerScript> fresh(keys_.size() + 1);
  per_.swap(fresh);
  for (PerScript& p : per_) p.partial.reserve(256);
}

ScriptLog::PerScript& ScriptLog::of(int script) {
  const size_t i = script >= 0 && static_cast<size_t>(script) < keys_.size() ? script + 1 : 0;
  return per_[i];
}

void ScriptLog::emit(int script, std::string_view text) {
  PerScript& p = of(script);
  const uint64_t now = monotonic_ms();
  if (now - p.window_start >= 60'000) {
    p.window_start = now;
    p.in_window = 0;
  }
  if (p.in_window >= per_minute_) {
    p.dropped.add();
    return;
  }
  p.in_window++;
  note(script, text);
}

void ScriptLog::note(int script, std::string_view text) {
  if (sink_ == nullptr) return;
  if (text.size() > kMaxLine) text = text.substr(0, kMaxLine);
  buf_.assign("lua[").append(vm_).append("] ");
  if (script >= 0 && static_cast<size_t>(script) < keys_.size()) {
    buf_.append(keys_[script]).append(": ");
  }
  buf_.append(text);
  sink_->write(buf_);
}

void ScriptLog::write(int script, std::string_view text) {
  PerScript& p = of(script);
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view part = text.substr(0, nl);
    const size_t room = kMaxLine > p.partial.size() ? kMaxLine - p.partial.size() : 0;
    p.partial.append(part.substr(0, room));
    if (nl == std::string_view::npos) {
      pending_ = true;
      return;
    }
    emit(script, p.partial);
    p.partial.clear();
    text.remove_prefix(nl + 1);
  }
}

void ScriptLog::line(int script, std::string_view text) {
  PerScript& p = of(script);
  if (!p.partial.empty()) {
    emit(script, p.partial);
    p.partial.clear();
  }
  emit(script, text);
}

void ScriptLog::flush_all() {
  pending_ = false;
  for (size_t i = 0; i < per_.size(); ++i) {
    if (per_[i].partial.empty()) continue;
    emit(static_cast<int>(i) - 1, per_[i].partial);
    per_[i].partial.clear();
  }
}

bool ScriptLog::error_due(int script) {
  PerScript& p = of(script);
  if (p.err_window_start != 0 && monotonic_ms() - p.err_window_start < 60'000) {
    p.err_suppressed++;
    return false;
  }
  return true;
}

void ScriptLog::error(int script, std::string_view hook, std::string_view where,
                      std::string_view message) {
  if (!error_due(script)) return;
  PerScript& p = of(script);
  p.err_window_start = monotonic_ms();
  std::string text = "error in ";
  text.append(hook);
  if (!where.empty()) text.append(" (").append(where).append(")");
  text.append(": ").append(message);
  if (p.err_suppressed > 0) {
    text.append(" (+").append(std::to_string(p.err_suppressed)).append(" more in the last 60 s)");
    p.err_suppressed = 0;
  }
  note(script, text);
}

uint64_t ScriptLog::dropped(int script) const {
  const size_t i = script >= 0 && static_cast<size_t>(script) < keys_.size() ? script + 1 : 0;
  return per_[i].dropped.get();
}

uint64_t ScriptLog::dropped_total() const {
  uint64_t n = 0;
  for (const PerScript& p : per_) n += p.dropped.get();
  return n;
}

}  // namespace loupe
