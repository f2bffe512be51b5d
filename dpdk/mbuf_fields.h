// Per-packet fields loupe keeps in mbuf dynamic fields: the capture
// timestamp (DPDK's standard RX timestamp field) and the frame's length on
// the wire, which a pcap source knows (pcap `len`) even when fewer bytes were
// captured. Registered once at start on the control core; the offsets are
// handed to every worker by value.
#pragma once

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <cstdint>

namespace loupe {

struct MbufFields {
  int ts_offset = -1;
  uint64_t ts_flag = 0;
  int wire_len_offset = -1;

  // Registers the fields; throws std::runtime_error when DPDK refuses.
  static MbufFields register_all();

  uint64_t ts(const rte_mbuf* m) const {
    return *RTE_MBUF_DYNFIELD(m, ts_offset, const uint64_t*);
  }
  void set_ts(rte_mbuf* m, uint64_t ns) const {
    *RTE_MBUF_DYNFIELD(m, ts_offset, uint64_t*) = ns;
    m->ol_flags |= ts_flag;
  }
  uint32_t wire_len(const rte_mbuf* m) const {
    return *RTE_MBUF_DYNFIELD(m, wire_len_offset, const uint32_t*);
  }
  void set_wire_len(rte_mbuf* m, uint32_t len) const {
    *RTE_MBUF_DYNFIELD(m, wire_len_offset, uint32_t*) = len;
  }
};

}  // namespace loupe
