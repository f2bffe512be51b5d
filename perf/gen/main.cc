// loupe-gen: writes deterministic, seeded pcap files of synthetic traffic for
// loupe's benchmarks and offline tests. See perf/gen/README.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "perf/gen/generator.h"
#include "perf/gen/pcap_writer.h"

namespace {

using loupe::gen::GenConfig;
using loupe::gen::GenStats;

void print_stats(const GenStats& s) {
  fmt::print(stderr, "loupe-gen: {} frames, {} flows, {} bytes ({} IPv6 flows, {} VLAN flows)\n",
             s.frames, s.flows, s.bytes, s.ipv6_flows, s.vlan_flows);
  for (size_t i = 0; i < loupe::gen::kProtocolCount; ++i) {
    fmt::print(stderr, "  {:<5} {:>10} flows {:>12} frames\n", loupe::gen::kProtocolNames[i],
               s.flows_by_protocol[i], s.frames_by_protocol[i]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loupe-gen: deterministic synthetic traffic as a pcap file"};
  GenConfig config;
  std::string output;
  std::string packets_per_flow;
  std::string mix = "http=30,tls=25,dns=20,quic=10,tcp=10,udp=5";
  std::string size = "64-1400";
  std::string interleave = "random";
  double flow_gap = 0;

  app.add_option("-o,--output", output, "pcap file to write")->required();
  app.add_option("--seed", config.seed, "PRNG seed; same options and seed, same bytes")
      ->capture_default_str();
  app.add_option("--flows", config.flows, "number of flows")->capture_default_str();
  app.add_option("--packets-per-flow", packets_per_flow,
                 "frames per flow, N or MIN-MAX drawn per flow (default: each protocol's own)");
  app.add_option("--concurrency", config.concurrency,
                 "flows active at once; flows start in order")
      ->capture_default_str();
  app.add_option("--interleave", interleave, "how active flows take turns")
      ->check(CLI::IsMember({"random", "round-robin"}))
      ->capture_default_str();
  app.add_option("--start-time", config.start_time, "epoch seconds of the first frame")
      ->capture_default_str();
  app.add_option("--pps", config.pps, "nominal frame rate that spaces the timestamps")
      ->capture_default_str();
  app.add_option("--flow-gap", flow_gap,
                 "seconds of idle between batches of --concurrency flows (0: no batches)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--mix", mix, "protocol weights: http, tls, dns, quic, tcp, udp")
      ->capture_default_str();
  app.add_option("--ipv6", config.ipv6_percent, "percent of flows over IPv6")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--vlan", config.vlan_percent, "percent of flows with an 802.1Q tag")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--size", size, "payload bytes of bulk data packets, MIN-MAX")
      ->capture_default_str();
  app.add_option("--fixed-frame-size", config.fixed_frame_size,
                 "every frame exactly N bytes (FCS excluded), unless its headers alone are "
                 "longer");
  app.add_flag("--established", config.established, "no TCP handshakes or closes: data only");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!packets_per_flow.empty()) {
      config.packets_per_flow = loupe::gen::parse_range(packets_per_flow);
    }
    config.mix = loupe::gen::parse_mix(mix);
    config.size = loupe::gen::parse_range(size);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "loupe-gen: {}\n", e.what());
    return 2;
  }
  config.interleave =
      interleave == "random" ? loupe::gen::Interleave::random : loupe::gen::Interleave::round_robin;
  config.flow_gap_us = static_cast<uint64_t>(std::llround(flow_gap * 1e6));
  if (std::string error = loupe::gen::validate(config); !error.empty()) {
    fmt::print(stderr, "loupe-gen: {}\n", error);
    return 2;
  }

  std::ofstream file(output, std::ios::binary | std::ios::trunc);
  if (!file) {
    fmt::print(stderr, "loupe-gen: cannot open {} for writing\n", output);
    return 1;
  }
  loupe::gen::PcapWriter writer(file);
  const GenStats stats = loupe::gen::generate(config, writer);
  if (!writer.flush() || !file.flush()) {
    fmt::print(stderr, "loupe-gen: writing {} failed\n", output);
    return 1;
  }
  print_stats(stats);
  return 0;
}
