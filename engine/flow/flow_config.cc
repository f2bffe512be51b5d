// Schema of the flow: section (engine/flow/flow_config.h).
#include "engine/flow/flow_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<FlowTimeouts>& s) {
  s.field("tcp", &FlowTimeouts::tcp)
      .range(1, 86400)
      .help("Idle timeout of an established TCP flow, seconds.");
  s.field("tcp_new", &FlowTimeouts::tcp_new)
      .range(1, 86400)
      .help("Idle timeout of a TCP flow that never completed its handshake, seconds.");
  s.field("tcp_closed", &FlowTimeouts::tcp_closed)
      .range(0, 3600)
      .help("Linger after FIN both ways or RST before the flow ends as tcp_fin/tcp_rst, seconds.");
  s.field("udp", &FlowTimeouts::udp).range(1, 86400).help("Idle timeout of a UDP flow, seconds.");
  s.field("icmp", &FlowTimeouts::icmp)
      .range(1, 86400)
      .help("Idle timeout of an ICMP/ICMPv6 flow, seconds.");
  s.field("other", &FlowTimeouts::other)
      .range(1, 86400)
      .help("Idle timeout of a flow of any other IP protocol, seconds.");
  s.field("active", &FlowTimeouts::active)
      .range(1, 604800)
      .help("A flow older than this emits an interim record and goes on, seconds.");
}

void describe(config::Section<FlowConfig>& s) {
  s.field("capacity", &FlowConfig::capacity)
      .range(1024, 1u << 26)
      .help(
          "Flows per worker, preallocated at start; a full table evicts an approximately least "
          "recently used flow.");
  s.section("timeouts", &FlowConfig::timeouts)
      .help(
          "When a flow ends for lack of packets (idle timeouts, per L4 protocol) and when a "
          "long one reports (active timeout).");
  s.field("fragments", &FlowConfig::fragments)
      .range(64, 1u << 20)
      .help(
          "Entries of each worker's IP fragment tracker (first fragments whose ports later "
          "fragments borrow).");
  s.field("fragment_timeout", &FlowConfig::fragment_timeout)
      .range(1, 300)
      .help("Seconds a first fragment's ports are kept for the fragments that follow.");
}

}  // namespace loupe
