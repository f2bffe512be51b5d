#include "perf/gen/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <vector>

#include "perf/gen/flow.h"

namespace loupe::gen {
namespace {

constexpr uint64_t kTagScheduler = 0x300;
constexpr uint64_t kMicrosPerSecond = 1000000;

uint64_t parse_u64(std::string_view text, std::string_view what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument(fmt::format("{}: '{}' is not a non-negative integer", what, text));
  }
  return v;
}

// Frame i of the capture, with `gap_us` of idle inserted so far, lies at
// start + i / pps: computed from i rather than accumulated, so it does not
// drift however long the capture.
uint64_t timestamp_us(const GenConfig& c, uint64_t frame, uint64_t gap_us) {
  return c.start_time * kMicrosPerSecond + gap_us + frame * kMicrosPerSecond / c.pps;
}

}  // namespace

SizeRange parse_range(std::string_view text) {
  const size_t dash = text.find('-');
  SizeRange r;
  if (dash == std::string_view::npos) {
    r.min = r.max = static_cast<uint32_t>(std::min<uint64_t>(parse_u64(text, "range"), UINT32_MAX));
  } else {
    r.min = static_cast<uint32_t>(
        std::min<uint64_t>(parse_u64(text.substr(0, dash), "range"), UINT32_MAX));
    r.max = static_cast<uint32_t>(
        std::min<uint64_t>(parse_u64(text.substr(dash + 1), "range"), UINT32_MAX));
  }
  if (r.min > r.max) {
    throw std::invalid_argument(fmt::format("range '{}': minimum above maximum", text));
  }
  return r;
}

std::array<uint32_t, kProtocolCount> parse_mix(std::string_view text) {
  std::array<uint32_t, kProtocolCount> mix{};
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw std::invalid_argument(fmt::format("mix item '{}' is not NAME=WEIGHT", item));
    }
    const std::string_view name = item.substr(0, eq);
    auto it = std::find(kProtocolNames.begin(), kProtocolNames.end(), name);
    if (it == kProtocolNames.end()) {
      throw std::invalid_argument(
          fmt::format("mix: unknown protocol '{}' (known: http tls dns quic tcp udp)", name));
    }
    const uint64_t weight = parse_u64(item.substr(eq + 1), "mix weight");
    if (weight > 1000000) throw std::invalid_argument("mix: weights go up to 1000000");
    mix[static_cast<size_t>(it - kProtocolNames.begin())] = static_cast<uint32_t>(weight);
  }
  return mix;
}

std::string validate(const GenConfig& c) {
  if (c.packets_per_flow) {
    if (c.packets_per_flow->min < 1) return "--packets-per-flow must be at least 1";
    if (c.packets_per_flow->max > kMaxPacketsPerFlow) {
      return fmt::format("--packets-per-flow goes up to {}", kMaxPacketsPerFlow);
    }
    if (c.packets_per_flow->min > c.packets_per_flow->max) return "--packets-per-flow: min > max";
  }
  if (c.concurrency < 1) return "--concurrency must be at least 1";
  if (c.pps < 1) return "--pps must be at least 1";
  uint64_t weights = 0;
  for (uint32_t w : c.mix) weights += w;
  if (weights == 0) return "--mix gives every protocol weight 0";
  if (c.ipv6_percent < 0 || c.ipv6_percent > 100) return "--ipv6 is a percentage, 0-100";
  if (c.vlan_percent < 0 || c.vlan_percent > 100) return "--vlan is a percentage, 0-100";
  if (c.size.min < 1 || c.size.min > c.size.max || c.size.max > kMaxBulkSize) {
    return fmt::format("--size must be MIN-MAX with 1 <= MIN <= MAX <= {}", kMaxBulkSize);
  }
  if (c.fixed_frame_size != 0 &&
      (c.fixed_frame_size < kMinFixedFrame || c.fixed_frame_size > kMaxFixedFrame)) {
    return fmt::format("--fixed-frame-size must be {}-{}", kMinFixedFrame, kMaxFixedFrame);
  }
  // pcap keeps seconds in 32 bits; leave ten years of room for the capture.
  if (c.start_time > UINT32_MAX - 10ull * 365 * 86400) return "--start-time is too late for pcap";
  const uint64_t capacity = flow_capacity(make_flow_params(c));
  if (c.flows > capacity) {
    return fmt::format("--flows goes up to {} (distinct client address and port pairs)", capacity);
  }
  return {};
}

GenStats generate(const GenConfig& config, FrameSink& sink) {
  const FlowParams params = make_flow_params(config);
  GenStats stats;
  Rng scheduler(derive(config.seed, kTagScheduler));
  std::vector<FlowState> active;
  active.reserve(static_cast<size_t>(std::min(config.concurrency, config.flows)));
  auto frame = std::make_unique<uint8_t[]>(kMaxFrame);
  Message scratch;
  uint64_t next_flow = 0;
  uint64_t gap_us = 0;
  size_t cursor = 0;  // round-robin position

  auto admit = [&] {
    FlowState f = start_flow(params, next_flow++);
    ++stats.flows;
    ++stats.flows_by_protocol[static_cast<size_t>(f.protocol)];
    stats.ipv6_flows += f.ipv6 ? 1 : 0;
    stats.vlan_flows += f.vlan != 0 ? 1 : 0;
    if (f.packets > 0) active.push_back(f);
  };

  while (next_flow < config.flows || !active.empty()) {
    if (config.flow_gap_us != 0) {
      // Batches: the next one starts after the last flow of this one ended
      // and the gap passed, so every flow of a batch sees the gap as idle.
      if (active.empty()) {
        if (next_flow != 0) gap_us += config.flow_gap_us;
        while (active.size() < config.concurrency && next_flow < config.flows) admit();
      }
    } else {
      while (active.size() < config.concurrency && next_flow < config.flows) admit();
    }
    if (active.empty()) continue;

    size_t i = 0;
    if (config.interleave == Interleave::round_robin) {
      if (cursor >= active.size()) cursor = 0;
      i = cursor++;
    } else {
      i = static_cast<size_t>(scheduler.below(active.size()));
    }
    FlowState& f = active[i];
    const size_t len = next_frame(params, f, scratch, frame.get());
    sink.write(timestamp_us(config, stats.frames, gap_us), frame.get(), len);
    ++stats.frames;
    stats.bytes += len;
    ++stats.frames_by_protocol[static_cast<size_t>(f.protocol)];
    if (finished(f)) {
      // Swap-remove keeps removal O(1) with a million active flows. Under
      // round robin the moved flow takes the finished one's turn.
      active[i] = active.back();
      active.pop_back();
      if (config.interleave == Interleave::round_robin && i < active.size()) cursor = i;
    }
  }
  return stats;
}

}  // namespace loupe::gen
